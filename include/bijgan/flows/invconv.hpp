// The invertible 1x1 convolution of Glow in LU form (method.md §3): W = P·L·(U + diag(sign·
// exp(log_s))) with P a fixed permutation, L unit lower triangular, U strictly upper triangular;
// y = W x at every pixel, log-det = H·W·Σ log_s. Initialised from a random rotation, so a new
// layer mixes channels but preserves volume.
#pragma once

#include <cmath>
#include <vector>

#include "bijgan/config/instances.hpp"
#include "bijgan/flows/bijection.hpp"
#include "bijgan/linalg/inverse.hpp"
#include "bijgan/nn/init.hpp"
#include "bijgan/nn/module.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/conv.hpp"

BIJGAN_THIRD_PARTY_BEGIN
#include <Eigen/LU>
#include <Eigen/QR>
BIJGAN_THIRD_PARTY_END

namespace bijgan::flows {

template <class T = float, class B = host>
struct invertible_conv1x1 {
  using value_type = T;
  using backend_type = B;
  var<T, B> lower;           ///< (C, C); only the strictly lower part is used
  var<T, B> upper;           ///< (C, C); only the strictly upper part is used
  var<T, B> log_s;           ///< (C): log |diagonal of U|
  tensor<T, B> permutation;  ///< (C, C) buffer
  tensor<T, B> sign_s;       ///< (C) buffer: ±1

  explicit invertible_conv1x1(index_t channels, rng& g = nn::default_rng()) : masks_(checked(channels)) {
    using mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const auto r = tensor<double, host>::random(shape{channels, channels}, g, {distribution::normal, 0, 1}).to_vector();
    const mat a = Eigen::Map<const mat>(r.data(), channels, channels);
    const mat q = Eigen::HouseholderQR<mat>(a).householderQ();  // a random rotation
    const Eigen::PartialPivLU<mat> lu(q);                       // q = Pᵀ L U  (Eigen: P q = L U)
    const mat p = lu.permutationP().transpose().toDenseMatrix().cast<double>();
    const mat& lu_m = lu.matrixLU();
    const auto n = static_cast<std::size_t>(channels);
    std::vector<T> pv(n * n), lv(n * n, T(0)), uv(n * n, T(0)), sv(n), lsv(n);
    for (index_t i = 0; i < channels; ++i)
      for (index_t j = 0; j < channels; ++j) {
        const auto k = static_cast<std::size_t>(i * channels + j);
        pv[k] = static_cast<T>(p(i, j));
        if (j < i) lv[k] = static_cast<T>(lu_m(i, j));
        if (j > i) uv[k] = static_cast<T>(lu_m(i, j));
      }
    for (index_t i = 0; i < channels; ++i) {
      const double d = lu_m(i, i);
      sv[static_cast<std::size_t>(i)] = d < 0 ? T(-1) : T(1);
      lsv[static_cast<std::size_t>(i)] = static_cast<T>(std::log(std::abs(d)));
    }
    lower = parameter(tensor<T, B>::from(lv, shape{channels, channels}));
    upper = parameter(tensor<T, B>::from(uv, shape{channels, channels}));
    log_s = parameter(tensor<T, B>::from(lsv, shape{channels}));
    permutation = tensor<T, B>::from(pv, shape{channels, channels});
    sign_s = tensor<T, B>::from(sv, shape{channels});
  }

  [[nodiscard]] index_t channels() const { return log_s.size(0); }

  /// W = P·(L ⊙ strict_lower + I)·(U ⊙ strict_upper + diag(sign·exp(log_s))), differentiable.
  [[nodiscard]] var<T, B> weight() const {
    const auto eye = constant(masks_.eye);
    const auto l = lower * constant(masks_.lower) + eye;
    const auto u = upper * constant(masks_.upper) + eye * reshape(constant(sign_s) * exp(log_s), shape{1, channels()});
    return matmul(constant(permutation), matmul(l, u));
  }

  flow_result<T, B> forward(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    check(x.shape(), "forward");
    const T pixels = static_cast<T>(x.size(2) * x.size(3));
    return {conv2d(x, reshape(weight(), shape{channels(), channels(), 1, 1})),
            detail::same_logdet(sum(log_s) * pixels, x.size(0))};
  }
  var<T, B> inverse(const var<T, B>& y) const {
    const nn::module_scope scope_(this);
    check(y.shape(), "inverse");
    return conv2d(y, reshape(linalg::inverse(weight()), shape{channels(), channels(), 1, 1}));
  }

  /// This step on backend To with the same structure, for nn::to (which then copies the values).
  template <class To>
  invertible_conv1x1<T, To> rebuild() const {
    rng scratch(0);
    return invertible_conv1x1<T, To>(log_s.size(0), scratch);
  }

  template <class F>
  void visit(F&& f) {
    f("lower", lower);
    f("upper", upper);
    f("log_s", log_s);
    f("permutation", permutation);
    f("sign_s", sign_s);
  }

 private:
  /// The constant masks of weight(): strictly lower, strictly upper, identity (built once).
  struct triangle_masks {
    tensor<T, B> lower, upper, eye;
    explicit triangle_masks(index_t c) {
      const auto n = static_cast<std::size_t>(c);
      std::vector<T> lm(n * n, T(0)), um(n * n, T(0)), id(n * n, T(0));
      for (index_t i = 0; i < c; ++i)
        for (index_t j = 0; j < c; ++j) {
          const auto k = static_cast<std::size_t>(i * c + j);
          lm[k] = j < i ? T(1) : T(0);
          um[k] = j > i ? T(1) : T(0);
          id[k] = i == j ? T(1) : T(0);
        }
      lower = tensor<T, B>::from(lm, shape{c, c});
      upper = tensor<T, B>::from(um, shape{c, c});
      eye = tensor<T, B>::from(id, shape{c, c});
    }
  };
  triangle_masks masks_;

  static index_t checked(index_t channels) {
    if (channels < 1) fail<shape_error>("flows::invertible_conv1x1", "channel count ", channels, " must be >= 1");
    return channels;
  }

  void check(const shape& s, const char* dir) const {
    if (s.rank() != 4 || s[1] != channels())
      fail<shape_error>("flows::invertible_conv1x1", dir, " input ", s, " must be (N, ", channels(), ", H, W)");
  }
};

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_INVCONV_INSTANCES(X, T, B) X struct invertible_conv1x1<T, B>;
BIJGAN_EXTERN_INSTANCES(BIJGAN_INVCONV_INSTANCES)

}  // namespace bijgan::flows
