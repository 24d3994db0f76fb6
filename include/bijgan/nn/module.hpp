// The module machinery. A module is a value type with one member function
//     template <class F> void visit(F&& f) { f("weight", weight); f("block", block); ... }
// that names each of its members: parameters (var), buffers (tensor: running statistics),
// train_flags, sub-modules (anything with visit) and std::vectors of sub-modules. Everything
// else is derived from it here, generically: parameters(), named_parameters() with dotted
// paths, buffers, train()/eval(), parameter counts and state copies between modules.
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "bijgan/autodiff/var.hpp"

namespace bijgan::nn {

/// Whether a module is training (batch statistics, dropout active) or evaluating. Modules whose
/// forward depends on the mode hold one and visit it; train()/eval() set them all.
struct train_flag {
  bool on = true;
};

namespace detail {
template <class T>
struct is_var : std::false_type {};
template <class T, class B>
struct is_var<var<T, B>> : std::true_type {};
template <class T>
struct is_tensor : std::false_type {};
template <class T, class B>
struct is_tensor<tensor<T, B>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

/// Accepts any (name, member) call: used to ask whether a type has visit().
struct any_member {
  template <class M>
  void operator()(const char*, M&) const {}
};
}  // namespace detail

/// A type with a visit(f) member naming its members, and value_type / backend_type naming the
/// element type and backend of its parameters.
template <class M>
concept module = requires(M& m) {
  typename M::value_type;
  typename M::backend_type;
  m.visit(detail::any_member{});
};

/// The var type of a module's parameters.
template <module M>
using var_of = var<typename M::value_type, typename M::backend_type>;

/// Calls leaf(path, member) for every var, buffer tensor and train_flag of m, depth first in
/// visit order; sub-modules and vectors extend the dotted path ("blocks.0.attn.qkv.weight").
/// Undefined vars (a disabled bias) are skipped.
template <module M, class Leaf>
void walk(M& m, const std::string& prefix, Leaf&& leaf) {
  m.visit([&](const char* name, auto& member) {
    using X = std::remove_cvref_t<decltype(member)>;
    const std::string path = prefix.empty() ? std::string(name) : prefix + "." + name;
    if constexpr (detail::is_var<X>::value) {
      if (member.defined()) leaf(path, member);
    } else if constexpr (detail::is_tensor<X>::value || std::is_same_v<X, train_flag>) {
      leaf(path, member);
    } else if constexpr (detail::is_vector<X>::value) {
      for (std::size_t i = 0; i < member.size(); ++i) walk(member[i], path + "." + std::to_string(i), leaf);
    } else {
      static_assert(module<X>,
                    "visit() named a member that is not a var (parameter), a tensor (buffer), an nn::train_flag, "
                    "a module (a type with visit) or a std::vector of modules");
      walk(member, path, leaf);
    }
  });
}

/// walk over a const module: visiting does not change it; only the read-only helpers below use it.
template <module M, class Leaf>
void walk_const(const M& m, Leaf&& leaf) {
  walk(const_cast<M&>(m), std::string(), std::forward<Leaf>(leaf));
}

/// Every parameter with its dotted path, in visit order (the handles share the module's nodes).
template <module M>
auto named_parameters(const M& m) {
  using V = var_of<M>;
  std::vector<std::pair<std::string, V>> out;
  walk_const(m, [&](const std::string& path, auto& x) {
    if constexpr (detail::is_var<std::remove_cvref_t<decltype(x)>>::value) out.emplace_back(path, x);
  });
  return out;
}

/// Every parameter, in visit order.
template <module M>
auto parameters(const M& m) {
  using V = var_of<M>;
  std::vector<V> out;
  walk_const(m, [&](const std::string&, auto& x) {
    if constexpr (detail::is_var<std::remove_cvref_t<decltype(x)>>::value) out.push_back(x);
  });
  return out;
}

/// Every buffer (non-trained state such as running statistics) with its dotted path. The
/// returned tensors share storage with the module's.
template <module M>
auto named_buffers(M& m) {
  using V = var_of<M>;
  std::vector<std::pair<std::string, typename V::tensor_type*>> out;
  walk(m, std::string(), [&](const std::string& path, auto& x) {
    if constexpr (detail::is_tensor<std::remove_cvref_t<decltype(x)>>::value) out.emplace_back(path, &x);
  });
  return out;
}

/// Number of trainable scalars.
template <module M>
index_t parameter_count(const M& m) {
  index_t n = 0;
  walk_const(m, [&](const std::string&, auto& x) {
    if constexpr (detail::is_var<std::remove_cvref_t<decltype(x)>>::value) n += x.numel();
  });
  return n;
}

/// Sets every train_flag of m (training: true) and returns m.
template <module M>
M& set_training(M& m, bool training) {
  walk(m, std::string(), [&](const std::string&, auto& x) {
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, train_flag>) x.on = training;
  });
  return m;
}
template <module M>
M& train(M& m) {
  return set_training(m, true);
}
template <module M>
M& eval(M& m) {
  return set_training(m, false);
}

/// Drops the accumulated gradient of every parameter.
template <module M>
void zero_grad(const M& m) {
  for (const auto& p : parameters(m)) p.zero_grad();
}

/// A deep copy of m: the same structure with its own parameter and buffer storage (modules
/// are handles to shared nodes, so a plain copy shares its parameters with the original).
template <module M>
M clone(const M& m) {
  M c = m;
  walk(c, std::string(), [](const std::string&, auto& x) {
    using X = std::remove_cvref_t<decltype(x)>;
    if constexpr (detail::is_var<X>::value)
      x = X(x.value().clone(), x.requires_grad());
    else if constexpr (detail::is_tensor<X>::value)
      x = x.clone();
  });
  return c;
}

/// A frozen view of m: the same structure whose parameters are constants sharing m's values
/// (no copy of the data). Differentiating through it gives gradients for its inputs only — a
/// critic, engine or flow that is used but not trained in a step costs no weight gradients.
/// Storage is shared, so the view follows the optimizer's in-place updates of m.
template <module M>
M frozen(const M& m) {
  M c = m;
  walk(c, std::string(), [](const std::string&, auto& x) {
    using X = std::remove_cvref_t<decltype(x)>;
    if constexpr (detail::is_var<X>::value) x = X(x.value(), false);
  });
  return c;
}

}  // namespace bijgan::nn
