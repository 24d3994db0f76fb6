// Multi-scale factor-out (RealNVP, method.md §3): of an input (N, C, H, W), the first ⌊C/2⌋
// channels leave as latents and the inner flow transforms the rest. The result is flat: z =
// [flatten(leaving half), flatten(inner's latent)] of shape (N, C·H·W), the inner's log-det
// is the step's. Nesting factor_out builds the multi-scale architecture.
#pragma once

#include <utility>
#include <vector>

#include "bijgan/flows/bijection.hpp"
#include "bijgan/nn/chain.hpp"
#include "bijgan/nn/module.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan::flows {

namespace detail {
/// Splits x (N, C, H, W) into the leaving channels [0, C/2) and the staying ones [C/2, C).
template <class T, class B>
std::pair<var<T, B>, var<T, B>> split_channels(const var<T, B>& x) {
  const index_t c = x.size(1), k = c / 2;
  return {slice(x, 1, 0, k), slice(x, 1, k, c)};
}
/// Inverse bookkeeping: the leaving part of flat z (N, D) at offset 0 as (N, k, H, W), and the rest.
template <class T, class B>
std::pair<var<T, B>, var<T, B>> split_flat(const var<T, B>& z, const shape& leaving, const char* op) {
  const index_t n = z.size(0), d = leaving.numel();
  if (z.rank() != 2 || z.size(1) <= d)
    fail<shape_error>(op, "inverse input ", z.shape(), " must be (N, D) with D > ", d);
  shape s{n};
  for (std::size_t i = 0; i < leaving.rank(); ++i) s.push_back(leaving[i]);
  return {reshape(slice(z, 1, 0, d), s), slice(z, 1, d, z.size(1))};
}
/// Reshapes flat (N, D) to (N, per_sample...).
template <class T, class B>
var<T, B> unflatten(const var<T, B>& v, const shape& full) {
  shape s{v.size(0)};
  for (std::size_t i = 1; i < full.rank(); ++i) s.push_back(full[i]);
  return reshape(v, s);
}
}  // namespace detail

/// Factor-out around the inner flow F, for inputs of per-sample shape (C, H, W) (needed by the
/// inverse, which receives a flat latent).
template <bijection F>
struct factor_out {
  using value_type = typename F::value_type;
  using backend_type = typename F::backend_type;
  using T = value_type;
  using B = backend_type;
  shape input;  ///< (C, H, W)
  F inner;

  factor_out(shape per_sample, F f) : input(per_sample), inner(std::move(f)) {
    if (input.rank() != 3 || input[0] < 2)
      fail<shape_error>("flows::factor_out", "per-sample shape ", input, " must be (C, H, W) with C >= 2");
  }

  [[nodiscard]] shape output_shape(const shape& in) const { return shape{in[0], input.numel()}; }

  flow_result<T, B> forward(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    check(x.shape());
    const auto [leave, stay] = detail::split_channels(x);
    auto r = inner.forward(stay);
    return {concat(std::vector{flatten(leave), flatten(r.z)}, 1), r.logdet};
  }
  var<T, B> inverse(const var<T, B>& z) const {
    const nn::module_scope scope_(this);
    const auto [leave, rest] = detail::split_flat(z, shape{input[0] / 2, input[1], input[2]}, "flows::factor_out");
    const shape stay{z.size(0), input[0] - input[0] / 2, input[1], input[2]};
    const auto back = inner.inverse(detail::unflatten(rest, flows::output_shape(inner, stay)));
    return concat(std::vector{leave, back}, 1);
  }

  /// This step on backend To with the same structure, for nn::to (which then copies the values).
  template <class To>
  factor_out<nn::rebind_t<F, To>> rebuild() const {
    return factor_out<nn::rebind_t<F, To>>(input, nn::to<To>(inner));
  }

  template <class G>
  void visit(G&& g) {
    if constexpr (nn::module<F>) g("inner", inner);
  }

 private:
  void check(const shape& s) const {
    if (s.rank() != 4 || s[1] != input[0] || s[2] != input[1] || s[3] != input[2])
      fail<shape_error>("flows::factor_out", "forward input ", s, " must be (N, ", input[0], ", ", input[1], ", ",
                        input[2], ")");
  }
};

}  // namespace bijgan::flows
