// Normalisation modules: batch_norm (running statistics, train/eval), layer_norm,
// instance_norm, pixel_norm (ProGAN) and adain (StyleGAN's adaptive instance norm: a style
// vector gives each channel a scale and a bias).
#pragma once

#include <tuple>
#include <utility>

#include "bijgan/config/instances.hpp"
#include "bijgan/nn/linear.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/reduce.hpp"

namespace bijgan::nn {

namespace detail {
/// (x - mean) / sqrt(var + eps) over axes (population variance, as every framework normalises).
template <class T, class B>
var<T, B> standardize(const var<T, B>& x, const axes_t& axes, T eps) {
  const auto centred = x - mean(x, axes, true);
  return centred * rsqrt(mean(square(centred), axes, true) + eps);
}
/// Overwrites the storage of dst (shared with the module) with src's values.
template <class T, class B>
void assign(const tensor<T, B>& dst, const tensor<T, B>& src) {
  B::copy_strided(shape{src.numel()}, strided_in<T>{src.data(), {1}}, dst.data(), {1});
}
/// The learned scale (ones) and shift (zeros) of a normalisation over n features, or two
/// undefined vars when the layer has none.
template <class T, class B>
std::pair<var<T, B>, var<T, B>> affine_parameters(index_t n, bool affine, const char* op) {
  if (n < 1) fail<value_error>(op, "feature count ", n, " must be >= 1");
  if (!affine) return {};
  return {parameter(tensor<T, B>::ones(shape{n})), parameter(tensor<T, B>::zeros(shape{n}))};
}
/// Shape (1, C, 1, ...) that broadcasts a per-channel vector over x (N, C, ...).
inline shape channel_shape(const shape& x, index_t c) {
  shape s;
  for (std::size_t i = 0; i < x.rank(); ++i) s.push_back(i == 1 ? c : 1);
  return s;
}
}  // namespace detail

struct batch_norm_options {
  index_t channels = 0;
  double eps = 1e-5;
  double momentum = 0.1;  ///< running = (1 - momentum) * running + momentum * batch statistic
  bool affine = true;
};

/// Batch normalisation over (N, C) or (N, C, H, W): batch statistics while training (the
/// running mean and unbiased variance are updated), running statistics in eval mode.
template <class T = float, class B = host>
struct batch_norm {
  using value_type = T;
  using backend_type = B;
  batch_norm_options options;
  var<T, B> weight, bias;
  tensor<T, B> running_mean, running_var;
  train_flag training;

  explicit batch_norm(const batch_norm_options& o, rng& = default_rng()) : options(o) {
    std::tie(weight, bias) = detail::affine_parameters<T, B>(o.channels, o.affine, "nn::batch_norm");
    running_mean = tensor<T, B>::zeros(shape{o.channels});
    running_var = tensor<T, B>::ones(shape{o.channels});
  }

  var<T, B> operator()(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    const index_t c = options.channels;
    if ((x.rank() != 2 && x.rank() != 4) || x.size(1) != c)
      fail<shape_error>("nn::batch_norm", "input ", x.shape(), " must be (N, ", c, ") or (N, ", c, ", H, W)");
    const axes_t axes = x.rank() == 2 ? axes_t{0} : axes_t{0, 2, 3};
    const shape cs = detail::channel_shape(x.shape(), c);
    var<T, B> y;
    if (training.on) {
      const index_t n = x.numel() / c;
      if (n < 2)
        fail<shape_error>("nn::batch_norm", "training needs more than one value per channel, input ", x.shape());
      y = detail::standardize(x, axes, static_cast<T>(options.eps));
      // Running statistics: plain tensor arithmetic, outside the graph.
      const auto bm = reduce(reduce_kind::sum, x.value(), axes, false);
      const auto mu = apply(fn::mul_scalar<T>{T(1) / static_cast<T>(n)}, bm);
      const auto centred = apply(fn::sub{}, x.value(), mu.reshape(cs));
      const auto bv = apply(fn::mul_scalar<T>{T(1) / static_cast<T>(n - 1)},
                            reduce(reduce_kind::sum, apply(fn::square{}, centred), axes, false));
      const T m = static_cast<T>(options.momentum);
      detail::assign(running_mean, apply(fn::lerp<T>{m}, running_mean, mu));
      detail::assign(running_var, apply(fn::lerp<T>{m}, running_var, bv));
    } else {
      const auto rm = constant(running_mean.reshape(cs));
      const auto rs =
          constant(apply(fn::rsqrt{}, apply(fn::add_scalar<T>{static_cast<T>(options.eps)}, running_var)).reshape(cs));
      y = (x - rm) * rs;
    }
    if (!options.affine) return y;
    return y * reshape(weight, cs) + reshape(bias, cs);
  }

  template <class F>
  void visit(F&& f) {
    f("weight", weight);
    f("bias", bias);
    f("running_mean", running_mean);
    f("running_var", running_var);
    f("training", training);
  }
};
batch_norm(const batch_norm_options&)->batch_norm<float, host>;

struct layer_norm_options {
  index_t features = 0;  ///< size of the last axis, which is normalised
  double eps = 1e-5;
  bool affine = true;
};

/// Normalises over the last axis (transformer tokens (..., D)); per-feature scale and bias.
template <class T = float, class B = host>
struct layer_norm {
  using value_type = T;
  using backend_type = B;
  layer_norm_options options;
  var<T, B> weight, bias;

