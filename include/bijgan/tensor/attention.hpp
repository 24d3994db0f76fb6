// Scaled dot-product attention on tensors, tiled in the manner of FlashAttention (Dao et al.
// 2022): the forward keeps only the output and each query row's log-sum-exp; the backward
// recomputes the scores tile by tile from them. No (Lq x Lk) score matrix of a whole head outlives
// one tile, so memory grows with the sequence length, not its square. Built from the tensor ops,
// so every backend runs it through its own kernels (GEMM, elementwise, reductions).
#pragma once

#include <cmath>
#include <utility>
#include <vector>

#include "bijgan/backend/functors.hpp"
#include "bijgan/config/instances.hpp"
#include "bijgan/tensor/ops.hpp"

namespace bijgan {

/// How attention is cut into tiles. A tile is (a chunk of the batch, a block of queries, a block
/// of keys); its score block holds about max_tile_elements values (at least one query row of
/// one key block for one batch entry). Keys are split into blocks of max_key_block; past one block
/// the softmax runs online (running maximum and sum, rescaled per block).
struct attention_tiling {
  index_t max_tile_elements = index_t{1} << 22;  ///< scores per tile: 16 MiB in float
  index_t max_key_block = 1024;
};

/// Options of scaled dot-product attention.
struct attention_options {
  double scale = 0;  ///< multiplies q k^T; 0 means 1 / sqrt(head_dim)
  attention_tiling tiling = {};
};

/// Output and row statistics of the tiled forward.
template <class T, class B>
struct attention_forward_result {
  tensor<T, B> out;  ///< (N, H, Lq, dv)
  tensor<T, B> lse;  ///< (N, H, Lq, 1): log sum_j exp(score_ij), all that the backward keeps
};

/// Gradients of the tiled backward; a slot not asked for stays undefined.
template <class T, class B>
struct attention_gradients {
  tensor<T, B> q, k, v, bias;
};

/// Which gradients attention_backward computes.
struct attention_wanted {
  bool q = true, k = true, v = true, bias = true;
};

namespace detail {

/// Extents of one attention problem and its tile sizes.
struct attention_plan {
  index_t n = 0, h = 0, lq = 0, lk = 0, dh = 0, dv = 0;
  index_t batch_block = 0, query_block = 0, key_block = 0;
  double scale = 1;
};

/// Checks q (N, H, Lq, dh), k (N, H, Lk, dh), v (N, H, Lk, dv) and an optional bias that
/// broadcasts to (N, H, Lq, Lk) with its last two extents exactly (Lq, Lk); plans the tiles.
inline attention_plan plan_attention(const shape& q, const shape& k, const shape& v, const shape* bias,
                                     const attention_options& o, const char* op) {
  if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4 || k[0] != q[0] || v[0] != q[0] || k[1] != q[1] || v[1] != q[1] ||
      k[3] != q[3] || v[2] != k[2])
    fail<shape_error>(op, "q ", q, ", k ", k, ", v ", v,
                      ": need q (N, H, Lq, d), k (N, H, Lk, d) and v (N, H, Lk, dv) with equal N and H");
  attention_plan p{.n = q[0], .h = q[1], .lq = q[2], .lk = k[2], .dh = q[3], .dv = v[3]};
  if (p.lk == 0 && p.lq > 0) fail<shape_error>(op, "no keys (k ", k, ") for ", p.lq, " queries");
  if (bias) {
    const shape& b = *bias;
    const std::size_t r = b.rank();
    bool ok = r >= 2 && r <= 4 && b[r - 2] == p.lq && b[r - 1] == p.lk;
    if (ok && r >= 3) ok = b[r - 3] == 1 || b[r - 3] == p.h;
    if (ok && r == 4) ok = b[0] == 1 || b[0] == p.n;
    if (!ok)
      fail<shape_error>(op, "bias ", b, " must broadcast to (N, H, Lq, Lk) = (", p.n, ", ", p.h, ", ", p.lq, ", ", p.lk,
                        ") with its last two extents (", p.lq, ", ", p.lk, ")");
  }
  if (!(o.scale >= 0) || !std::isfinite(o.scale)) fail<value_error>(op, "scale ", o.scale, " must be finite and >= 0");
  if (o.tiling.max_tile_elements < 1 || o.tiling.max_key_block < 1)
    fail<value_error>(op, "tiling ", o.tiling.max_tile_elements, " elements, key block ", o.tiling.max_key_block,
                      ": both must be >= 1");
  p.scale = o.scale > 0 ? o.scale : 1.0 / std::sqrt(static_cast<double>(std::max<index_t>(p.dh, 1)));
  const index_t budget = o.tiling.max_tile_elements;
  p.key_block = std::max<index_t>(1, std::min(p.lk, o.tiling.max_key_block));
  p.query_block = std::clamp<index_t>(budget / std::max<index_t>(1, p.h * p.key_block), 1, std::max<index_t>(p.lq, 1));
  p.batch_block = std::clamp<index_t>(budget / std::max<index_t>(1, p.h * p.query_block * p.key_block), 1,
                                      std::max<index_t>(p.n, 1));
  return p;
}

/// a[start:stop] along axis, or a itself when that is all of it.
template <class T, class B>
tensor<T, B> range_of(const tensor<T, B>& a, index_t axis, index_t start, index_t stop) {
  const auto ax = a.shape().normalize_axis(axis, "attention");
  return start == 0 && stop == a.shape()[ax] ? a : slice(a, axis, start, stop);
}

/// The bias block of one tile: batch rows [n0, n1) when the bias has a batch axis, query rows
/// [q0, q1), key columns [k0, k1).
template <class T, class B>
tensor<T, B> bias_tile(const tensor<T, B>& bias, index_t n0, index_t n1, index_t q0, index_t q1, index_t k0,
                       index_t k1) {
  auto t = range_of(range_of(bias, -2, q0, q1), -1, k0, k1);
  return bias.rank() == 4 && bias.shape()[0] > 1 ? range_of(t, 0, n0, n1) : t;
}

/// Concatenates blocks along axis (one block: itself).
template <class T, class B>
tensor<T, B> join(const std::vector<tensor<T, B>>& parts, index_t axis) {
  return parts.size() == 1 ? parts[0] : concat(std::span<const tensor<T, B>>(parts), axis);
}

template <class T, class B>
tensor<T, B> accumulate(const tensor<T, B>& acc, tensor<T, B> add) {
  return acc.defined() ? apply(fn::add{}, acc, add) : add;
}

inline constexpr index_t last_axis[] = {-1};

/// The key and value blocks of batch rows [n0, n1): blocks of key_block keys (the last shorter).
template <class T, class B>
std::pair<std::vector<tensor<T, B>>, std::vector<tensor<T, B>>> key_blocks(const tensor<T, B>& k, const tensor<T, B>& v,
                                                                           index_t n0, index_t n1, index_t key_block) {
  const auto kn = range_of(k, 0, n0, n1), vn = range_of(v, 0, n0, n1);
  std::pair<std::vector<tensor<T, B>>, std::vector<tensor<T, B>>> r;
  for (index_t k0 = 0; k0 < k.shape()[2]; k0 += key_block) {
    const index_t k1 = std::min(k.shape()[2], k0 + key_block);
    r.first.push_back(range_of(kn, 2, k0, k1));
    r.second.push_back(range_of(vn, 2, k0, k1));
  }
  return r;
}

/// exp(s - m) with m broadcast along rows, 0 where m is -inf (every score of the row -inf). The
/// subtraction and the exponential are separate passes so that the exponential runs through the
/// backend's vectorised unary kernel (a fused binary functor would call the scalar exp).
template <class T, class B>
tensor<T, B> shifted_exp(const tensor<T, B>& s, const tensor<T, B>& m) {
  return apply(fn::exp{}, apply(fn::sub{}, s, apply(fn::zero_if_neg_inf{}, m), "scaled_dot_product_attention"));
}

}  // namespace detail

