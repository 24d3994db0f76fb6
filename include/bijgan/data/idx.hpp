// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed: big-endian header
// (magic 0x0000 <type> <rank>, then rank 32-bit extents), then the raw unsigned bytes.
#pragma once

#include <zlib.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bijgan/config/errors.hpp"
#include "bijgan/tensor/tensor.hpp"

namespace bijgan::data {

/// The contents of one unsigned-byte IDX file.
struct idx_array {
  shape dims;
  std::vector<std::uint8_t> values;
};

/// Reads an IDX file of unsigned bytes (type 0x08), gzip-compressed or not. Throws io_error
/// naming the file for a missing file, a wrong magic number, a type other than ubyte, or a
/// payload shorter or longer than the header says.
inline idx_array read_idx(const std::filesystem::path& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) fail<io_error>("read_idx", "cannot open ", path);
  struct closer {
    gzFile f;
    ~closer() { gzclose(f); }
  } guard{f};
  auto read_exact = [&](void* dst, std::size_t n, const char* what) {
    auto* p = static_cast<unsigned char*>(dst);
    while (n > 0) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n, 1u << 30));
      const int got = gzread(f, p, chunk);
      if (got <= 0) {
        int err = 0;
        const char* msg = gzerror(f, &err);
        fail<io_error>("read_idx", path, ": truncated or corrupt while reading ", what,
                       err != Z_OK && err != Z_STREAM_END && msg ? std::string(" (") + msg + ")" : std::string());
      }
      p += got;
      n -= static_cast<std::size_t>(got);
    }
  };
  std::array<unsigned char, 4> magic{};
  read_exact(magic.data(), 4, "the magic number");
  if (magic[0] != 0 || magic[1] != 0)
    fail<io_error>("read_idx", path, ": not an IDX file (magic bytes ", int(magic[0]), ", ", int(magic[1]), ")");
  if (magic[2] != 0x08) fail<io_error>("read_idx", path, ": element type 0x", std::hex, int(magic[2]), " is not ubyte (0x08)");
  const int rank = magic[3];
  if (rank < 1 || rank > static_cast<int>(shape::max_rank)) fail<io_error>("read_idx", path, ": rank ", rank, " unsupported");
  idx_array out;
  std::size_t total = 1;
  for (int i = 0; i < rank; ++i) {
    std::array<unsigned char, 4> b{};
    read_exact(b.data(), 4, "the extents");
    const std::uint32_t d = (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) | b[3];
    if (d > (1u << 28)) fail<io_error>("read_idx", path, ": implausible extent ", d);
    out.dims.push_back(static_cast<index_t>(d));
    total *= d;
  }
  out.values.resize(total);
  read_exact(out.values.data(), total, "the data");
  unsigned char extra;
  if (gzread(f, &extra, 1) > 0) fail<io_error>("read_idx", path, ": more data than the header's ", out.dims, " promises");
  return out;
}

/// Images of an IDX file as floats in [0, 1], shape [N, 1, H, W].
template <class T = float>
tensor<T, host> load_idx_images(const std::filesystem::path& path) {
  const auto a = read_idx(path);
  if (a.dims.rank() != 3) fail<io_error>("load_idx_images", path, ": expected [N, H, W], header says ", a.dims);
  tensor<T, host> t({a.dims[0], 1, a.dims[1], a.dims[2]});
  T* p = t.data();
  for (std::size_t i = 0; i < a.values.size(); ++i) p[i] = static_cast<T>(a.values[i]) / T(255);
  return t;
}

/// Labels of an IDX file (rank 1).
inline std::vector<int> load_idx_labels(const std::filesystem::path& path) {
  const auto a = read_idx(path);
  if (a.dims.rank() != 1) fail<io_error>("load_idx_labels", path, ": expected [N], header says ", a.dims);
  return {a.values.begin(), a.values.end()};
}

}  // namespace bijgan::data
