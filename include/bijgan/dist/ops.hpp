// Differentiable collectives for batch-wide terms with global semantics (docs/distributed.md):
// all_reduce_sum and all_gather on var. Under data parallelism every rank computes such a term
// on the same gathered values, and the trainers average gradients over ranks; the backward rule
// of both is an allreduce-sum of the incoming gradient (the term's gradient arrives on every
// rank), which makes the averaged gradient that of the single-process term. The rules are
// themselves var ops, so they can be differentiated again.
#pragma once

#include "bijgan/autodiff/var.hpp"
#include "bijgan/dist/communicator.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan::dist {

/// The sum of x over all ranks (the same shape on every rank). Backward: the sum of the
/// gradients over ranks. One rank: x itself.
template <class T, class B>
var<T, B> all_reduce_sum(const communicator_ref& c, const var<T, B>& x) {
  if (c.size() == 1) return x;
  auto v = x.value().clone();
  allreduce(c, v, reduce_op::sum);
  return var<T, B>::make(std::move(v), "dist::all_reduce_sum", {x},
                         [c](const auto&, const auto& g, auto gr) { gr[0] = all_reduce_sum(c, g); });
}

/// Every rank's x (N, ...) concatenated along axis 0 in rank order: (size()·N, ...); the same
/// N on every rank. Backward: this rank's rows of the gradient summed over ranks.
template <class T, class B>
var<T, B> all_gather(const communicator_ref& c, const var<T, B>& x) {
  if (c.size() == 1) return x;
  const index_t rows = x.size(0), first = rows * c.rank();
  return var<T, B>::make(allgather(c, x.value()), "dist::all_gather", {x},
                         [c, rows, first](const auto&, const auto& g, auto gr) {
                           gr[0] = slice(all_reduce_sum(c, g), 0, first, first + rows);
                         });
}

}  // namespace bijgan::dist
