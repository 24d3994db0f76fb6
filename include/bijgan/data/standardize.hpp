// A fixed affine map of engine features, fitted once on the training features: f ↦ (f − μ) / s.
// Real engines' descriptors share a large common direction (dlib's: the mean cosine between
// different people is ≈ 0.84), so a cosine against raw descriptors is close to 1 for every
// pair, and a student fitted to them by Eq. 14 can score cos ≈ 0.9 by answering the mean.
// Centred descriptors put that common part aside: the student's cosine and the generator's
// condition then carry identity. The map is invertible and fixed, so it changes no
// information the blackbox gives; keep it with the generator (save/load) — a reconstruction
// must be conditioned on standardised features.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

#include "bijgan/io/safetensors.hpp"
#include "bijgan/tensor/tensor.hpp"

namespace bijgan::data {

struct standardize_options {
  /// false: one scale for every dimension, so Euclidean geometry is kept up to a factor
  /// (the mean squared norm of standardised rows is D); true: a z-score per dimension.
  bool per_dimension = false;
  double eps = 1e-8;
};

/// (f − mean) / scale, row by row, for features (N, D). Fit with fit(); apply with operator().
struct feature_standardizer {
  tensor<float, host> mean;   ///< (D)
  tensor<float, host> scale;  ///< (D), positive

  /// Mean and scale of features (N, D), N >= 2. value_error on fewer rows or a zero spread.
  static feature_standardizer fit(const tensor<float, host>& features, const standardize_options& o = {}) {
    const char* op = "data::feature_standardizer::fit";
    if (features.rank() != 2 || features.size(0) < 2)
      fail<shape_error>(op, "features ", features.shape(), " must be (N, D) with N >= 2");
    const index_t n = features.size(0), d = features.size(1);
    const auto v = features.to_vector();
    std::vector<double> mu(static_cast<std::size_t>(d)), var(static_cast<std::size_t>(d));
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < d; ++j) mu[static_cast<std::size_t>(j)] += v[static_cast<std::size_t>(i * d + j)];
    for (auto& m : mu) m /= double(n);
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < d; ++j) {
        const double c = v[static_cast<std::size_t>(i * d + j)] - mu[static_cast<std::size_t>(j)];
        var[static_cast<std::size_t>(j)] += c * c;
      }
    double total = 0;
    for (auto& s : var) total += (s /= double(n - 1));
    std::vector<float> m(mu.begin(), mu.end()), s(static_cast<std::size_t>(d));
    for (std::size_t j = 0; j < s.size(); ++j) {
      const double spread = std::sqrt(o.per_dimension ? var[j] : total / double(d));
      if (!(spread > o.eps))
        fail<value_error>(op, "dimension ", j, " of ", features.shape(), " has no spread (std ", spread, ")");
      s[j] = static_cast<float>(spread);
    }
    return {tensor<float, host>::from(m, shape{d}), tensor<float, host>::from(s, shape{d})};
  }

  /// (f − mean) / scale for features (N, D); shape_error naming both shapes on a width mismatch.
  [[nodiscard]] tensor<float, host> operator()(const tensor<float, host>& f) const { return apply(f, false); }
  /// The inverse map: standardised features back to the engine's.
  [[nodiscard]] tensor<float, host> inverse(const tensor<float, host>& z) const { return apply(z, true); }

  void save(const std::filesystem::path& path) const {
    io::state_dict sd;
    sd.put("mean", mean);
    sd.put("scale", scale);
    sd.metadata["kind"] = "bijgan.feature_standardizer";
    io::save_safetensors(path, sd);
  }
  static feature_standardizer load(const std::filesystem::path& path) {
    const auto sd = io::load_safetensors(path);
    feature_standardizer r{sd.get("mean"), sd.get("scale")};
    if (r.mean.rank() != 1 || r.scale.shape() != r.mean.shape())
      fail<io_error>("data::feature_standardizer::load", path, " holds mean ", r.mean.shape(), " and scale ",
                     r.scale.shape(), ", expected two (D) tensors");
    const auto mu = r.mean.to_vector(), sc = r.scale.to_vector();
    for (std::size_t j = 0; j < mu.size(); ++j)
      if (!std::isfinite(mu[j]) || !(std::isfinite(sc[j]) && sc[j] > 0))
        fail<io_error>("data::feature_standardizer::load", path, ": dimension ", j, " has mean ", mu[j], " and scale ",
                       sc[j], ", expected a finite mean and a finite scale > 0");
    return r;
  }

 private:
  [[nodiscard]] tensor<float, host> apply(const tensor<float, host>& f, bool back) const {
    const index_t d = mean.numel();
    if (f.rank() != 2 || f.size(1) != d)
      fail<shape_error>("data::feature_standardizer", "features ", f.shape(), " must be (N, ", d, ")");
    auto v = f.to_vector();
    const auto mu = mean.to_vector(), s = scale.to_vector();
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::size_t j = i % static_cast<std::size_t>(d);
      v[i] = back ? v[i] * s[j] + mu[j] : (v[i] - mu[j]) / s[j];
    }
    return tensor<float, host>::from(v, f.shape());
  }
};

}  // namespace bijgan::data
