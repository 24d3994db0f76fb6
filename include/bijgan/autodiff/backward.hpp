// The reverse-mode engine: backward(loss) accumulates .grad() on leaves; grad(outputs, inputs)
// returns gradients as vars, which are themselves differentiable when create_graph is set.
#pragma once

#include <unordered_set>
#include <vector>

#include "bijgan/autodiff/var.hpp"
#include "bijgan/config/instances.hpp"

namespace bijgan {

/// Options of grad().
template <class T, class B>
struct grad_options {
  /// Record the gradient computation so its result can be differentiated again.
  bool create_graph = false;
  /// Seeds for the outputs (one per output); empty means ones (outputs must then be scalars
  /// or the seed is taken as all-ones of the output's shape).
  std::vector<var<T, B>> grad_outputs = {};
};

namespace detail {

/// Nodes reachable from roots through inputs that require grad, in topological order
/// (every node after all nodes it feeds into, i.e. roots first). Nodes in `stop` are reached
/// but not walked through (a sub-graph's boundary: ops/checkpoint.hpp).
template <class T, class B>
std::vector<var<T, B>> reverse_topological(const std::vector<var<T, B>>& roots,
                                           const std::unordered_set<const void*>& stop = {}) {
  std::vector<var<T, B>> order;
  std::unordered_set<const void*> seen;
  struct frame {
    var<T, B> v;
    std::size_t next;
  };
  std::vector<frame> stack;
  for (const auto& r : roots) {
    if (!r.requires_grad() || !seen.insert(r.id()).second) continue;
    stack.push_back({r, 0});
    while (!stack.empty()) {
      auto& f = stack.back();
      const auto& ins = f.v.inputs();
      if (f.next < ins.size() && !stop.contains(f.v.id())) {
        const auto& c = ins[f.next++];
        if (c.requires_grad() && seen.insert(c.id()).second) stack.push_back({c, 0});
      } else {
        order.push_back(f.v);
        stack.pop_back();
      }
    }
  }
  return {order.rbegin(), order.rend()};  // post-order reversed: consumers before producers
}

/// a + b for two gradients of the same shape, recorded (when create_graph is on) as a node whose
/// rule hands the incoming gradient to both: the one op the engine itself needs, so autodiff/
/// does not depend on ops/.
template <class T, class B>
var<T, B> accumulate(const var<T, B>& a, const var<T, B>& b) {
  return var<T, B>::make(apply(fn::add{}, a.value(), b.value(), "accumulate"), "accumulate", {a, b},
                         [](const var<T, B>&, const var<T, B>& g, grad_slots<T, B> gr) {
                           gr[0] = g;
                           gr[1] = g;
                         });
}

/// Adds g to the gradient being accumulated on v during a sweep.
template <class T, class B>
void add_pending(const var<T, B>& v, const var<T, B>& g) {
  auto& p = graph_access<T, B>::node(v).pending;
  p = p.defined() ? accumulate(p, g) : g;
}

/// Runs the backward sweep from seeded roots, leaving each reached node's total gradient in
/// its `pending` slot; the caller reads and clears them. With `targets` (grad()), only nodes
/// that lead to a target are visited and only gradients toward targets are computed; targets
/// keep their gradient even when they are interior nodes. Without targets (backward()), every
/// node that requires grad is visited. With `stop`, the walk ends at those nodes (they must be
/// targets: their gradient is read, nothing is propagated past them).
template <class T, class B>
std::vector<var<T, B>> sweep(const std::vector<var<T, B>>& roots, const std::vector<var<T, B>>& seeds,
                             bool create_graph, const std::unordered_set<const void*>& targets = {},
                             const std::unordered_set<const void*>& stop = {}) {
  enable_grad mode(create_graph);
  auto order = reverse_topological(roots, stop);
  std::unordered_set<const void*> needed;
  if (!targets.empty()) {
    for (auto it = order.rbegin(); it != order.rend(); ++it) {  // producers before consumers
      bool need = targets.contains(it->id());
      for (const auto& in : it->inputs()) need = need || needed.contains(in.id());
      if (need) needed.insert(it->id());
    }
  }
  const auto is_needed = [&](const var<T, B>& v) {
    return targets.empty() ? v.requires_grad() : needed.contains(v.id());
  };
  try {
    for (std::size_t i = 0; i < roots.size(); ++i) {
      if (roots[i].requires_grad()) add_pending(roots[i], seeds[i]);
    }
    std::vector<var<T, B>> grads;
    std::vector<char> wanted;
    for (const auto& v : order) {
      auto& nd = graph_access<T, B>::node(v);
      if (!nd.backward || !nd.pending.defined() || !is_needed(v) || stop.contains(v.id())) continue;
      grads.assign(nd.inputs.size(), var<T, B>());
      wanted.assign(nd.inputs.size(), 0);
      for (std::size_t i = 0; i < nd.inputs.size(); ++i)
        wanted[i] = nd.inputs[i].requires_grad() && is_needed(nd.inputs[i]);
      nd.backward(v, nd.pending, grad_slots<T, B>(grads, wanted));
      for (std::size_t i = 0; i < nd.inputs.size(); ++i) {
        const auto& in = nd.inputs[i];
        if (!grads[i].defined() || !wanted[i]) continue;
        if (!(grads[i].shape() == in.shape()))
          fail<shape_error>(nd.op, "backward produced a gradient of shape ", grads[i].shape(), " for input ", i,
                            " of shape ", in.shape());
        if (anomaly_enabled() && !all_finite(grads[i].value()))
          fail<value_error>(nd.op, "backward produced NaN or Inf for input ", i, " [anomaly mode]");
        add_pending(in, grads[i]);
      }
      if (!nd.inputs.empty() && !targets.contains(v.id())) nd.pending = var<T, B>();  // interior gradients are not kept
    }
  } catch (...) {
    for (const auto& v : order) graph_access<T, B>::node(v).pending = var<T, B>();
    throw;
  }
  return order;
}

template <class T, class B>
var<T, B> seed_for(const var<T, B>& out) {
  return constant(tensor<T, B>::ones(out.shape()));
}

}  // namespace detail

/// Accumulates d(loss)/d(leaf) into leaf.grad() for every leaf that requires grad. loss is
/// usually a scalar; for a non-scalar loss the seed is all ones (the gradient of sum(loss)).
/// The graph stays intact, so backward may run again (gradients then add up).
template <class T, class B>
void backward(const var<T, B>& loss) {
  if (!loss.defined()) fail<value_error>("backward", "undefined var");
  if (!loss.requires_grad()) fail<value_error>("backward", "the loss does not depend on any var that requires grad");
  const std::vector<var<T, B>> roots{loss};
  auto order = detail::sweep(roots, {detail::seed_for(loss)}, false);
  for (const auto& v : order) {
    auto& nd = graph_access<T, B>::node(v);
    if (!nd.inputs.empty() || !nd.pending.defined()) continue;
    const auto& g = nd.pending.value();
    nd.grad = nd.grad.defined() ? apply(fn::add{}, nd.grad, g) : g;
    nd.pending = var<T, B>();
  }
}

/// Gradients of sum(outputs · seeds) with respect to each input, as vars in the inputs' order.
/// An input the outputs do not depend on gets zeros. With create_graph the results are
/// differentiable (double backprop, e.g. the WGAN-GP penalty); .grad() of leaves is untouched.
template <class T, class B>
std::vector<var<T, B>> grad(const std::vector<var<T, B>>& outputs, const std::vector<var<T, B>>& inputs,
                            grad_options<T, B> opts = {}) {
  std::vector<var<T, B>> seeds = opts.grad_outputs;
  if (seeds.empty())
    for (const auto& o : outputs) seeds.push_back(detail::seed_for(o));
  if (seeds.size() != outputs.size())
    fail<value_error>("grad", seeds.size(), " seeds for ", outputs.size(), " outputs");
  for (std::size_t i = 0; i < outputs.size(); ++i)
    if (!(seeds[i].shape() == outputs[i].shape()))
      fail<shape_error>("grad", "seed ", i, " has shape ", seeds[i].shape(), ", output has ", outputs[i].shape());
  std::unordered_set<const void*> keep;
  for (const auto& in : inputs) keep.insert(in.id());
  auto order = detail::sweep(outputs, seeds, opts.create_graph, keep);
  std::vector<var<T, B>> result;
  result.reserve(inputs.size());
  for (const auto& in : inputs) {
    auto& p = graph_access<T, B>::node(in).pending;
    result.push_back(p.defined() ? p : constant(tensor<T, B>::zeros(in.shape())));
  }
  for (const auto& v : order) graph_access<T, B>::node(v).pending = var<T, B>();
  for (const auto& in : inputs) graph_access<T, B>::node(in).pending = var<T, B>();
  return result;
}

/// Single-output, single-input convenience form of grad().
template <class T, class B>
var<T, B> grad(const var<T, B>& output, const var<T, B>& input, grad_options<T, B> opts = {}) {
  return grad(std::vector<var<T, B>>{output}, std::vector<var<T, B>>{input}, std::move(opts))[0];
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_BACKWARD_INSTANCES(X, T, B)                                                                         \
  X void backward(const var<T, B>&);                                                                               \
  X std::vector<var<T, B>> grad(const std::vector<var<T, B>>&, const std::vector<var<T, B>>&, grad_options<T, B>); \
  X var<T, B> grad(const var<T, B>&, const var<T, B>&, grad_options<T, B>);
BIJGAN_EXTERN_INSTANCES(BIJGAN_BACKWARD_INSTANCES)

}  // namespace bijgan
