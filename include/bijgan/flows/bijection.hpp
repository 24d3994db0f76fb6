// The bijection concept (design.md): forward(x) -> {z, logdet} with the log-determinant per
// sample in nats (log|det ∂z/∂x|), and inverse(z) -> x. Any type meeting it is a flow step;
// check_bijection<F>() names each missing requirement in a static_assert.
#pragma once

#include <concepts>
#include <utility>

#include "bijgan/autodiff/var.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan::flows {

/// What a bijection's forward returns: the image z of x and log|det ∂z/∂x| per sample (N).
template <class T, class B>
struct flow_result {
  var<T, B> z;
  var<T, B> logdet;
};

namespace detail {
/// A log-det that is the same scalar for every sample (volume change independent of x): the
/// (1)-shaped or scalar `per_sample` broadcast to (n).
template <class T, class B>
var<T, B> same_logdet(const var<T, B>& per_sample, index_t n) {
  return broadcast_to(reshape(per_sample, shape{1}), shape{n});
}
/// Runs step f on r.z and adds its log-det to r.logdet (how sequences and H chain steps).
template <class T, class B, class F>
void chain_step(flow_result<T, B>& r, const F& f) {
  auto s = f.forward(r.z);
  r.z = std::move(s.z);
  r.logdet = r.logdet + s.logdet;
}
}  // namespace detail

/// F maps var<F::value_type, F::backend_type> (N, ...) forward with its per-sample log-det and back.
template <class F>
concept bijection = requires(const F& f, const var<typename F::value_type, typename F::backend_type>& x) {
  { f.forward(x) } -> std::same_as<flow_result<typename F::value_type, typename F::backend_type>>;
  { f.inverse(x) } -> std::same_as<var<typename F::value_type, typename F::backend_type>>;
};

/// Compile-time check with one message per missing requirement; use as
/// static_assert(flows::check_bijection<my_flow>()).
template <class F>
constexpr bool check_bijection() {
  static_assert(
      requires { typename F::value_type; }, "a bijection needs `using value_type = T;` (float or double)");
  static_assert(
      requires { typename F::backend_type; }, "a bijection needs `using backend_type = B;` (host or cuda_device)");
  if constexpr (requires {
                  typename F::value_type;
                  typename F::backend_type;
                }) {
    using V = var<typename F::value_type, typename F::backend_type>;
    static_assert(
        requires(const F& f, const V& x) { f.forward(x); }, "a bijection needs `forward(const var&) const`");
    static_assert(
        requires(const F& f, const V& x) {
          { f.forward(x) } -> std::same_as<flow_result<typename F::value_type, typename F::backend_type>>;
        },
        "forward(x) must return flows::flow_result<T, B> {z, logdet per sample}");
    static_assert(
        requires(const F& f, const V& z) {
          { f.inverse(z) } -> std::same_as<V>;
        },
        "a bijection needs `var inverse(const var&) const` returning x");
  }
  return bijection<F>;
}

/// The shape forward(x) gives for an input of shape `in`: f.output_shape(in) where F declares
/// it (steps that reshape: squeeze, factor-out), otherwise `in`. Inverses use it to put a flat
/// latent back into the shape a step expects.
template <class F>
shape output_shape(const F& f, const shape& in) {
  if constexpr (requires {
                  { f.output_shape(in) } -> std::convertible_to<shape>;
                })
    return f.output_shape(in);
  else
    return in;
}

/// The least type that models bijection (declarations only), for checking generic code.
struct archetype_bijection {
  using value_type = float;
  using backend_type = host;
  flow_result<float, host> forward(const var<float, host>&) const;
  var<float, host> inverse(const var<float, host>&) const;
};
static_assert(bijection<archetype_bijection>);

}  // namespace bijgan::flows
