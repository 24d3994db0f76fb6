// Coupling layers (RealNVP / NICE, method.md §3). Affine: y = b⊙x + (1−b)⊙(x⊙exp(s) + t) with
// (s_raw, t_raw) = net(b⊙x), the stable s = scale·tanh(s_raw) and t = shift·t_raw; scale and
// shift are per-channel and start at 0, so a new coupling is the identity whatever the
// conditioner; log-det = Σ s over the changed dimensions. Additive (NICE): y = b⊙x + (1−b)⊙(x +
// t), t = shift·net(b⊙x), log-det 0. Masks: checkerboard (spatial parity) or channel halves,
// each with a parity choosing which half changes. The conditioner is any module mapping
// (N, C, H, W) to (N, 2C, H, W) (affine) or (N, C, H, W) (additive).
#pragma once

#include <utility>
#include <vector>

#include "bijgan/flows/bijection.hpp"
#include "bijgan/nn/chain.hpp"
#include "bijgan/nn/module.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan::flows {

enum class mask_kind { checkerboard, channel };

struct coupling_options {
  mask_kind mask = mask_kind::checkerboard;
  int parity = 0;  ///< 0 or 1: which half of the dimensions is left unchanged
};

/// The (1, C, H, W) mask b: 1 where a dimension passes unchanged (and conditions the rest).
template <class T, class B>
tensor<T, B> coupling_mask(index_t c, index_t h, index_t w, const coupling_options& o) {
  std::vector<T> m(static_cast<std::size_t>(c * h * w));
  for (index_t k = 0; k < c; ++k)
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x) {
        const bool first = o.mask == mask_kind::checkerboard ? (x + y) % 2 == 0 : k < c / 2;
        m[static_cast<std::size_t>((k * h + y) * w + x)] = first != (o.parity != 0) ? T(1) : T(0);
      }
  return tensor<T, B>::from(m, shape{1, c, h, w});
}

namespace detail {
inline void check_coupling_channels(index_t channels, const coupling_options& o, const char* op) {
  if (channels < 1) fail<shape_error>(op, "channel count ", channels, " must be >= 1");
  if (o.mask == mask_kind::channel && channels % 2 != 0)
    fail<shape_error>(op, "a channel mask needs an even channel count, got ", channels);
}
/// The mask b for input v (checked to be (N, c, H, W)) and the conditioner's output net(b⊙v),
/// checked to be (N, factor·c, H, W).
template <class Net, class T, class B>
std::pair<var<T, B>, var<T, B>> masked_condition(const Net& net, const var<T, B>& v, index_t c, index_t factor,
                                                 const coupling_options& o, const char* op, const char* dir) {
  if (v.rank() != 4 || v.size(1) != c) fail<shape_error>(op, dir, " input ", v.shape(), " must be (N, ", c, ", H, W)");
  if (o.mask == mask_kind::checkerboard && v.size(2) * v.size(3) < 2)
    fail<shape_error>(op, "a checkerboard mask needs at least 2 pixels, input ", v.shape());
  auto b = constant(coupling_mask<T, B>(c, v.size(2), v.size(3), o));
  auto h = net(b * v);
  if (h.shape() != shape{v.size(0), factor * c, v.size(2), v.size(3)})
    fail<shape_error>(op, "conditioner output ", h.shape(), " must be (N, ", factor * c, ", H, W)");
  return {std::move(b), std::move(h)};
}
}  // namespace detail

/// An affine coupling step with conditioner Net.
template <class Net>
struct affine_coupling {
  using value_type = typename Net::value_type;
  using backend_type = typename Net::backend_type;
  using T = value_type;
  using B = backend_type;
  coupling_options options;
  Net net;
  var<T, B> scale;  ///< (C, 1, 1), zero at initialisation
  var<T, B> shift;  ///< (C, 1, 1), zero at initialisation

  affine_coupling(index_t channels, Net n, const coupling_options& o = {})
      : options(o),
        net(std::move(n)),
        scale(parameter(tensor<T, B>::zeros(shape{channels, 1, 1}))),
        shift(parameter(tensor<T, B>::zeros(shape{channels, 1, 1}))) {
    detail::check_coupling_channels(channels, o, "flows::affine_coupling");
  }

  flow_result<T, B> forward(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    const auto [b, s, t] = conditioner(x, "forward");
    return {b * x + (T(1) - b) * (x * exp(s) + t), sum(s, {1, 2, 3})};
  }
  var<T, B> inverse(const var<T, B>& y) const {
    const nn::module_scope scope_(this);
    const auto [b, s, t] = conditioner(y, "inverse");
    return b * y + (T(1) - b) * ((y - t) * exp(-s));
  }

  /// This step on backend To with the same structure, for nn::to (which then copies the values).
  template <class To>
  affine_coupling<nn::rebind_t<Net, To>> rebuild() const {
    return affine_coupling<nn::rebind_t<Net, To>>(scale.size(0), nn::to<To>(net), options);
  }

  template <class F>
  void visit(F&& f) {
    f("net", net);
    f("scale", scale);
    f("shift", shift);
  }

 private:
  struct parts {
    var<T, B> b, s, t;
  };
  /// b, s (zero where b is 1) and t from the unchanged half of v.
  parts conditioner(const var<T, B>& v, const char* dir) const {
    const index_t c = scale.size(0);
    const auto [b, h] = detail::masked_condition(net, v, c, 2, options, "flows::affine_coupling", dir);
    const auto s = scale * tanh(slice(h, 1, 0, c)) * (T(1) - b);
    const auto t = shift * slice(h, 1, c, 2 * c) * (T(1) - b);
    return {b, s, t};
  }
};

/// An additive (volume-preserving) coupling step with conditioner Net: (N, C, H, W) -> (N, C, H, W).
template <class Net>
struct additive_coupling {
  using value_type = typename Net::value_type;
  using backend_type = typename Net::backend_type;
  using T = value_type;
  using B = backend_type;
  coupling_options options;
  Net net;
  var<T, B> shift;  ///< (C, 1, 1), zero at initialisation

  additive_coupling(index_t channels, Net n, const coupling_options& o = {})
      : options(o), net(std::move(n)), shift(parameter(tensor<T, B>::zeros(shape{channels, 1, 1}))) {
    detail::check_coupling_channels(channels, o, "flows::additive_coupling");
  }

  flow_result<T, B> forward(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    return {x + translation(x, "forward"), constant(tensor<T, B>::zeros(shape{x.size(0)}))};
  }
  var<T, B> inverse(const var<T, B>& y) const {
    const nn::module_scope scope_(this);
    return y - translation(y, "inverse");
  }

  /// This step on backend To with the same structure, for nn::to (which then copies the values).
  template <class To>
  additive_coupling<nn::rebind_t<Net, To>> rebuild() const {
    return additive_coupling<nn::rebind_t<Net, To>>(shift.size(0), nn::to<To>(net), options);
  }

  template <class F>
  void visit(F&& f) {
    f("net", net);
    f("shift", shift);
  }

 private:
  /// (1 − b)⊙t: zero on the unchanged half, which conditions it.
  var<T, B> translation(const var<T, B>& v, const char* dir) const {
    const auto [b, h] = detail::masked_condition(net, v, shift.size(0), 1, options, "flows::additive_coupling", dir);
    return shift * h * (T(1) - b);
  }
};

}  // namespace bijgan::flows
