// Differentiable reductions over axes (empty axes = all): sum, mean, max, min, var, and the
// log-sum-exp family (logsumexp, softmax, log_softmax) built from them.
#pragma once

#include <vector>

#include "bijgan/config/instances.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan {

/// Axes to reduce; empty means all.
using axes_t = std::vector<index_t>;

namespace detail {
/// Shape of x reduced over axes with keepdim (the shape gradients are broadcast from).
template <class T, class B>
shape kept_shape(const var<T, B>& x, const axes_t& axes, const char* op) {
  return reduced_shape(x.shape(), normalize_axes(x.shape(), axes, op), true);
}
}  // namespace detail

/// Sum over axes; keepdim keeps reduced axes as extent 1.
template <class T, class B>
var<T, B> sum(const var<T, B>& x, axes_t axes = {}, bool keepdim = false) {
  auto v = reduce(reduce_kind::sum, x.value(), axes, keepdim, "sum");
  return var<T, B>::make(std::move(v), "sum", {x}, [axes](const auto& out, const auto& g, auto gr) {
    const auto& in = out.inputs()[0];
    gr[0] = broadcast_to(reshape(g, detail::kept_shape(in, axes, "sum")), in.shape());
  });
}

/// Mean over axes.
template <class T, class B>
var<T, B> mean(const var<T, B>& x, axes_t axes = {}, bool keepdim = false) {
  const auto ax = normalize_axes(x.shape(), axes, "mean");
  index_t n = 1;
  for (auto a : ax) n *= x.shape()[a];
  if (n == 0) fail<shape_error>("mean", "over an empty extent of ", x.shape());
  return sum(x, std::move(axes), keepdim) * (T(1) / static_cast<T>(n));
}

namespace detail {
/// max/min: the gradient goes to the extremal elements, shared equally among ties.
template <class T, class B>
var<T, B> extremum(reduce_kind kind, const char* name, const var<T, B>& x, axes_t axes, bool keepdim) {
  auto v = reduce(kind, x.value(), axes, keepdim, name);
  return var<T, B>::make(std::move(v), name, {x}, [axes, name](const auto& out, const auto& g, auto gr) {
    const auto& in = out.inputs()[0];
    const shape ks = kept_shape(in, axes, name);
    const auto hit = apply(fn::equal{}, in.value(), out.value().reshape(ks));
    const auto count = reduce(reduce_kind::sum, hit, axes, true);
    const auto share = constant(apply(fn::div{}, hit, count));
    gr[0] = broadcast_to(reshape(g, ks), in.shape()) * share;
  });
}
}  // namespace detail

template <class T, class B>
var<T, B> max(const var<T, B>& x, axes_t axes = {}, bool keepdim = false) {
  return detail::extremum(reduce_kind::max, "max", x, std::move(axes), keepdim);
}
template <class T, class B>
var<T, B> min(const var<T, B>& x, axes_t axes = {}, bool keepdim = false) {
  return detail::extremum(reduce_kind::min, "min", x, std::move(axes), keepdim);
}

/// Variance over axes with Bessel-style correction (1: unbiased, 0: population).
template <class T, class B>
var<T, B> variance(const var<T, B>& x, axes_t axes = {}, bool keepdim = false, int correction = 1) {
  const auto ax = normalize_axes(x.shape(), axes, "variance");
  index_t n = 1;
  for (auto a : ax) n *= x.shape()[a];
  if (n - correction <= 0)
    fail<shape_error>("variance", n, " elements with correction ", correction, " in ", x.shape());
  const auto centred = x - mean(x, axes, true);
  return sum(square(centred), std::move(axes), keepdim) * (T(1) / static_cast<T>(n - correction));
}

/// log(sum(exp(x))) over axes, stabilised by the (constant) maximum.
template <class T, class B>
var<T, B> logsumexp(const var<T, B>& x, axes_t axes = {}, bool keepdim = false) {
  const auto m = constant(reduce(reduce_kind::max, x.value(), axes, true, "logsumexp"));
  auto r = log(sum(exp(x - m), axes, true)) + m;
  return keepdim ? r : reshape(r, reduced_shape(x.shape(), normalize_axes(x.shape(), axes, "logsumexp"), false));
}

/// Softmax along one axis: one fused forward (max, exp, sum, divide) and the backward
/// y * (g - sum(g * y)), itself written with var ops (so second order works).
template <class T, class B>
var<T, B> softmax(const var<T, B>& x, index_t axis = -1) {
  const axes_t ax{axis};
  const auto m = reduce(reduce_kind::max, x.value(), ax, true, "softmax");
  const auto e = apply(fn::exp{}, apply(fn::sub{}, x.value(), m));
  auto y = apply(fn::div{}, e, reduce(reduce_kind::sum, e, ax, true, "softmax"));
  return var<T, B>::make(std::move(y), "softmax", {x}, [axis](const auto& out, const auto& g, auto gr) {
    gr[0] = out * (g - sum(g * out, {axis}, true));
  });
}

/// log(softmax(x)) along one axis, computed stably.
template <class T, class B>
var<T, B> log_softmax(const var<T, B>& x, index_t axis = -1) {
  return x - logsumexp(x, {axis}, true);
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_REDUCE_INSTANCES(X, T, B)                     \
  X var<T, B> sum(const var<T, B>&, axes_t, bool);           \
  X var<T, B> mean(const var<T, B>&, axes_t, bool);          \
  X var<T, B> max(const var<T, B>&, axes_t, bool);           \
  X var<T, B> min(const var<T, B>&, axes_t, bool);           \
  X var<T, B> logsumexp(const var<T, B>&, axes_t, bool);     \
  X var<T, B> variance(const var<T, B>&, axes_t, bool, int); \
  X var<T, B> softmax(const var<T, B>&, index_t);            \
  X var<T, B> log_softmax(const var<T, B>&, index_t);
BIJGAN_EXTERN_INSTANCES(BIJGAN_REDUCE_INSTANCES)

}  // namespace bijgan
