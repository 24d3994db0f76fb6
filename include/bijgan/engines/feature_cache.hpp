// Blackbox queries computed once: an engine's descriptors of a list of images, cached as an NPY
// file whose name the caller keys to everything that determines them (the weights' checksum,
// the crop, the image list), so that a later run reads them instead of querying again.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "bijgan/concepts/engine.hpp"
#include "bijgan/io/npy.hpp"
#include "bijgan/io/progress.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan::engines {

/// Descriptors (n, D) of n images that `images(begin, end)` yields in batches as (end − begin,
/// C, H, W) host tensors, computed `batch` images at a time (progress bar on log when given).
/// shape_error when a batch has the wrong number of images.
template <class E, class Images>
tensor<float, host> features_in_batches(const E& engine, index_t n, Images&& images, std::ostream* log = nullptr,
                                        index_t batch = 32, const std::string& label = "engine features") {
  if (n <= 0 || batch <= 0)
    fail<value_error>("engines::features_in_batches", "n ", n, " and batch ", batch, " must be positive");
  std::ostringstream quiet;
  io::progress_bar bar((n + batch - 1) / batch, label, batch, log ? *log : quiet);
  std::vector<tensor<float, host>> parts;
  for (index_t s = 0; s < n; s += batch) {
    const index_t e = std::min(n, s + batch);
    const tensor<float, host> x = images(s, e);
    if (x.rank() != 4 || x.size(0) != e - s)
      fail<shape_error>("engines::features_in_batches", "images(", s, ", ", e, ") returned ", x.shape(), ", expected (",
                        e - s, ", C, H, W)");
    parts.push_back(engine.features(x));
    bar.update(e / batch + (e % batch != 0), {});
  }
  if (log) *log << "\n";
  return concat(std::span<const tensor<float, host>>(parts), 0);
}

/// features_in_batches, read from `cache` when it holds an (n, ·) array; otherwise computed and
/// written to `cache` atomically (its folder is created). A cache of the wrong row count is
/// recomputed and replaced; an unreadable one is an io_error naming the file, and one holding
/// NaN or infinite values a value_error naming the file and the row (an engine's descriptors
/// are finite: such a file is corrupt, and the fix is to delete it).
template <class E, class Images>
tensor<float, host> cached_features(const E& engine, index_t n, Images&& images, const std::filesystem::path& cache,
                                    std::ostream* log = nullptr, index_t batch = 32,
                                    const std::string& label = "engine features") {
  std::error_code ec;
  if (std::filesystem::exists(cache, ec)) {
    auto t = io::read_npy(cache);
    if (t.rank() == 2 && t.size(0) == n) {
      const float* p = t.data();
      for (index_t i = 0; i < t.numel(); ++i)
        if (!std::isfinite(p[i]))
          fail<value_error>("engines::cached_features", cache, " holds ", p[i], " in row ",
                            i / std::max<index_t>(t.size(1), 1), ": a corrupt cache (delete it to recompute)");
      if (log) *log << label << ": read " << t.shape() << " from " << cache.string() << "\n";
      return t;
    }
    if (log)
      *log << label << ": " << cache.string() << " holds " << t.shape() << ", not " << n << " rows; recomputing\n";
  }
  auto all = features_in_batches(engine, n, std::forward<Images>(images), log, batch, label);
  if (cache.has_parent_path()) {
    std::filesystem::create_directories(cache.parent_path(), ec);
    if (ec) fail<io_error>("engines::cached_features", "cannot create ", cache.parent_path(), ": ", ec.message());
  }
  io::write_npy(cache, all);
  return all;
}

}  // namespace bijgan::engines
