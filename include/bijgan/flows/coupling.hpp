// Affine coupling (RealNVP, method.md §3): y = b⊙x + (1−b)⊙(x⊙exp(s) + t) with (s_raw, t_raw)
// = net(b⊙x), the stable s = scale·tanh(s_raw) and t = shift·t_raw; scale and shift are
// per-channel and start at 0, so a new coupling is the identity whatever the conditioner;
// log-det = Σ s over the changed dimensions. Masks: checkerboard (spatial
// parity) or channel halves, each with a parity choosing which half changes. The conditioner
// is any module mapping (N, C, H, W) to (N, 2C, H, W).
#pragma once

#include <vector>

#include "bijgan/flows/bijection.hpp"
#include "bijgan/nn/module.hpp"
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
      : options(o), net(std::move(n)), scale(parameter(tensor<T, B>::zeros(shape{channels, 1, 1}))),
        shift(parameter(tensor<T, B>::zeros(shape{channels, 1, 1}))) {
    if (o.mask == mask_kind::channel && channels % 2 != 0)
      fail<shape_error>("flows::affine_coupling", "a channel mask needs an even channel count, got ", channels);
  }

  flow_result<T, B> forward(const var<T, B>& x) const {
    const auto [b, s, t] = conditioner(x, "forward");
    return {b * x + (T(1) - b) * (x * exp(s) + t), sum(s, {1, 2, 3})};
  }
  var<T, B> inverse(const var<T, B>& y) const {
    const auto [b, s, t] = conditioner(y, "inverse");
    return b * y + (T(1) - b) * ((y - t) * exp(-s));
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
    if (v.rank() != 4 || v.size(1) != c)
      fail<shape_error>("flows::affine_coupling", dir, " input ", v.shape(), " must be (N, ", c, ", H, W)");
    if (options.mask == mask_kind::checkerboard && v.size(2) * v.size(3) < 2)
      fail<shape_error>("flows::affine_coupling", "a checkerboard mask needs at least 2 pixels, input ", v.shape());
    const auto b = constant(coupling_mask<T, B>(c, v.size(2), v.size(3), options));
    const auto h = net(b * v);
    if (h.shape() != shape{v.size(0), 2 * c, v.size(2), v.size(3)})
      fail<shape_error>("flows::affine_coupling", "conditioner output ", h.shape(), " must be (N, ", 2 * c, ", H, W)");
    const auto s = scale * tanh(slice(h, 1, 0, c)) * (T(1) - b);
    const auto t = shift * slice(h, 1, c, 2 * c) * (T(1) - b);
    return {b, s, t};
  }
};

}  // namespace bijgan::flows