  explicit layer_norm(const layer_norm_options& o, rng& = default_rng()) : options(o) {
    std::tie(weight, bias) = detail::affine_parameters<T, B>(o.features, o.affine, "nn::layer_norm");
  }
  var<T, B> operator()(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    if (x.rank() < 1 || x.size(-1) != options.features)
      fail<shape_error>("nn::layer_norm", "input ", x.shape(), " must end in ", options.features, " features");
    const auto y = detail::standardize(x, {-1}, static_cast<T>(options.eps));
    return options.affine ? y * weight + bias : y;
  }
  template <class F>
  void visit(F&& f) {
    f("weight", weight);
    f("bias", bias);
  }
};
layer_norm(const layer_norm_options&)->layer_norm<float, host>;

struct instance_norm_options {
  index_t channels = 0;
  double eps = 1e-5;
  bool affine = false;
};

/// Normalises each (sample, channel) plane of (N, C, H, W) over its pixels.
template <class T = float, class B = host>
struct instance_norm {
  using value_type = T;
  using backend_type = B;
  instance_norm_options options;
  var<T, B> weight, bias;

  explicit instance_norm(const instance_norm_options& o, rng& = default_rng()) : options(o) {
    std::tie(weight, bias) = detail::affine_parameters<T, B>(o.channels, o.affine, "nn::instance_norm");
  }
  var<T, B> operator()(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    if (x.rank() != 4 || x.size(1) != options.channels)
      fail<shape_error>("nn::instance_norm", "input ", x.shape(), " must be (N, ", options.channels, ", H, W)");
    const auto y = detail::standardize(x, {2, 3}, static_cast<T>(options.eps));
    if (!options.affine) return y;
    const shape cs = detail::channel_shape(x.shape(), options.channels);
    return y * reshape(weight, cs) + reshape(bias, cs);
  }
  template <class F>
  void visit(F&& f) {
    f("weight", weight);
    f("bias", bias);
  }
};
instance_norm(const instance_norm_options&)->instance_norm<float, host>;

/// ProGAN's pixel-wise feature normalisation: x / sqrt(mean over channels of x^2 + eps), for
/// (N, C, ...) inputs (also the latent normalisation of StyleGAN's mapping network on (N, D)).
template <class T, class B>
var<T, B> pixel_norm(const var<T, B>& x, T eps = T(1e-8)) {
  if (x.rank() < 2) fail<shape_error>("pixel_norm", "input ", x.shape(), " needs a channel axis 1");
  return x * rsqrt(mean(square(x), {1}, true) + eps);
}

struct adain_options {
  index_t channels = 0;   ///< channels of the feature map
  index_t style_dim = 0;  ///< size of the style vector w
  double eps = 1e-5;
  nn::equalized_lr equalized{.on = true, .gain = 1, .lr_multiplier = 1};
};

/// StyleGAN's adaptive instance normalisation: (1 + s) * instance_norm(x) + b per channel, with
/// [s; b] = A(w) a learned affine map of the style w (bias-initialised so a new layer starts as
/// plain instance normalisation).
template <class T = float, class B = host>
struct adain {
  using value_type = T;
  using backend_type = B;
  adain_options options;
  linear<T, B> style;

  explicit adain(const adain_options& o, rng& g = default_rng())
      : options(o), style({.in = o.style_dim, .out = 2 * o.channels, .bias = true, .equalized = o.equalized}, g) {}

  /// x (N, C, H, W), w (N, style_dim) -> (N, C, H, W).
  var<T, B> operator()(const var<T, B>& x, const var<T, B>& w) const {
    const nn::module_scope scope_(this);
    const index_t c = options.channels;
    if (x.rank() != 4 || x.size(1) != c || w.rank() != 2 || w.size(0) != x.size(0))
      fail<shape_error>("nn::adain", "features ", x.shape(), " and style ", w.shape(), " must be (N, ", c,
                        ", H, W) and (N, ", options.style_dim, ")");
    const auto sb = reshape(style(w), shape{x.size(0), 2, c, 1, 1});
    const auto s = reshape(slice(sb, 1, 0, 1), shape{x.size(0), c, 1, 1});
    const auto b = reshape(slice(sb, 1, 1, 2), shape{x.size(0), c, 1, 1});
    return (s + T(1)) * detail::standardize(x, {2, 3}, static_cast<T>(options.eps)) + b;
  }
  template <class F>
  void visit(F&& f) {
    f("style", style);
  }
};
adain(const adain_options&)->adain<float, host>;

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_NORM_INSTANCES(X, T, B) \
  X struct batch_norm<T, B>;           \
  X struct layer_norm<T, B>;           \
  X struct instance_norm<T, B>;        \
  X struct adain<T, B>;
BIJGAN_EXTERN_INSTANCES(BIJGAN_NORM_INSTANCES)

}  // namespace bijgan::nn
