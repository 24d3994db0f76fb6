// Differentiable scaled dot-product attention, softmax(q k^T * scale + bias) v (Vaswani et al.
// 2017, Eq. 1), run by the tiled kernels of tensor/attention.hpp: the graph keeps q, k, v, bias,
// the output and one log-sum-exp per query row, never the (Lq x Lk) scores or probabilities.
// Gradients of gradients (the WGAN-GP penalty through an attention critic) take the composed
// path, which is exact and differentiable again but stores the scores while it runs.
#pragma once

#include <cmath>

#include "bijgan/config/instances.hpp"
#include "bijgan/ops/linalg.hpp"
#include "bijgan/ops/reduce.hpp"
#include "bijgan/tensor/attention.hpp"

namespace bijgan {

namespace detail {
inline bool& reference_attention_flag() {
  thread_local bool on = false;
  return on;
}

/// softmax(q k^T * scale + bias) as var ops: the reference, and the differentiable path.
template <class T, class B>
var<T, B> attention_probabilities(const var<T, B>& q, const var<T, B>& k, const var<T, B>& bias, T scale) {
  auto s = matmul(q, k, false, true) * scale;
  if (bias.defined()) s = s + bias;
  return softmax(s, -1);
}
}  // namespace detail

/// Scope in which scaled_dot_product_attention records the composed ops (matmul, softmax,
/// matmul) instead of the tiled kernel: the reference the tiled op is tested against, and a way
/// to look at the intermediate scores when debugging. Thread-local, like no_grad.
class reference_attention : detail::scoped_flag {
 public:
  reference_attention() : scoped_flag(detail::reference_attention_flag(), true) {}
};

/// softmax(q k^T * scale + bias) v for every batch entry and head.
/// q (N, H, Lq, d), k (N, H, Lk, d), v (N, H, Lk, dv) → (N, H, Lq, dv). bias (optional)
/// broadcasts to (N, H, Lq, Lk) with last two extents exactly (Lq, Lk): e.g. (H, Lq, Lk) for a
/// relative position bias, (N, 1, Lq, Lk) for a mask (-inf where a key is hidden; a row with no
/// visible key gives 0). o.scale 0 means 1 / sqrt(d). Shapes are checked (shape_error naming the
/// op). Memory: O(N H (Lq + Lk) d) kept for backward plus one tile (o.tiling) while running.
template <class T, class B>
var<T, B> scaled_dot_product_attention(const var<T, B>& q, const var<T, B>& k, const var<T, B>& v,
                                       const var<T, B>& bias = {}, const attention_options& o = {}) {
  constexpr const char* op = "scaled_dot_product_attention";
  if (!q.defined() || !k.defined() || !v.defined()) fail<value_error>(op, "q, k and v must be defined");
  const auto plan =
      detail::plan_attention(q.shape(), k.shape(), v.shape(), bias.defined() ? &bias.shape() : nullptr, o, op);
  const T scale = static_cast<T>(plan.scale);
  if (detail::reference_attention_flag()) return matmul(detail::attention_probabilities(q, k, bias, scale), v);
  auto r = attention_forward(q.value(), k.value(), v.value(), bias.defined() ? bias.value() : tensor<T, B>(), o);
  std::vector<var<T, B>> inputs{q, k, v};
  if (bias.defined()) inputs.push_back(bias);
  return var<T, B>::make(
      std::move(r.out), op, inputs, [o, scale, lse = std::move(r.lse)](const auto& out, const auto& g, auto gr) {
        const auto& in = out.inputs();
        const var<T, B> b = in.size() > 3 ? in[3] : var<T, B>();
        if (grad_enabled()) {
          // create_graph: the gradient must itself be differentiable, so it is written with var
          // ops on recomputed probabilities P (dS = P (dP - rowsum(dP o P))).
          const auto prob = detail::attention_probabilities(in[0], in[1], b, scale);
          if (gr.wanted(2)) gr[2] = matmul(prob, g, true, false);
          if (!gr.wanted(0) && !gr.wanted(1) && !(b.defined() && gr.wanted(3))) return;
          const auto dp = matmul(g, in[2], false, true);
          const auto ds = prob * (dp - sum(dp * prob, {-1}, true));
          if (gr.wanted(0)) gr[0] = matmul(ds, in[1]) * scale;
          if (gr.wanted(1)) gr[1] = matmul(ds, in[0], true, false) * scale;
          if (b.defined() && gr.wanted(3)) gr[3] = sum_to(ds, b.shape());
          return;
        }
        auto d = attention_backward(
            in[0].value(), in[1].value(), in[2].value(), b.defined() ? b.value() : tensor<T, B>(), out.value(), lse,
            g.value(), o,
            {.q = gr.wanted(0), .k = gr.wanted(1), .v = gr.wanted(2), .bias = b.defined() && gr.wanted(3)});
        if (d.q.defined()) gr[0] = constant(std::move(d.q));
        if (d.k.defined()) gr[1] = constant(std::move(d.k));
        if (d.v.defined()) gr[2] = constant(std::move(d.v));
        if (d.bias.defined()) gr[3] = constant(std::move(d.bias));
      });
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_ATTENTION_INSTANCES(X, T, B)                                                                        \
  X var<T, B> detail::attention_probabilities(const var<T, B>&, const var<T, B>&, const var<T, B>&, T);            \
  X var<T, B> scaled_dot_product_attention(const var<T, B>&, const var<T, B>&, const var<T, B>&, const var<T, B>&, \
                                           const attention_options&);
BIJGAN_EXTERN_INSTANCES(BIJGAN_ATTENTION_INSTANCES)

}  // namespace bijgan
