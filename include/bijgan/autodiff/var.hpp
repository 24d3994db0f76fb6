// var<T, Backend>: a node of the expression graph. It owns its value, its accumulated gradient
// (leaves), the name of the op that made it, its inputs (shared, never dangling) and a backward
// rule written with differentiable ops, so gradients can themselves be differentiated.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "bijgan/autodiff/grad_mode.hpp"
#include "bijgan/config/instances.hpp"
#include "bijgan/tensor/ops.hpp"

namespace bijgan {

template <element T = float, class B = host>
class var;

/// The gradient slots a backward rule fills: one per input of the node, and whether each is
/// wanted (its input requires grad and leads to a var the sweep differentiates for).
template <class T, class B>
class grad_slots {
 public:
  grad_slots(std::span<var<T, B>> grads, std::span<const char> wanted) : grads_(grads), wanted_(wanted) {}
  var<T, B>& operator[](std::size_t i) const { return grads_[i]; }
  [[nodiscard]] bool wanted(std::size_t i) const { return wanted_[i] != 0; }
  [[nodiscard]] std::size_t size() const noexcept { return grads_.size(); }

 private:
  std::span<var<T, B>> grads_;
  std::span<const char> wanted_;
};

/// Backward rule: given the output var and the gradient flowing into it, writes one gradient
/// per wanted input into `grads` (slots left undefined mean "no gradient"). Written with var
/// ops, so the gradients are differentiable again.
template <class T, class B>
using backward_rule = std::function<void(const var<T, B>& out, const var<T, B>& grad_out, grad_slots<T, B> grads)>;

namespace detail {
template <class T, class B>
struct node {
  tensor<T, B> value;
  tensor<T, B> grad;  ///< accumulated by backward() on vars that require grad
  bool requires_grad = false;
  const char* op = "leaf";
  std::vector<var<T, B>> inputs;
  backward_rule<T, B> backward;
  var<T, B> pending;  ///< gradient being accumulated during one backward sweep
};
}  // namespace detail

template <element T, class B>
class var {
 public:
  using value_type = T;
  using backend_type = B;
  using tensor_type = tensor<T, B>;

  /// An undefined var (no node). Ops reject it; grad slots use it for "no gradient".
  var() = default;
  /// A leaf holding value; requires_grad marks it as a parameter or input to differentiate.
  explicit var(tensor_type value, bool requires_grad = false) : n_(std::make_shared<node_t>()) {
    detail::require_defined(value, "var");
    n_->value = std::move(value);
    n_->requires_grad = requires_grad;
  }

  [[nodiscard]] bool defined() const noexcept { return n_ != nullptr; }
  // Every accessor below except requires_grad() and id() throws value_error on an undefined var.
  [[nodiscard]] const tensor_type& value() const { return node("var::value").value; }
  [[nodiscard]] const bijgan::shape& shape() const { return node("var::shape").value.shape(); }
  [[nodiscard]] index_t numel() const { return node("var::numel").value.numel(); }
  [[nodiscard]] std::size_t rank() const { return node("var::rank").value.rank(); }
  [[nodiscard]] index_t size(index_t axis) const { return node("var::size").value.size(axis); }
  [[nodiscard]] T item() const { return node("var::item").value.item(); }
  /// False for an undefined var.
  [[nodiscard]] bool requires_grad() const noexcept { return n_ && n_->requires_grad; }
  /// The gradient accumulated by backward(); undefined when none has reached this var.
  [[nodiscard]] const tensor_type& grad() const { return node("var::grad").grad; }
  /// Drops the accumulated gradient.
  void zero_grad() const { node("var::zero_grad").grad = tensor_type(); }
  /// Replaces the accumulated gradient (optimizers, clipping).
  void set_grad(tensor_type g) const { node("var::set_grad").grad = std::move(g); }
  /// Replaces the value in place (optimizer updates); the shape must not change.
  void set_value(tensor_type v) const {
    auto& nd = node("var::set_value");
    if (!(v.shape() == nd.value.shape()))
      fail<shape_error>("var::set_value", "shape ", v.shape(), " for a var of shape ", nd.value.shape());
    nd.value = std::move(v);
  }
  /// Name of the op that made this var ("leaf" for leaves).
  [[nodiscard]] const char* op() const { return node("var::op").op; }
  [[nodiscard]] const std::vector<var>& inputs() const { return node("var::inputs").inputs; }
  [[nodiscard]] bool is_leaf() const { return node("var::is_leaf").inputs.empty(); }
  /// A leaf sharing this value, cut from the graph.
  [[nodiscard]] var detach() const { return var(node("var::detach").value, false); }
  /// Identity of the underlying node (for graph walks and maps); null for an undefined var.
  [[nodiscard]] const void* id() const noexcept { return n_.get(); }

  /// Records a result of op `name` with the given inputs and backward rule, unless recording is
  /// off or no input requires grad: then a plain leaf, and neither the input list nor the rule
  /// is stored (the fast path under no_grad). Checks for NaN/Inf in anomaly mode.
  template <class Rule>
  static var make(tensor_type value, const char* name, std::initializer_list<var> inputs, Rule&& rule) {
    return make_from(std::move(value), name, inputs.begin(), inputs.end(), std::forward<Rule>(rule));
  }
  template <class Rule>
  static var make(tensor_type value, const char* name, const std::vector<var>& inputs, Rule&& rule) {
    return make_from(std::move(value), name, inputs.data(), inputs.data() + inputs.size(), std::forward<Rule>(rule));
  }

 private:
  using node_t = detail::node<T, B>;

  template <class Rule>
  static var make_from(tensor_type value, const char* name, const var* first, const var* last, Rule&& rule) {
    if (anomaly_enabled() && !all_finite(value))
      fail<value_error>(name, "produced NaN or Inf (shape ", value.shape(), ") [anomaly mode]");
    var out(std::move(value), false);
    bool needs = false;
    if (grad_enabled())
      for (const var* i = first; i != last && !needs; ++i) needs = i->requires_grad();
    if (needs) {
      out.n_->requires_grad = true;
      out.n_->op = name;
      out.n_->inputs.assign(first, last);
      out.n_->backward = std::forward<Rule>(rule);
    }
    return out;
  }
  node_t& node(const char* accessor) const {
    if (!n_) [[unlikely]]
      fail<value_error>(accessor, "undefined var (default-constructed or moved from: it holds no value)");
    return *n_;
  }
  std::shared_ptr<node_t> n_;

  template <class U, class C>
  friend struct graph_access;
};

/// Internal access for the backward engine.
template <class T, class B>
struct graph_access {
  static detail::node<T, B>& node(const var<T, B>& v) { return *v.n_; }
};

/// A constant (no gradient) var holding t.
template <class T, class B>
var<T, B> constant(tensor<T, B> t) {
  return var<T, B>(std::move(t), false);
}
/// A leaf that requires grad (a parameter or an input to differentiate).
template <class T, class B>
var<T, B> parameter(tensor<T, B> t) {
  return var<T, B>(std::move(t), true);
}

/// Copies v's value to backend To as a new leaf with the same requires_grad.
template <class To, class T, class From>
var<T, To> to(const var<T, From>& v) {
  return var<T, To>(to<To>(v.value()), v.requires_grad());
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_VAR_INSTANCES(X, T, B) X class var<T, B>;
BIJGAN_EXTERN_INSTANCES(BIJGAN_VAR_INSTANCES)

}  // namespace bijgan
