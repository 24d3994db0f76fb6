// Differentiable layout ops on var: reshape (a view), permute/transpose, slice, concat, stack,
// pad, broadcast_to and its adjoint sum_to, and where(mask, a, b).
#pragma once

#include <vector>

#include "bijgan/config/instances.hpp"
#include "bijgan/ops/elementwise.hpp"

namespace bijgan {

/// Undoes a broadcast: sums x down to shape s (the adjoint of broadcast_to).
template <class T, class B>
var<T, B> sum_to(const var<T, B>& x, const shape& s) {
  if (x.shape() == s) return x;
  return var<T, B>::make(sum_to(x.value(), s), "sum_to", {x}, [](const auto& out, const auto& g, auto gr) {
    gr[0] = broadcast_to(g, out.inputs()[0].shape());
  });
}

/// Broadcasts x to shape s (materialised).
template <class T, class B>
var<T, B> broadcast_to(const var<T, B>& x, const shape& s) {
  if (x.shape() == s) return x;
  return var<T, B>::make(broadcast_to(x.value(), s), "broadcast_to", {x},
                         [](const auto& out, const auto& g, auto gr) { gr[0] = sum_to(g, out.inputs()[0].shape()); });
}

/// A view with new extents (one may be -1).
template <class T, class B>
var<T, B> reshape(const var<T, B>& x, const shape& s) {
  auto v = x.value().reshape(s);
  if (v.shape() == x.shape()) return x;
  return var<T, B>::make(std::move(v), "reshape", {x},
                         [](const auto& out, const auto& g, auto gr) { gr[0] = reshape(g, out.inputs()[0].shape()); });
}
template <class T, class B>
var<T, B> reshape(const var<T, B>& x, std::initializer_list<index_t> dims) {
  return reshape(x, x.value().reshape(dims).shape());
}
/// Collapses axes [start, end] (inclusive) into one.
template <class T, class B>
var<T, B> flatten(const var<T, B>& x, index_t start = 1, index_t end = -1) {
  const auto a = x.shape().normalize_axis(start, "flatten"), b = x.shape().normalize_axis(end, "flatten");
  shape s;
  for (std::size_t i = 0; i < a; ++i) s.push_back(x.shape()[i]);
  index_t n = 1;
  for (std::size_t i = a; i <= b; ++i) n *= x.shape()[i];
  s.push_back(n);
  for (std::size_t i = b + 1; i < x.rank(); ++i) s.push_back(x.shape()[i]);
  return reshape(x, s);
}
/// Inserts an axis of extent 1 at position axis (0..rank).
template <class T, class B>
var<T, B> unsqueeze(const var<T, B>& x, index_t axis) {
  const auto r = static_cast<index_t>(x.rank());
  const index_t a = axis < 0 ? axis + r + 1 : axis;
  if (a < 0 || a > r) fail<shape_error>("unsqueeze", "axis ", axis, " for shape ", x.shape());
  shape s;
  for (index_t i = 0; i < r; ++i) {
    if (i == a) s.push_back(1);
    s.push_back(x.shape()[static_cast<std::size_t>(i)]);
  }
  if (a == r) s.push_back(1);
  return reshape(x, s);
}

/// Reorders axes (a copy): out.shape[i] = x.shape[perm[i]].
template <class T, class B>
var<T, B> permute(const var<T, B>& x, std::vector<index_t> perm) {
  auto v = permute(x.value(), std::span<const index_t>(perm));
  return var<T, B>::make(std::move(v), "permute", {x}, [perm](const auto& out, const auto& g, auto gr) {
    std::vector<index_t> inv(perm.size());
    for (std::size_t i = 0; i < perm.size(); ++i)
      inv[out.inputs()[0].shape().normalize_axis(perm[i], "permute")] = static_cast<index_t>(i);
    gr[0] = permute(g, inv);
  });
}
/// Swaps two axes (a copy).
template <class T, class B>
var<T, B> transpose(const var<T, B>& x, index_t a = -2, index_t b = -1) {
  std::vector<index_t> perm(x.rank());
  for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<index_t>(i);
  std::swap(perm[x.shape().normalize_axis(a, "transpose")], perm[x.shape().normalize_axis(b, "transpose")]);
  return permute(x, perm);
}

template <class T, class B>
var<T, B> pad(const var<T, B>& x, std::vector<index_t> pads, T value = T(0));

/// x[..., start:stop, ...] along axis (a copy).
template <class T, class B>
var<T, B> slice(const var<T, B>& x, index_t axis, index_t start, index_t stop) {
  const auto ax = x.shape().normalize_axis(axis, "slice");
  auto v = slice(x.value(), static_cast<index_t>(ax), start, stop);
  return var<T, B>::make(std::move(v), "slice", {x}, [ax, start, stop](const auto& out, const auto& g, auto gr) {
    const auto& s = out.inputs()[0].shape();
    std::vector<index_t> pads(2 * s.rank(), 0);
    pads[2 * ax] = start;
    pads[2 * ax + 1] = s[ax] - stop;
    gr[0] = pad(g, pads);
  });
}

/// Pads with value: pads[2i] before and pads[2i+1] after axis i.
template <class T, class B>
var<T, B> pad(const var<T, B>& x, std::vector<index_t> pads, T value) {
  auto v = pad(x.value(), std::span<const index_t>(pads), value);
  return var<T, B>::make(std::move(v), "pad", {x}, [pads](const auto& out, const auto& g, auto gr) {
    var<T, B> r = g;
    const auto& s = out.inputs()[0].shape();
    for (std::size_t i = 0; i < s.rank(); ++i)
      if (pads[2 * i] != 0 || pads[2 * i + 1] != 0)
        r = slice(r, static_cast<index_t>(i), pads[2 * i], pads[2 * i] + s[i]);
    gr[0] = r;
  });
}

/// Concatenation along axis.
template <class T, class B>
var<T, B> concat(const std::vector<var<T, B>>& xs, index_t axis) {
  std::vector<tensor<T, B>> vals;
  vals.reserve(xs.size());
  for (const auto& x : xs) vals.push_back(x.value());
  auto v = concat(std::span<const tensor<T, B>>(vals), axis);
  const auto ax = v.shape().normalize_axis(axis, "concat");
  return var<T, B>::make(std::move(v), "concat", xs, [ax](const auto& out, const auto& g, auto gr) {
    index_t at = 0;
    const auto& in = out.inputs();
    for (std::size_t i = 0; i < in.size(); ++i) {
      const index_t n = in[i].shape()[ax];
      if (gr.wanted(i)) gr[i] = slice(g, static_cast<index_t>(ax), at, at + n);
      at += n;
    }
  });
}

/// Stacks equally shaped vars along a new axis.
template <class T, class B>
var<T, B> stack(const std::vector<var<T, B>>& xs, index_t axis = 0) {
  if (xs.empty()) fail<shape_error>("stack", "no tensors");
  std::vector<var<T, B>> u;
  u.reserve(xs.size());
  for (const auto& x : xs) {
    if (!(x.shape() == xs[0].shape())) fail<shape_error>("stack", "shape ", x.shape(), " differs from ", xs[0].shape());
    u.push_back(unsqueeze(x, axis));
  }
  return concat(u, axis);
}

/// mask != 0 ? a : b, broadcasting all three; mask is a constant. Values in the branch not
/// taken (even NaN/Inf) do not reach the result or the gradients.
template <class T, class B>
var<T, B> where(const tensor<T, B>& mask, const var<T, B>& a, const var<T, B>& b) {
  auto v = apply(fn::select{}, mask, a.value(), b.value(), "where");
  return var<T, B>::make(std::move(v), "where", {a, b}, [mask](const auto& out, const auto& g, auto gr) {
    const auto& in = out.inputs();
    const auto zero = constant(tensor<T, B>::zeros(shape{}));
    if (gr.wanted(0)) gr[0] = sum_to(where(mask, g, zero), in[0].shape());
    if (gr.wanted(1)) gr[1] = sum_to(where(mask, zero, g), in[1].shape());
  });
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_SHAPE_INSTANCES(X, T, B)                                  \
  X var<T, B> sum_to(const var<T, B>&, const shape&);                    \
  X var<T, B> broadcast_to(const var<T, B>&, const shape&);              \
  X var<T, B> reshape(const var<T, B>&, const shape&);                   \
  X var<T, B> reshape(const var<T, B>&, std::initializer_list<index_t>); \
  X var<T, B> flatten(const var<T, B>&, index_t, index_t);               \
  X var<T, B> unsqueeze(const var<T, B>&, index_t);                      \
  X var<T, B> permute(const var<T, B>&, std::vector<index_t>);           \
  X var<T, B> transpose(const var<T, B>&, index_t, index_t);             \
  X var<T, B> slice(const var<T, B>&, index_t, index_t, index_t);        \
  X var<T, B> pad(const var<T, B>&, std::vector<index_t>, T);            \
  X var<T, B> concat(const std::vector<var<T, B>>&, index_t);            \
  X var<T, B> stack(const std::vector<var<T, B>>&, index_t);             \
  X var<T, B> where(const tensor<T, B>&, const var<T, B>&, const var<T, B>&);
BIJGAN_EXTERN_INSTANCES(BIJGAN_SHAPE_INSTANCES)

}  // namespace bijgan
