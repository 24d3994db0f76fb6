// Differentiable linear algebra on var: batched matmul with transposes, L2 norm, cosine
// similarity.
#pragma once

#include <limits>

#include "bijgan/config/instances.hpp"
#include "bijgan/ops/reduce.hpp"

namespace bijgan {

/// op(a) * op(b) over the trailing two axes; leading (batch) axes broadcast. op is a transpose
/// of the last two axes when trans_a / trans_b is set. Throws shape_error on mismatched k.
template <class T, class B>
var<T, B> matmul(const var<T, B>& a, const var<T, B>& b, bool trans_a = false, bool trans_b = false) {
  auto v = matmul(a.value(), b.value(), trans_a, trans_b);
  return var<T, B>::make(std::move(v), "matmul", {a, b}, [trans_a, trans_b](const auto& out, const auto& g, auto gr) {
    const auto& A = out.inputs()[0];
    const auto& Bm = out.inputs()[1];
    // C = op(A) op(B): each case is the product rule with the transposes folded into the GEMM.
    if (gr.wanted(0)) {
      const auto ga = !trans_a ? (!trans_b ? matmul(g, Bm, false, true) : matmul(g, Bm, false, false))
                               : (!trans_b ? matmul(Bm, g, false, true) : matmul(Bm, g, true, true));
      gr[0] = sum_to(ga, A.shape());
    }
    if (gr.wanted(1)) {
      const auto gb = !trans_b ? (!trans_a ? matmul(A, g, true, false) : matmul(A, g, false, false))
                               : (!trans_a ? matmul(g, A, true, false) : matmul(g, A, true, true));
      gr[1] = sum_to(gb, Bm.shape());
    }
  });
}

/// Euclidean norm over axes. The gradient at a zero vector is 0 (a subgradient), not NaN.
template <class T, class B>
var<T, B> l2_norm(const var<T, B>& x, axes_t axes = {}, bool keepdim = false) {
  const auto ss = reduce(reduce_kind::sum, apply(fn::square{}, x.value()), axes, keepdim, "l2_norm");
  return var<T, B>::make(apply(fn::sqrt{}, ss), "l2_norm", {x}, [axes](const auto& out, const auto& g, auto gr) {
    const auto& in = out.inputs()[0];
    const shape ks = detail::kept_shape(in, axes, "l2_norm");
    const auto n = reshape(out, ks);
    const auto nonzero = apply(fn::step{}, n.value());
    const auto one = constant(tensor<T, B>::ones(shape{}));
    const auto safe_n = where(nonzero, n, one);  // keeps 1/n finite where n == 0
    gr[0] = where(nonzero, reshape(g, ks) / safe_n, constant(tensor<T, B>::zeros(shape{}))) * in;
  });
}

/// Cosine of the angle between a and b along axis: <a,b> / max(|a||b|, eps).
template <class T, class B>
var<T, B> cosine_similarity(const var<T, B>& a, const var<T, B>& b, index_t axis = -1, T eps = T(1e-8)) {
  const auto dot = sum(a * b, {axis});
  const auto norms =
      sqrt(clamp(sum(square(a), {axis}) * sum(square(b), {axis}), eps * eps, std::numeric_limits<T>::max()));
  return dot / norms;
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_LINALG_INSTANCES(X, T, B)                              \
  X var<T, B> matmul(const var<T, B>&, const var<T, B>&, bool, bool); \
  X var<T, B> l2_norm(const var<T, B>&, axes_t, bool);                \
  X var<T, B> cosine_similarity(const var<T, B>&, const var<T, B>&, index_t, T);
BIJGAN_EXTERN_INSTANCES(BIJGAN_LINALG_INSTANCES)

}  // namespace bijgan
