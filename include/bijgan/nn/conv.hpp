// Convolution modules: nn::conv2d and nn::conv_transpose2d over NCHW images (square kernels),
// with PyTorch's default initialisation or the equalised learning rate.
#pragma once

#include <tuple>

#include "bijgan/config/instances.hpp"
#include "bijgan/nn/linear.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/conv.hpp"

namespace bijgan::nn {

namespace detail {
/// value_error unless the sizes are positive and both channel counts divide into the groups.
inline void check_conv_sizes(const char* op, index_t in, index_t out, index_t kernel, index_t groups) {
  if (in < 1 || out < 1 || kernel < 1 || groups < 1 || in % groups || out % groups)
    fail<value_error>(op, "in = ", in, ", out = ", out, ", kernel = ", kernel, ", groups = ", groups,
                      " (need positive sizes and channels divisible by groups)");
}
}  // namespace detail

struct conv2d_options {
  index_t in = 0;
  index_t out = 0;
  index_t kernel = 3;
  index_t stride = 1;
  index_t padding = 0;
  index_t dilation = 1;
  index_t groups = 1;
  bool bias = true;
  nn::equalized_lr equalized{};
};

/// (N, in, H, W) -> (N, out, H', W'). weight (out, in/groups, k, k), bias (out).
template <class T = float, class B = host>
struct conv2d {
  using value_type = T;
  using backend_type = B;
  conv2d_options options;
  var<T, B> weight, bias;

  explicit conv2d(const conv2d_options& o, rng& g = default_rng()) : options(o) {
    detail::check_conv_sizes("nn::conv2d", o.in, o.out, o.kernel, o.groups);
    std::tie(weight, bias) =
        detail::make_weights<T, B>(shape{o.out, o.in / o.groups, o.kernel, o.kernel}, o.out, o.bias, o.equalized, g);
  }

  var<T, B> operator()(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    const auto [ws, bs] = detail::runtime_scales(options.equalized, init::fans_of(weight.shape()).in);
    return bijgan::conv2d(
        x, detail::scaled(weight, ws), bias.defined() ? detail::scaled(bias, bs) : var<T, B>(),
        {.stride = options.stride, .padding = options.padding, .dilation = options.dilation, .groups = options.groups});
  }

  template <class F>
  void visit(F&& f) {
    f("weight", weight);
    f("bias", bias);
  }
};
conv2d(const conv2d_options&)->conv2d<float, host>;

struct conv_transpose2d_options {
  index_t in = 0;
  index_t out = 0;
  index_t kernel = 3;
  index_t stride = 1;
  index_t padding = 0;
  index_t output_padding = 0;
  index_t dilation = 1;
  index_t groups = 1;
  bool bias = true;
  nn::equalized_lr equalized{};
};

/// (N, in, H, W) -> (N, out, (H-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1, ...).
/// weight (in, out/groups, k, k), bias (out).
template <class T = float, class B = host>
struct conv_transpose2d {
  using value_type = T;
  using backend_type = B;
  conv_transpose2d_options options;
  var<T, B> weight, bias;

  explicit conv_transpose2d(const conv_transpose2d_options& o, rng& g = default_rng()) : options(o) {
    detail::check_conv_sizes("nn::conv_transpose2d", o.in, o.out, o.kernel, o.groups);
    // PyTorch computes the fans of the (in, out/groups, k, k) weight as stored.
    std::tie(weight, bias) =
        detail::make_weights<T, B>(shape{o.in, o.out / o.groups, o.kernel, o.kernel}, o.out, o.bias, o.equalized, g);
  }

  var<T, B> operator()(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    const auto [ws, bs] = detail::runtime_scales(options.equalized, init::fans_of(weight.shape()).in);
    return bijgan::conv_transpose2d(x, detail::scaled(weight, ws),
                                    bias.defined() ? detail::scaled(bias, bs) : var<T, B>(),
                                    {.stride = options.stride,
                                     .padding = options.padding,
                                     .output_padding = options.output_padding,
                                     .dilation = options.dilation,
                                     .groups = options.groups});
  }

  template <class F>
  void visit(F&& f) {
    f("weight", weight);
    f("bias", bias);
  }
};
conv_transpose2d(const conv_transpose2d_options&)->conv_transpose2d<float, host>;

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_CONV_MODULES_INSTANCES(X, T, B) \
  X struct conv2d<T, B>;                       \
  X struct conv_transpose2d<T, B>;
BIJGAN_EXTERN_INSTANCES(BIJGAN_CONV_MODULES_INSTANCES)

}  // namespace bijgan::nn
