// Composition of bijections: flows::sequence runs steps in order (log-dets add), `a | b` builds
// one, inverse_of(f) swaps the directions of f.
#pragma once

#include <tuple>
#include <utility>

#include "bijgan/flows/bijection.hpp"
#include "bijgan/nn/chain.hpp"
#include "bijgan/nn/module_scope.hpp"

namespace bijgan::flows {

/// Steps applied in order; forward sums their log-dets, inverse runs them backwards.
template <bijection... Fs>
struct sequence {
  using value_type = typename std::tuple_element_t<0, std::tuple<Fs...>>::value_type;
  using backend_type = typename std::tuple_element_t<0, std::tuple<Fs...>>::backend_type;
  using V = var<value_type, backend_type>;
  std::tuple<Fs...> steps;

  explicit sequence(Fs... fs) : steps(std::move(fs)...) {}

  flow_result<value_type, backend_type> forward(const V& x) const {
    const nn::module_scope scope_(this);
    flow_result<value_type, backend_type> r{x, constant(tensor<value_type, backend_type>::zeros(shape{x.size(0)}))};
    std::apply([&](const auto&... f) { (detail::chain_step(r, f), ...); }, steps);
    return r;
  }
  /// The shape after every step, for an input of shape `in`.
  [[nodiscard]] shape output_shape(const shape& in) const {
    shape s = in;
    std::apply([&](const auto&... f) { ((s = flows::output_shape(f, s)), ...); }, steps);
    return s;
  }
  V inverse(const V& z) const {
    const nn::module_scope scope_(this);
    V x = z;
    inverse_from<sizeof...(Fs)>(x);
    return x;
  }
  /// This step on backend To with the same structure, for nn::to (which then copies the values).
  template <class To>
  sequence<nn::rebind_t<Fs, To>...> rebuild() const {
    return std::apply([](const auto&... f) { return sequence<nn::rebind_t<Fs, To>...>(nn::to<To>(f)...); }, steps);
  }

  template <class F>
  void visit(F&& f) {
    visit_each(f, std::index_sequence_for<Fs...>{});
  }

 private:
  template <std::size_t I>
  void inverse_from(V& x) const {
    if constexpr (I > 0) {
      x = std::get<I - 1>(steps).inverse(x);
      inverse_from<I - 1>(x);
    }
  }
  template <class F, std::size_t... I>
  void visit_each(F& f, std::index_sequence<I...>) {
    (visit_one<I>(f), ...);
  }
  template <std::size_t I, class F>
  void visit_one(F& f) {
    if constexpr (nn::module<std::tuple_element_t<I, std::tuple<Fs...>>>)
      f(nn::detail::index_name(I), std::get<I>(steps));
  }
};

namespace detail {
template <class X>
struct is_sequence : std::false_type {};
template <class... Fs>
struct is_sequence<sequence<Fs...>> : std::true_type {};
template <class X>
auto as_steps(X x) {
  if constexpr (is_sequence<X>::value)
    return x.steps;
  else
    return std::tuple<X>(std::move(x));
}
}  // namespace detail

/// a | b: a then b (sequences are flattened).
template <bijection A, bijection C>
auto operator|(A a, C c) {
  return std::apply([](auto... s) { return sequence<decltype(s)...>(std::move(s)...); },
                    std::tuple_cat(detail::as_steps(std::move(a)), detail::as_steps(std::move(c))));
}

/// f with its directions swapped: forward is f.inverse (log-det: minus f's at the result).
template <bijection F>
struct inverse_of {
  using value_type = typename F::value_type;
  using backend_type = typename F::backend_type;
  F flow;
  explicit inverse_of(F f) : flow(std::move(f)) {}
  flow_result<value_type, backend_type> forward(const var<value_type, backend_type>& z) const {
    const nn::module_scope scope_(this);
    auto x = flow.inverse(z);
    return {x, -flow.forward(x).logdet};
  }
  var<value_type, backend_type> inverse(const var<value_type, backend_type>& x) const {
    const nn::module_scope scope_(this);
    return flow.forward(x).z;
  }
  /// This step on backend To with the same structure, for nn::to (which then copies the values).
  template <class To>
  inverse_of<nn::rebind_t<F, To>> rebuild() const {
    return inverse_of<nn::rebind_t<F, To>>(nn::to<To>(flow));
  }

  template <class G>
  void visit(G&& g) {
    if constexpr (nn::module<F>) g("flow", flow);
  }
};

}  // namespace bijgan::flows
