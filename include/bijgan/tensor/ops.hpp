// Non-differentiable tensor ops: the layer between tensors and backend kernels. Each checks its
// shapes (throwing shape_error naming the op), allocates the result and calls one kernel. The
// differentiable ops in ops/ are built on these.
#pragma once

#include <algorithm>
#include <numeric>
#include <span>
#include <vector>

#include "bijgan/config/instances.hpp"
#include "bijgan/tensor/tensor.hpp"

namespace bijgan {

namespace detail {
template <class T, class B>
void require_defined(const tensor<T, B>& t, const char* op) {
  if (!t.defined()) fail<value_error>(op, "undefined tensor");
}
}  // namespace detail

/// out[i] = f(a[i]).
template <class F, class T, class B>
tensor<T, B> apply(F f, const tensor<T, B>& a) {
  detail::require_defined(a, "apply");
  tensor<T, B> out(a.shape());
  B::map(f, a.numel(), out.data(), a.data());
  return out;
}

/// out = f(a, b) with NumPy broadcasting; op names the caller in shape errors.
template <class F, class T, class B>
tensor<T, B> apply(F f, const tensor<T, B>& a, const tensor<T, B>& b, const char* op = "apply") {
  detail::require_defined(a, op);
  detail::require_defined(b, op);
  const shape s = a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), op);
  tensor<T, B> out(s);
  B::transform(f, s, out.data(), read_as(a, s), read_as(b, s));
  return out;
}

/// out = f(a, b, c) with broadcasting of all three.
template <class F, class T, class B>
tensor<T, B> apply(F f, const tensor<T, B>& a, const tensor<T, B>& b, const tensor<T, B>& c, const char* op = "apply") {
  const shape s = broadcast_shapes(broadcast_shapes(a.shape(), b.shape(), op), c.shape(), op);
  tensor<T, B> out(s);
  B::transform(f, s, out.data(), read_as(a, s), read_as(b, s), read_as(c, s));
  return out;
}

/// Materialises a broadcast of a to shape s.
template <class T, class B>
tensor<T, B> broadcast_to(const tensor<T, B>& a, const shape& s) {
  if (broadcast_shapes(a.shape(), s, "broadcast_to") != s)
    fail<shape_error>("broadcast_to", "cannot broadcast ", a.shape(), " to ", s);
  if (a.shape() == s) return a;
  tensor<T, B> out(s);
  B::transform(fn::identity{}, s, out.data(), read_as(a, s));
  return out;
}

/// Normalised, sorted, unique axes; all axes when `axes` is empty.
inline std::vector<std::size_t> normalize_axes(const shape& s, std::span<const index_t> axes, const char* op) {
  std::vector<std::size_t> out;
  if (axes.empty()) {
    out.resize(s.rank());
    std::iota(out.begin(), out.end(), std::size_t{0});
    return out;
  }
  for (index_t a : axes) out.push_back(s.normalize_axis(a, op));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) fail<shape_error>(op, "repeated axis for shape ", s);
  return out;
}

