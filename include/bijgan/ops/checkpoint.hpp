// Gradient checkpointing (recomputation): checkpoint(f, inputs, params) runs f without keeping
// its graph and records one node whose backward rule runs f again, with recording on, and
// differentiates that copy. The graph of a segment then lives only while its own backward runs:
// memory for compute (one more forward of f). Works under create_graph (the recomputed graph is
// built on the real inputs and parameters, so gradients of gradients stay exact).
#pragma once

#include <unordered_set>
#include <utility>
#include <vector>

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan {

namespace detail {
/// Walks the graph of outs down to `boundary` and fails if it reaches a var that requires
/// grad outside it: f read something it was not given, whose gradient would be lost.
template <class T, class B>
void check_checkpoint_boundary(const std::vector<var<T, B>>& outs, const std::unordered_set<const void*>& boundary) {
  for (const auto& v : reverse_topological(outs, boundary))
    if (v.is_leaf() && !boundary.contains(v.id()))
      fail<value_error>("checkpoint", "the function reads a var of shape ", v.shape(),
                        " that requires grad but is neither among its inputs nor its parameters; pass it in `params` "
                        "(e.g. nn::parameters(module)), or its gradient would be lost");
}
}  // namespace detail

/// outs = f(inputs), with f's intermediate results recomputed during the backward pass instead
/// of kept. f: (const std::vector<var>&) -> std::vector<var>, and must be deterministic (no
/// dropout, no random draws, no state it updates: batch norm's running statistics would move
/// twice). params: every var f reads that requires grad other than the inputs (a module's
/// parameters); reading another one is a value_error at the first call, never a lost gradient.
/// f is copied into the graph, so what it captures must be owned or outlive the backward pass
/// (capture modules by value: their parameters are shared, not copied). Where nothing requires
/// grad, or recording is off, this is f(inputs).
template <class T, class B, class F>
std::vector<var<T, B>> checkpoint(F f, const std::vector<var<T, B>>& inputs,
                                  const std::vector<var<T, B>>& params = {}) {
  std::vector<var<T, B>> boundary;  // what requires grad among inputs and params, each once
  std::unordered_set<const void*> ids;
  for (const auto* list : {&inputs, &params})
    for (const auto& v : *list) {
      if (!v.defined()) fail<value_error>("checkpoint", "an input or parameter is undefined");
      if (v.requires_grad() && ids.insert(v.id()).second) boundary.push_back(v);
    }
  if (!grad_enabled() || boundary.empty()) return f(inputs);

  // The first run records f's graph only to check the boundary; the outputs' values are packed
  // into the one node's value and the graph is dropped.
  std::vector<shape> shapes;
  tensor<T, B> packed;
  {
    const auto outs = f(inputs);
    if (outs.empty()) fail<value_error>("checkpoint", "the function returned no outputs");
    detail::check_checkpoint_boundary(outs, ids);
    const no_grad off;
    std::vector<var<T, B>> flat;
    for (const auto& o : outs) {
      if (!o.defined()) fail<value_error>("checkpoint", "the function returned an undefined var");
      shapes.push_back(o.shape());
      flat.push_back(reshape(o.detach(), shape{o.numel()}));
    }
    packed = concat(flat, 0).value();
  }

  // Backward: f again with recording on, on the real inputs and parameters, then a sweep of
  // that copy alone (it stops at the boundary, whose pending gradients of the outer sweep are
  // set aside meanwhile).
  auto rule = [f, inputs, ids, shapes](const var<T, B>& out, const var<T, B>& grad_out, grad_slots<T, B> grads) {
    const bool create_graph = grad_enabled();  // the outer sweep records its gradients when asked to
    const auto& bnd = out.inputs();
    std::unordered_set<const void*> wanted;
    for (std::size_t i = 0; i < bnd.size(); ++i)
      if (grads.wanted(i)) wanted.insert(bnd[i].id());
    if (wanted.empty()) return;
    std::vector<var<T, B>> outs;
    {
      const enable_grad on(true);
      outs = f(inputs);
    }
    if (outs.size() != shapes.size())
      fail<value_error>("checkpoint", "the function returned ", outs.size(), " outputs when recomputed, ",
                        shapes.size(), " the first time: it must be deterministic");
    std::vector<var<T, B>> roots, seeds;
    index_t offset = 0;
    for (std::size_t i = 0; i < outs.size(); ++i) {
      const index_t n = shapes[i].numel();
      if (!(outs[i].shape() == shapes[i]))
        fail<value_error>("checkpoint", "output ", i, " has shape ", outs[i].shape(), " when recomputed, ", shapes[i],
                          " the first time: the function must be deterministic");
      if (outs[i].requires_grad()) {
        roots.push_back(outs[i]);
        seeds.push_back(reshape(slice(grad_out, 0, offset, offset + n), shapes[i]));
      }
      offset += n;
    }
    if (roots.empty()) return;
    // The outer sweep's pending gradients on the boundary, set aside and put back on every exit.
    struct set_aside {
      const std::vector<var<T, B>>& nodes;
      std::vector<var<T, B>> saved;
      ~set_aside() {
        for (std::size_t i = 0; i < saved.size(); ++i) graph_access<T, B>::node(nodes[i]).pending = std::move(saved[i]);
      }
    } outer{bnd, {}};
    for (const auto& b : bnd) outer.saved.push_back(std::exchange(graph_access<T, B>::node(b).pending, var<T, B>()));
    const auto order = detail::sweep(roots, seeds, create_graph, wanted, ids);
    for (std::size_t i = 0; i < bnd.size(); ++i)
      if (grads.wanted(i)) grads[i] = graph_access<T, B>::node(bnd[i]).pending;
    for (const auto& v : order) graph_access<T, B>::node(v).pending = var<T, B>();
  };
  const auto node = var<T, B>::make(std::move(packed), "checkpoint", boundary, std::move(rule));
  std::vector<var<T, B>> outs;
  index_t offset = 0;
  for (const auto& s : shapes) {
    outs.push_back(reshape(slice(node, 0, offset, offset + s.numel()), s));
    offset += s.numel();
  }
  return outs;
}

/// checkpoint(f, {x}, {w, b}): the same with braced lists.
template <class T, class B, class F>
std::vector<var<T, B>> checkpoint(F f, std::initializer_list<var<T, B>> inputs,
                                  std::initializer_list<var<T, B>> params = {}) {
  return checkpoint(std::move(f), std::vector<var<T, B>>(inputs), std::vector<var<T, B>>(params));
}

}  // namespace bijgan