/// softmax(q k^T * scale + bias) v per (batch, head), tiled; returns the output and the row
/// log-sum-exp. q (N, H, Lq, d), k (N, H, Lk, d), v (N, H, Lk, dv); bias (optional, undefined
/// tensor for none) broadcasts to (N, H, Lq, Lk). A row whose scores are all -inf gives 0.
template <class T, class B>
attention_forward_result<T, B> attention_forward(const tensor<T, B>& q, const tensor<T, B>& k, const tensor<T, B>& v,
                                                 const tensor<T, B>& bias, const attention_options& o = {}) {
  constexpr const char* op = "scaled_dot_product_attention";
  detail::require_defined(q, op), detail::require_defined(k, op), detail::require_defined(v, op);
  const auto p =
      detail::plan_attention(q.shape(), k.shape(), v.shape(), bias.defined() ? &bias.shape() : nullptr, o, op);
  if (p.n == 0 || p.lq == 0)
    return {tensor<T, B>::zeros(shape{p.n, p.h, p.lq, p.dv}), tensor<T, B>::zeros(shape{p.n, p.h, p.lq, 1})};
  const auto qs = apply(fn::mul_scalar<T>{static_cast<T>(p.scale)}, q);  // the scale folded into the queries
  std::vector<tensor<T, B>> out_chunks, lse_chunks;
  for (index_t n0 = 0; n0 < p.n; n0 += p.batch_block) {
    const index_t n1 = std::min(p.n, n0 + p.batch_block);
    const auto qn = detail::range_of(qs, 0, n0, n1);
    const auto [keys, values] = detail::key_blocks(k, v, n0, n1, p.key_block);
    std::vector<tensor<T, B>> out_blocks, lse_blocks;
    for (index_t q0 = 0; q0 < p.lq; q0 += p.query_block) {
      const index_t q1 = std::min(p.lq, q0 + p.query_block);
      const auto qt = detail::range_of(qn, 2, q0, q1);
      tensor<T, B> m, l, acc;  // running row maximum, row sum of exp(s - m), sum of exp(s - m) v
      for (std::size_t kb = 0; kb < keys.size(); ++kb) {
        const index_t k0 = static_cast<index_t>(kb) * p.key_block;
        auto s = matmul(qt, keys[kb], false, true);
        if (bias.defined())
          s = apply(fn::add{}, s, detail::bias_tile(bias, n0, n1, q0, q1, k0, k0 + keys[kb].shape()[2]), op);
        const auto block_max = reduce(reduce_kind::max, s, detail::last_axis, true, op);
        if (kb == 0) {
          m = block_max;
          const auto e = detail::shifted_exp(s, m);
          l = reduce(reduce_kind::sum, e, detail::last_axis, true, op);
          acc = matmul(e, values[kb]);
        } else {  // online softmax: rescale what was summed under the old maximum
          const auto m_new = apply(fn::maximum{}, m, block_max);
          const auto alpha = detail::shifted_exp(m, m_new);
          const auto e = detail::shifted_exp(s, m_new);
          l = apply(fn::add{}, apply(fn::mul{}, l, alpha), reduce(reduce_kind::sum, e, detail::last_axis, true, op));
          acc = apply(fn::add{}, apply(fn::mul{}, acc, alpha), matmul(e, values[kb]));
          m = m_new;
        }
      }
      // Rows with no finite score have l = 0: their output is 0 and their lse -inf.
      out_blocks.push_back(apply(fn::div_or_zero{}, acc, l));
      lse_blocks.push_back(apply(fn::add{}, m, apply(fn::log{}, l)));
    }
    out_chunks.push_back(detail::join(out_blocks, 2));
    lse_chunks.push_back(detail::join(lse_blocks, 2));
  }
  return {detail::join(out_chunks, 0), detail::join(lse_chunks, 0)};
}

