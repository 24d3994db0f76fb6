// nn::linear: y = x W^T + b over the last axis, with PyTorch's default initialisation or the
// equalised learning rate of ProGAN/StyleGAN (weights drawn from N(0, 1) and scaled at run time
// by gain / sqrt(fan_in), so Adam's per-parameter step sizes are comparable across layers).
#pragma once

#include <cmath>
#include <tuple>

#include "bijgan/config/instances.hpp"
#include "bijgan/nn/init.hpp"
#include "bijgan/nn/module.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/linalg.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan::nn {

/// Equalised learning rate (Karras et al.): stored weights ~ N(0, 1/lr_multiplier), used as
/// w * gain * lr_multiplier / sqrt(fan_in); biases used as b * lr_multiplier.
struct equalized_lr {
  bool on = false;
  double gain = 1.4142135623730951;  ///< sqrt(2), for a following (leaky) ReLU
  double lr_multiplier = 1;          ///< 0.01 in StyleGAN's mapping network
};

namespace detail {
/// Runtime weight and bias multipliers of a layer with fan_in inputs.
inline std::pair<double, double> runtime_scales(const equalized_lr& e, index_t fan_in) {
  if (!e.on) return {1.0, 1.0};
  return {e.gain * e.lr_multiplier / std::sqrt(static_cast<double>(fan_in)), e.lr_multiplier};
}
/// The weight and bias a layer stores: equalised (N(0, 1/lr_mul), zeros) or PyTorch's
/// defaults (kaiming_uniform(a = sqrt 5), U(+-1/sqrt(fan_in))).
template <class T, class B>
std::pair<var<T, B>, var<T, B>> make_weights(const shape& ws, index_t bias_size, bool bias, const equalized_lr& e,
                                             rng& g) {
  const index_t fan_in = init::fans_of(ws).in;
  if (e.on) {
    auto w = parameter(init::normal<T, B>(ws, 0, 1 / e.lr_multiplier, g));
    return {w, bias ? parameter(init::zeros<T, B>(shape{bias_size})) : var<T, B>()};
  }
  auto w = parameter(init::kaiming_uniform<T, B>(ws, g, std::sqrt(5.0)));
  const double bound = 1 / std::sqrt(static_cast<double>(fan_in));
  return {w, bias ? parameter(init::uniform<T, B>(shape{bias_size}, -bound, bound, g)) : var<T, B>()};
}
template <class T, class B>
var<T, B> scaled(const var<T, B>& v, double s) {
  return s == 1.0 ? v : v * static_cast<T>(s);
}
}  // namespace detail

struct linear_options {
  index_t in = 0;
  index_t out = 0;
  bool bias = true;
  nn::equalized_lr equalized{};
};

/// x (..., in) -> (..., out). weight (out, in), bias (out).
template <class T = float, class B = host>
struct linear {
  using value_type = T;
  using backend_type = B;
  linear_options options;
  var<T, B> weight, bias;

  explicit linear(const linear_options& o, rng& g = default_rng()) : options(o) {
    if (o.in < 1 || o.out < 1) fail<value_error>("nn::linear", "in = ", o.in, " and out = ", o.out, " must be >= 1");
    std::tie(weight, bias) = detail::make_weights<T, B>(shape{o.out, o.in}, o.out, o.bias, o.equalized, g);
  }

  var<T, B> operator()(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    if (x.rank() < 1 || x.size(-1) != options.in)
      fail<shape_error>("nn::linear", "input ", x.shape(), " must end in ", options.in, " features");
    const auto [ws, bs] = detail::runtime_scales(options.equalized, options.in);
    shape out_shape = x.shape();
    out_shape[out_shape.rank() - 1] = options.out;
    // Leading axes folded into one, so the weight gradient is one GEMM, not a batch of them.
    const auto rows = x.rank() == 2 ? x : reshape(x, shape{x.numel() / options.in, options.in});
    auto y = matmul(rows, detail::scaled(weight, ws), false, true);
    if (bias.defined()) y = y + detail::scaled(bias, bs);
    return reshape(y, out_shape);
  }

  template <class F>
  void visit(F&& f) {
    f("weight", weight);
    f("bias", bias);
  }
};
linear(const linear_options&)->linear<float, host>;

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_LINEAR_INSTANCES(X, T, B) X struct linear<T, B>;
BIJGAN_EXTERN_INSTANCES(BIJGAN_LINEAR_INSTANCES)

}  // namespace bijgan::nn
