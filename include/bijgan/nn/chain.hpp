// Composition: nn::chain(a, b, c) (also written a | b | c) applies its layers in order; layers
// are modules or plain callables (activations from nn::act, lambdas). nn::residual(body) is
// x + body(x). Both are modules: visit numbers the module layers by position ("3.weight").
#pragma once

#include <array>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "bijgan/nn/module.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/conv.hpp"
#include "bijgan/ops/elementwise.hpp"

namespace bijgan::nn {

namespace detail {
/// "0", "1", ...: stable names for positional members.
inline const char* index_name(std::size_t i) {
  static const auto names = [] {
    std::array<std::string, 256> n;
    for (std::size_t k = 0; k < n.size(); ++k) n[k] = std::to_string(k);
    return n;
  }();
  if (i >= names.size()) fail<value_error>("nn::chain", "more than ", names.size(), " layers");
  return names[i].c_str();
}

template <class... Ms>
struct first_module {
  using value_type = float;
  using backend_type = host;
};
template <class M, class... Ms>
struct first_module<M, Ms...> : std::conditional_t<module<M>, M, first_module<Ms...>> {};
}  // namespace detail

/// Layers applied in order: chain(a, b)(x) = b(a(x)).
template <class... Layers>
struct chain {
  using value_type = typename detail::first_module<Layers...>::value_type;
  using backend_type = typename detail::first_module<Layers...>::backend_type;
  std::tuple<Layers...> layers;

  explicit chain(Layers... ls) : layers(std::move(ls)...) {}

  template <class X>
  auto operator()(const X& x) const {
    const nn::module_scope scope_(this);
    return std::apply([&](const auto&... l) { return run(x, l...); }, layers);
  }
  template <std::size_t I>
  auto& get() {
    return std::get<I>(layers);
  }
  template <std::size_t I>
  const auto& get() const {
    return std::get<I>(layers);
  }

  template <class F>
  void visit(F&& f) {
    visit_each(f, std::index_sequence_for<Layers...>{});
  }

 private:
  template <class X>
  static X run(const X& x) {
    return x;
  }
  template <class X, class L, class... Rest>
  static auto run(const X& x, const L& l, const Rest&... rest) {
    return run(l(x), rest...);
  }
  template <class F, std::size_t... I>
  void visit_each(F& f, std::index_sequence<I...>) {
    (visit_one<I>(f), ...);
  }
  template <std::size_t I, class F>
  void visit_one(F& f) {
    if constexpr (module<std::tuple_element_t<I, std::tuple<Layers...>>>) f(detail::index_name(I), std::get<I>(layers));
  }
};
template <class... Layers>
chain(Layers...) -> chain<Layers...>;

namespace detail {
template <class X>
struct is_chain : std::false_type {};
template <class... L>
struct is_chain<chain<L...>> : std::true_type {};
template <class X>
auto as_tuple(X x) {
  if constexpr (is_chain<X>::value)
    return x.layers;
  else
    return std::tuple<X>(std::move(x));
}
}  // namespace detail

namespace detail {
/// Types with an inverse (flow steps): `a | b` of two of them is a flow sequence (flows/compose.hpp).
template <class X>
concept invertible = requires {
  &X::inverse;
};
}  // namespace detail

/// a | b: a chain running a, then b (chains are flattened). One side must be a module; two
/// bijections compose with flows' `|` instead.
template <class A, class C>
requires((module<std::remove_cvref_t<A>> ||
          module<std::remove_cvref_t<C>>)&&!(detail::invertible<std::remove_cvref_t<A>> &&
                                             detail::invertible<std::remove_cvref_t<C>>)) auto
operator|(A a, C c) {
  return std::apply([](auto... l) { return chain<decltype(l)...>(std::move(l)...); },
                    std::tuple_cat(detail::as_tuple(std::move(a)), detail::as_tuple(std::move(c))));
}

/// x + body(x): the body must keep the shape.
template <class Body>
struct residual {
  using value_type = typename Body::value_type;
  using backend_type = typename Body::backend_type;
  Body body;