/// The gradients of attention_forward's output for the output gradient dout, recomputing the
/// scores tile by tile from q, k, bias and the saved lse (Dao et al. 2022, Alg. 2):
/// P = exp(S - lse), dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(dO o O)), dQ = dS K scale,
/// dK = dS^T Q scale, dbias = dS summed to the bias's shape.
template <class T, class B>
attention_gradients<T, B> attention_backward(const tensor<T, B>& q, const tensor<T, B>& k, const tensor<T, B>& v,
                                             const tensor<T, B>& bias, const tensor<T, B>& out, const tensor<T, B>& lse,
                                             const tensor<T, B>& dout, const attention_options& o = {},
                                             attention_wanted want = {}) {
  constexpr const char* op = "scaled_dot_product_attention backward";
  const auto p =
      detail::plan_attention(q.shape(), k.shape(), v.shape(), bias.defined() ? &bias.shape() : nullptr, o, op);
  if (!(dout.shape() == out.shape()) || !(out.shape() == shape{p.n, p.h, p.lq, p.dv}) ||
      !(lse.shape() == shape{p.n, p.h, p.lq, 1}))
    fail<shape_error>(op, "output ", out.shape(), ", its gradient ", dout.shape(), " and lse ", lse.shape(),
                      " must be (N, H, Lq, dv) = (", p.n, ", ", p.h, ", ", p.lq, ", ", p.dv, ") and (N, H, Lq, 1)");
  want.bias = want.bias && bias.defined();
  attention_gradients<T, B> g;
  if (p.n == 0 || p.lq == 0 || p.lk == 0) {
    if (want.q) g.q = tensor<T, B>::zeros(q.shape());
    if (want.k) g.k = tensor<T, B>::zeros(k.shape());
    if (want.v) g.v = tensor<T, B>::zeros(v.shape());
    if (want.bias) g.bias = tensor<T, B>::zeros(bias.shape());
    return g;
  }
  const T scale = static_cast<T>(p.scale);
  const auto qs = apply(fn::mul_scalar<T>{scale}, q);
  const auto row_dot =
      reduce(reduce_kind::sum, apply(fn::mul{}, dout, out), detail::last_axis, true, op);  // (N, H, Lq, 1)
  const bool bias_has_batch = want.bias && bias.rank() == 4 && bias.shape()[0] > 1;
  std::vector<tensor<T, B>> dq_chunks, dk_chunks, dv_chunks, dbias_chunks;
  for (index_t n0 = 0; n0 < p.n; n0 += p.batch_block) {
    const index_t n1 = std::min(p.n, n0 + p.batch_block);
    const auto qn = detail::range_of(qs, 0, n0, n1), on = detail::range_of(dout, 0, n0, n1);
    const auto ln = detail::range_of(lse, 0, n0, n1), dn = detail::range_of(row_dot, 0, n0, n1);
    const auto [keys, values] = detail::key_blocks(k, v, n0, n1, p.key_block);
    std::vector<tensor<T, B>> dk_acc(keys.size()), dv_acc(keys.size());
    std::vector<std::vector<tensor<T, B>>> dbias_acc;  // [query block][key block] of this chunk
    if (want.bias)
      dbias_acc.assign(static_cast<std::size_t>((p.lq + p.query_block - 1) / p.query_block),
                       std::vector<tensor<T, B>>(keys.size()));
    std::vector<tensor<T, B>> dq_blocks;
    for (index_t q0 = 0, qb = 0; q0 < p.lq; q0 += p.query_block, ++qb) {
      const index_t q1 = std::min(p.lq, q0 + p.query_block);
      const auto qt = detail::range_of(qn, 2, q0, q1), ot = detail::range_of(on, 2, q0, q1);
      const auto lt = detail::range_of(ln, 2, q0, q1), dt = detail::range_of(dn, 2, q0, q1);
      tensor<T, B> dq_acc;
      for (std::size_t kb = 0; kb < keys.size(); ++kb) {
        const index_t k0 = static_cast<index_t>(kb) * p.key_block, k1 = k0 + keys[kb].shape()[2];
        auto s = matmul(qt, keys[kb], false, true);
        if (bias.defined()) s = apply(fn::add{}, s, detail::bias_tile(bias, n0, n1, q0, q1, k0, k1), op);
        const auto prob = detail::shifted_exp(s, lt);
        if (want.v) dv_acc[kb] = detail::accumulate(dv_acc[kb], matmul(prob, ot, true, false));
        if (!want.q && !want.k && !want.bias) continue;
        const auto ds = apply(fn::mul_diff{}, prob, matmul(ot, values[kb], false, true), dt);
        if (want.bias) {
          auto& slot = dbias_acc[static_cast<std::size_t>(qb)][kb];
          slot = detail::accumulate(slot, sum_to(ds, detail::bias_tile(bias, n0, n1, q0, q1, k0, k1).shape()));
        }
        if (want.q) dq_acc = detail::accumulate(dq_acc, matmul(ds, keys[kb]));
        if (want.k) dk_acc[kb] = detail::accumulate(dk_acc[kb], matmul(ds, qt, true, false));
      }
      if (want.q) dq_blocks.push_back(apply(fn::mul_scalar<T>{scale}, dq_acc));
    }
    if (want.q) dq_chunks.push_back(detail::join(dq_blocks, 2));
    if (want.k) dk_chunks.push_back(detail::join(dk_acc, 2));
    if (want.v) dv_chunks.push_back(detail::join(dv_acc, 2));
    if (want.bias) {
      std::vector<tensor<T, B>> rows;
      for (const auto& row : dbias_acc) rows.push_back(detail::join(row, -1));
      dbias_chunks.push_back(detail::join(rows, -2));
    }
  }
  if (want.q) g.q = detail::join(dq_chunks, 0);
  if (want.k) g.k = detail::join(dk_chunks, 0);
  if (want.v) g.v = detail::join(dv_chunks, 0);
  if (want.bias) {  // a bias with a batch axis has its chunks' rows; one without, their sum
    if (bias_has_batch) {
      g.bias = detail::join(dbias_chunks, 0);
    } else {
      for (auto& c : dbias_chunks) g.bias = detail::accumulate(g.bias, std::move(c));
    }
  }
  return g;
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_TENSOR_ATTENTION_INSTANCES(X, T, B)                                                                  \
  X attention_forward_result<T, B> attention_forward(const tensor<T, B>&, const tensor<T, B>&, const tensor<T, B>&, \
                                                     const tensor<T, B>&, const attention_options&);                \
  X attention_gradients<T, B> attention_backward(const tensor<T, B>&, const tensor<T, B>&, const tensor<T, B>&,     \
                                                 const tensor<T, B>&, const tensor<T, B>&, const tensor<T, B>&,     \
                                                 const tensor<T, B>&, const attention_options&, attention_wanted);
BIJGAN_EXTERN_INSTANCES(BIJGAN_TENSOR_ATTENTION_INSTANCES)

}  // namespace bijgan
