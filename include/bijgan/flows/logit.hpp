// Pre-processing of discrete images for a flow (method.md §3): dequantise y = (x·255 + u)/256
// with u ~ U[0, 1) (turns 8-bit pixels into a density on [0, 1)), then the bijection
// z = logit(α + (1 − 2α)·y) with its log-det, which moves [0, 1) to the real line.
// bits/dim = (NLL + D·ln 256)/(D·ln 2), with NLL including this log-det.
#pragma once

#include <cmath>

#include "bijgan/config/instances.hpp"
#include "bijgan/flows/bijection.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/elementwise.hpp"
#include "bijgan/ops/reduce.hpp"
#include "bijgan/tensor/tensor.hpp"

namespace bijgan::flows {

/// y = (x·255 + u)/256, u ~ U[0, 1): x holds 8-bit levels as k/255 in [0, 1]. Not a bijection
/// (it adds noise); apply it to training batches before logit_transform.
template <class T, class B>
tensor<T, B> dequantize(const tensor<T, B>& x, rng& g) {
  const auto u = tensor<T, B>::random(x.shape(), g, {distribution::uniform, 0, 1});
  return apply(fn::mul_scalar<T>{T(1) / T(256)}, apply(fn::add{}, apply(fn::mul_scalar<T>{T(255)}, x), u));
}

/// z = logit(α + (1 − 2α)·y) for y in [0, 1]; log-det per sample = Σ [log(1 − 2α) − log p −
/// log(1 − p)] with p = α + (1 − 2α)·y. Inverse: y = (sigmoid(z) − α)/(1 − 2α).
template <class T = float, class B = host>
struct logit_transform {
  using value_type = T;
  using backend_type = B;
  T alpha = T(0.05);

  /// This transform on backend To (nn::to).
  template <class To>
  logit_transform<T, To> rebuild() const {
    logit_transform<T, To> r;
    r.alpha = alpha;
    return r;
  }

  flow_result<T, B> forward(const var<T, B>& y) const {
    const nn::module_scope scope_(this);
    check(y, "forward");
    const auto p = y * (T(1) - T(2) * alpha) + alpha;
    const auto lp = log(p), lq = log(T(1) - p);
    axes_t axes;
    for (std::size_t i = 1; i < y.rank(); ++i) axes.push_back(static_cast<index_t>(i));
    const T per = static_cast<T>(std::log(1 - 2 * double(alpha)) * double(y.numel() / y.size(0)));
    return {lp - lq, sum(-(lp + lq), axes) + per};
  }
  var<T, B> inverse(const var<T, B>& z) const {
    const nn::module_scope scope_(this);
    check(z, "inverse");
    return (sigmoid(z) - alpha) * (T(1) / (T(1) - T(2) * alpha));
  }

 private:
  void check(const var<T, B>& v, const char* dir) const {
    if (!(alpha > T(0) && alpha < T(0.5)))
      fail<value_error>("flows::logit_transform", "alpha ", alpha, " must be in (0, 0.5)");
    if (v.rank() < 2) fail<shape_error>("flows::logit_transform", dir, " input ", v.shape(), " must be (N, ...)");
  }
};

/// Bits per dimension of a mean NLL (nats, in the dequantised [0, 1) space) over `dims` values
/// per sample: (NLL + D·ln 256)/(D·ln 2).
inline double bits_per_dim(double nll, index_t dims) {
  const double d = static_cast<double>(dims);
  return (nll + d * std::log(256.0)) / (d * std::log(2.0));
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_LOGIT_INSTANCES(X, T, B) X struct logit_transform<T, B>;
BIJGAN_EXTERN_INSTANCES(BIJGAN_LOGIT_INSTANCES)

}  // namespace bijgan::flows