  explicit residual(Body b) : body(std::move(b)) {}
  template <class X>
  X operator()(const X& x) const {
    const nn::module_scope scope_(this);
    auto y = body(x);
    if (y.shape() != x.shape())
      fail<shape_error>("nn::residual", "body maps ", x.shape(), " to ", y.shape(),
                        "; a residual body must keep the shape");
    return x + y;
  }
  template <class F>
  void visit(F&& f) {
    f("body", body);
  }
};

/// Activations and reshapes as layers for chains.
namespace act {
struct relu {
  template <class X>
  X operator()(const X& x) const {
    const nn::module_scope scope_(this);
    return bijgan::relu(x);
  }
};
struct gelu {
  template <class X>
  X operator()(const X& x) const {
    const nn::module_scope scope_(this);
    return bijgan::gelu(x);
  }
};
struct tanh {
  template <class X>
  X operator()(const X& x) const {
    const nn::module_scope scope_(this);
    return bijgan::tanh(x);
  }
};
struct sigmoid {
  template <class X>
  X operator()(const X& x) const {
    const nn::module_scope scope_(this);
    return bijgan::sigmoid(x);
  }
};
struct leaky_relu {
  double slope = 0.2;
  template <class X>
  X operator()(const X& x) const {
    const nn::module_scope scope_(this);
    return bijgan::leaky_relu(x, static_cast<typename X::value_type>(slope));
  }
};
/// (N, ...) -> (N, prod(...)).
struct flatten {
  template <class X>
  X operator()(const X& x) const {
    const nn::module_scope scope_(this);
    return bijgan::flatten(x, 1, -1);
  }
};
struct max_pool2d {
  pool2d_options options{};
  template <class X>
  X operator()(const X& x) const {
    const nn::module_scope scope_(this);
    return bijgan::max_pool2d(x, options);
  }
};
struct avg_pool2d {
  pool2d_options options{};
  template <class X>
  X operator()(const X& x) const {
    const nn::module_scope scope_(this);
    return bijgan::avg_pool2d(x, options);
  }
};
}  // namespace act

/// The type of module M with its parameters on backend To: M<T, B> becomes M<T, To> (also with
/// leading configuration parameters: M<Cfg, T, B>, M<Cfg, Mode, T, B>); wrappers W<Inner> and
/// W<Inner...> (chains, residuals, couplings, flow sequences) rebind what they wrap;
/// parameter-free layers stay as they are.
template <class M, class To>
struct rebind {
  using type = M;
};
template <template <class, class> class M, class T, class B, class To>
requires backend<B, T>
struct rebind<M<T, B>, To> {
  using type = M<T, To>;
};
template <template <auto, class, class> class M, auto C, class T, class B, class To>
struct rebind<M<C, T, B>, To> {
  using type = M<C, T, To>;
};
template <template <auto, auto, class, class> class M, auto C, auto D, class T, class B, class To>
struct rebind<M<C, D, T, B>, To> {
  using type = M<C, D, T, To>;
};
template <template <class...> class W, class... Inner, class To>
struct rebind<W<Inner...>, To> {
  using type = W<typename rebind<Inner, To>::type...>;
};
template <class M, class To>
using rebind_t = typename rebind<M, To>::type;

/// A copy of module m with every parameter and buffer moved to backend To (the same values;
/// parameters stay trainable): `nn::to<cuda_device>(model)`. The copy is first built with m's
/// structure, then every leaf is copied over in visit order. Building it uses, in this order:
/// `m.rebuild<To>()` (a member the type provides: flow steps, couplings), `R(m.body)` (residual),
/// `R(m.options, generator)`, `R(generator)`; chains convert their layers. A module type that
/// none of these fit, or whose rebound type is not on To, is a compile error naming nn::to.
/// A progressive model's stage and fade-in (set_stage / stage() / alpha()) are carried over.
/// nn::to<host> of a host module is a deep copy.
template <class To, class M>
rebind_t<M, To> to(const M& m) {
  using R = rebind_t<M, To>;
  if constexpr (detail::is_chain<M>::value) {
    return std::apply([](const auto&... l) { return R(nn::to<To>(l)...); }, m.layers);
  } else if constexpr (!module<M>) {
    if constexpr (std::is_same_v<R, M>)
      return m;  // activations, lambdas
    else if constexpr (requires { m.template rebuild<To>(); })
      return m.template rebuild<To>();
    else
      return R{};  // parameter-free typed layers (squeeze)
  } else {
    static_assert(std::is_same_v<typename R::backend_type, To>,
                  "nn::to: this module type cannot be rebound to the target backend; give it template parameters "
                  "<..., T, B> or a member template rebuild<To>() returning the module on To");
    if constexpr (requires { R(nn::to<To>(m.body)); }) {
      return R(nn::to<To>(m.body));
    } else {
      rng scratch(0);  // the initial values are overwritten below
      R out = [&] {
        if constexpr (requires { m.template rebuild<To>(); })
          return m.template rebuild<To>();
        else if constexpr (requires { R(m.options, scratch); })
          return R(m.options, scratch);
        else
          return R(scratch);
      }();
      // Walk both in visit order: the structures are the same, so the leaves pair up.
      using T = typename M::value_type;
      using From = typename M::backend_type;
      std::vector<const var<T, From>*> vars;
      std::vector<const tensor<T, From>*> buffers;
      std::vector<const train_flag*> flags;
      walk_const(m, [&](const std::string&, auto& x) {
        using X = std::remove_cvref_t<decltype(x)>;
        if constexpr (detail::is_var<X>::value)
          vars.push_back(&x);
        else if constexpr (detail::is_tensor<X>::value)
          buffers.push_back(&x);
        else
          flags.push_back(&x);
      });
      // Own storage on the target, also when it is the same backend.
      const auto moved = [](const tensor<T, From>& t) {
        if constexpr (std::is_same_v<To, From>)
          return t.clone();
        else
          return bijgan::to<To>(t);
      };
      std::size_t iv = 0, ib = 0, iflag = 0;
      walk(out, std::string(), [&](const std::string& path, auto& x) {
        using X = std::remove_cvref_t<decltype(x)>;
        if constexpr (detail::is_var<X>::value) {
          if (iv >= vars.size()) fail<shape_error>("nn::to", "structure differs at ", path);
          const auto& src = *vars[iv++];
          x = X(moved(src.value()), src.requires_grad());
        } else if constexpr (detail::is_tensor<X>::value) {
          if (ib >= buffers.size()) fail<shape_error>("nn::to", "structure differs at ", path);
          x = moved(*buffers[ib++]);
        } else {
          if (iflag >= flags.size()) fail<shape_error>("nn::to", "structure differs at ", path);
          x = *flags[iflag++];
        }
      });
      // Progressive models keep their stage and fade-in outside the leaves.
      if constexpr (requires { out.set_stage(m.stage(), m.alpha()); }) out.set_stage(m.stage(), m.alpha());
      return out;
    }
  }
}

}  // namespace bijgan::nn