/// Shape of a reduction of s over axes (kept as 1 when keepdim).
inline shape reduced_shape(const shape& s, const std::vector<std::size_t>& axes, bool keepdim) {
  shape out;
  for (std::size_t i = 0; i < s.rank(); ++i) {
    const bool red = std::binary_search(axes.begin(), axes.end(), i);
    if (!red)
      out.push_back(s[i]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

/// Reduces a over axes (all axes when empty). Runs of adjacent axes are reduced in one kernel.
template <class T, class B>
tensor<T, B> reduce(reduce_kind kind, const tensor<T, B>& a, std::span<const index_t> axes, bool keepdim,
                    const char* op = "reduce") {
  detail::require_defined(a, op);
  const auto ax = normalize_axes(a.shape(), axes, op);
  if (kind != reduce_kind::sum)
    for (auto i : ax)
      if (a.shape()[i] == 0) fail<shape_error>(op, "max/min over an empty axis ", i, " of ", a.shape());
  tensor<T, B> cur = a;
  // From the last run of adjacent axes to the first, so earlier axis indices stay valid.
  std::size_t i = ax.size();
  while (i > 0) {
    std::size_t j = i - 1;
    while (j > 0 && ax[j - 1] + 1 == ax[j]) --j;
    const std::size_t first = ax[j], last = ax[i - 1];
    const shape& s = cur.shape();
    index_t outer = 1, n = 1, inner = 1;
    for (std::size_t d = 0; d < s.rank(); ++d) {
      if (d < first)
        outer *= s[d];
      else if (d <= last)
        n *= s[d];
      else
        inner *= s[d];
    }
    shape next;
    for (std::size_t d = 0; d < s.rank(); ++d) next.push_back(d >= first && d <= last ? 1 : s[d]);
    tensor<T, B> out(next);
    B::reduce(kind, cur.data(), out.data(), outer, n, inner);
    cur = out;
    i = j;
  }
  return cur.reshape(reduced_shape(a.shape(), ax, keepdim));
}

/// Sums a down to shape s, undoing a broadcast of s to a.shape() (the gradient of broadcasting).
template <class T, class B>
tensor<T, B> sum_to(const tensor<T, B>& a, const shape& s) {
  if (a.shape() == s) return a;
  if (broadcast_shapes(s, a.shape(), "sum_to") != a.shape())
    fail<shape_error>("sum_to", "shape ", a.shape(), " is not a broadcast of ", s);
  std::vector<index_t> axes;
  const std::size_t off = a.rank() - s.rank();
  for (std::size_t i = 0; i < a.rank(); ++i)
    if (i < off || (s[i - off] == 1 && a.shape()[i] != 1)) axes.push_back(static_cast<index_t>(i));
  if (axes.empty()) return a.reshape(s);
  return reduce(reduce_kind::sum, a, axes, true, "sum_to").reshape(s);
}

/// Shape of matmul(a, b) and the broadcast batch shape. Operands have rank >= 2.
struct matmul_plan {
  shape batch;
  index_t m = 0, n = 0, k = 0;
};

inline matmul_plan plan_matmul(const shape& a, const shape& b, bool ta, bool tb) {
  if (a.rank() < 2 || b.rank() < 2) fail<shape_error>("matmul", "operands need rank >= 2, got ", a, " and ", b);
  const index_t am = a[a.rank() - 2], ak = a[a.rank() - 1];
  const index_t bk = b[b.rank() - 2], bn = b[b.rank() - 1];
  matmul_plan p;
  p.m = ta ? ak : am;
  p.k = ta ? am : ak;
  const index_t kb = tb ? bn : bk;
  p.n = tb ? bk : bn;
  if (p.k != kb)
    fail<shape_error>("matmul", "inner dimensions differ: ", a, (ta ? "^T" : ""), " x ", b, (tb ? "^T" : ""));
  const shape ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  p.batch = broadcast_shapes(ab, bb, "matmul");
  return p;
}

/// Batched matrix product op(a) * op(b) over the trailing two axes, batch axes broadcast.
template <class T, class B>
tensor<T, B> matmul(const tensor<T, B>& a, const tensor<T, B>& b, bool trans_a = false, bool trans_b = false) {
  detail::require_defined(a, "matmul");
  detail::require_defined(b, "matmul");
  const matmul_plan p = plan_matmul(a.shape(), b.shape(), trans_a, trans_b);
  const index_t batch = p.batch.numel();
  auto operand = [&](const tensor<T, B>& t) -> std::pair<tensor<T, B>, index_t> {
    const shape tb(t.shape().begin(), t.shape().end() - 2);
    const index_t mat = t.size(-2) * t.size(-1);
    if (tb.numel() == 1) return {t, 0};
    if (tb == p.batch) return {t, mat};
    shape full = p.batch;
    full.push_back(t.size(-2));
    full.push_back(t.size(-1));
    return {broadcast_to(t, full), mat};
  };
  const auto [ta, sa] = operand(a);
  const auto [tb, sb] = operand(b);
  shape os = p.batch;
  os.push_back(p.m);
  os.push_back(p.n);
  tensor<T, B> out(os);
  gemm_args<T> g;
  g.trans_a = trans_a;
  g.trans_b = trans_b;
  g.m = p.m;
  g.n = p.n;
  g.k = p.k;
  g.a = ta.data();
  g.lda = a.size(-1);
  g.stride_a = sa;
  g.b = tb.data();
  g.ldb = b.size(-1);
  g.stride_b = sb;
  g.c = out.data();
  g.ldc = p.n;
  g.stride_c = p.m * p.n;
  g.batch = batch;
  if (out.numel() > 0) B::gemm(g);
  return out;
}

/// Permutes axes (a copy): out.shape[i] = a.shape[perm[i]].
template <class T, class B>
tensor<T, B> permute(const tensor<T, B>& a, std::span<const index_t> perm) {
  if (perm.size() != a.rank())
    fail<shape_error>("permute", "permutation of ", perm.size(), " axes for shape ", a.shape());
  std::vector<bool> seen(a.rank(), false);
  shape os;
  strided_in<T> in{a.data(), {}};
  const auto as = a.shape().strides();
  for (std::size_t i = 0; i < perm.size(); ++i) {
    const auto ax = a.shape().normalize_axis(perm[i], "permute");
    if (seen[ax]) fail<shape_error>("permute", "axis ", ax, " repeated for shape ", a.shape());
    seen[ax] = true;
    os.push_back(a.shape()[ax]);
    in.strides[i] = as[ax];
  }
  tensor<T, B> out(os);
  B::copy_strided(os, in, out.data(), os.strides());
  return out;
}

/// Copy of a[..., start:stop, ...] along axis (step 1).
template <class T, class B>
tensor<T, B> slice(const tensor<T, B>& a, index_t axis, index_t start, index_t stop) {
  const auto ax = a.shape().normalize_axis(axis, "slice");
  const index_t n = a.shape()[ax];
  if (start < 0 || stop < start || stop > n)
    fail<shape_error>("slice", "range [", start, ", ", stop, ") on axis ", ax, " of shape ", a.shape());
  shape os = a.shape();
  os[ax] = stop - start;
  const auto st = a.shape().strides();
  tensor<T, B> out(os);
  B::copy_strided(os, strided_in<T>{a.data() + start * st[ax], st}, out.data(), os.strides());
  return out;
}

/// Concatenation along axis; all other extents must agree.
template <class T, class B>
tensor<T, B> concat(std::span<const tensor<T, B>> parts, index_t axis) {
  if (parts.empty()) fail<shape_error>("concat", "no tensors");
  const shape& s0 = parts[0].shape();
  const auto ax = s0.normalize_axis(axis, "concat");
  shape os = s0;
  os[ax] = 0;
  for (const auto& p : parts) {
    bool ok = p.rank() == s0.rank();
    for (std::size_t i = 0; ok && i < s0.rank(); ++i) ok = i == ax || p.shape()[i] == s0[i];
    if (!ok) fail<shape_error>("concat", "shape ", p.shape(), " does not match ", s0, " off axis ", ax);
    os[ax] += p.shape()[ax];
  }
  tensor<T, B> out(os);
  const auto ost = os.strides();
  index_t at = 0;
  for (const auto& p : parts) {
    B::copy_strided(p.shape(), strided_in<T>{p.data(), p.shape().strides()}, out.data() + at * ost[ax], ost);
    at += p.shape()[ax];
  }
  return out;
}

/// Pads with `value`: pads[2*i], pads[2*i+1] elements before and after axis i (all axes given).
template <class T, class B>
tensor<T, B> pad(const tensor<T, B>& a, std::span<const index_t> pads, T value = T(0)) {
  if (pads.size() != 2 * a.rank())
    fail<shape_error>("pad", "needs 2 pads per axis for shape ", a.shape(), ", got ", pads.size());
  shape os = a.shape();
  index_t offset = 0;
  for (std::size_t i = 0; i < a.rank(); ++i) {
    if (pads[2 * i] < 0 || pads[2 * i + 1] < 0) fail<shape_error>("pad", "negative padding on axis ", i);
    os[i] += pads[2 * i] + pads[2 * i + 1];
  }
  const auto ost = os.strides();
  for (std::size_t i = 0; i < a.rank(); ++i) offset += pads[2 * i] * ost[i];
  tensor<T, B> out = tensor<T, B>::full(os, value);
  B::copy_strided(a.shape(), strided_in<T>{a.data(), a.shape().strides()}, out.data() + offset, ost);
  return out;
}

/// True when every element is finite (one map and one reduction).
template <class T, class B>
bool all_finite(const tensor<T, B>& a) {
  if (a.numel() == 0) return true;
  return reduce(reduce_kind::max, apply(fn::nonfinite{}, a), {}, false).item() == T(0);
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_TENSOR_OPS_INSTANCES(X, T, B)                                                            \
  X tensor<T, B> broadcast_to(const tensor<T, B>&, const shape&);                                       \
  X tensor<T, B> reduce(reduce_kind, const tensor<T, B>&, std::span<const index_t>, bool, const char*); \
  X tensor<T, B> sum_to(const tensor<T, B>&, const shape&);                                             \
  X tensor<T, B> matmul(const tensor<T, B>&, const tensor<T, B>&, bool, bool);                          \
  X tensor<T, B> permute(const tensor<T, B>&, std::span<const index_t>);                                \
  X tensor<T, B> slice(const tensor<T, B>&, index_t, index_t, index_t);                                 \
  X tensor<T, B> concat(std::span<const tensor<T, B>>, index_t);                                        \
  X tensor<T, B> pad(const tensor<T, B>&, std::span<const index_t>, T);                                 \
  X bool all_finite(const tensor<T, B>&);
BIJGAN_EXTERN_INSTANCES(BIJGAN_TENSOR_OPS_INSTANCES)

}  // namespace bijgan
