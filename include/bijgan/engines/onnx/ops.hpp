// The ONNX operators bijgan executes, each compiled from its node into a kernel that runs our
// differentiable var ops (so a file engine can be differentiated: whitebox mode). Attributes
// are read and checked once, at load; what depends on run-time shapes (auto_pad, Reshape's
// 0 and -1, ceil-mode pooling) is resolved per call. Semantics follow the ONNX operator
// specification for the opsets this table names; anything outside it is refused at load.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "bijgan/engines/graph/kernel_util.hpp"
#include "bijgan/engines/onnx/node.hpp"
#include "bijgan/ops/conv.hpp"
#include "bijgan/ops/index.hpp"

namespace bijgan::engines::onnx {

namespace detail {
using namespace engines::graph::detail;

template <class T, class B>
std::vector<value<T, B>> one_int(std::vector<std::int64_t> d, std::vector<index_t> dims) {
  return {value<T, B>::of_ints(std::move(d), std::move(dims))};
}

// ---- integer (shape) arithmetic -------------------------------------------------------------

/// Numpy broadcasting of two extents lists; shape_error naming the node when they clash.
inline std::vector<index_t> broadcast_dims(std::vector<index_t> a, std::vector<index_t> b, const std::string& where) {
  if (a.size() < b.size()) std::swap(a, b);
  b.insert(b.begin(), a.size() - b.size(), 1);
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i] || b[i] == 1) continue;
    if (a[i] == 1)
      a[i] = b[i];
    else
      fail<shape_error>("onnx", where, ": integer operands do not broadcast at axis ", i, " (", a[i], " vs ", b[i],
                        ")");
  }
  return a;
}
template <class F>
std::vector<std::int64_t> int_zip(const std::vector<std::int64_t>& a, const std::vector<index_t>& ad,
                                  const std::vector<std::int64_t>& b, const std::vector<index_t>& bd,
                                  std::vector<index_t>& out_dims, const std::string& where, F f) {
  out_dims = broadcast_dims(ad, bd, where);
  const auto r = out_dims.size();
  index_t n = 1;
  for (auto d : out_dims) n *= d;
  auto index_of = [&](index_t flat, const std::vector<index_t>& d) {
    index_t idx = 0, stride = 1;
    std::vector<index_t> pad(r - d.size(), 1);
    pad.insert(pad.end(), d.begin(), d.end());
    index_t rem = flat;
    std::vector<index_t> coord(r);
    for (std::size_t i = r; i-- > 0;) {
      coord[i] = rem % out_dims[i];
      rem /= out_dims[i];
    }
    for (std::size_t i = r; i-- > 0;) {
      idx += (pad[i] == 1 ? 0 : coord[i]) * stride;
      stride *= pad[i];
    }
    return idx;
  };
  std::vector<std::int64_t> out(static_cast<std::size_t>(n));
  for (index_t k = 0; k < n; ++k)
    out[static_cast<std::size_t>(k)] =
        f(a[static_cast<std::size_t>(index_of(k, ad))], b[static_cast<std::size_t>(index_of(k, bd))]);
  return out;
}

// ---- arithmetic and activations -------------------------------------------------------------

template <class T, class B, class FloatOp, class IntOp>
kernel<T, B> binary_kernel(const node_view& n, FloatOp fop, IntOp iop) {
  return [where = n.where(), fop, iop](const input_list<T, B>& in) -> std::vector<value<T, B>> {
    if (!given(in, 0) || !given(in, 1)) fail<shape_error>("onnx", where, ": needs two inputs");
    if (in[0]->is_int && in[1]->is_int) {
      std::vector<index_t> dims;
      auto out = int_zip(in[0]->ints, in[0]->dims, in[1]->ints, in[1]->dims, dims, where, iop);
      return one_int<T, B>(std::move(out), std::move(dims));
    }
    const auto& a = float_in(in, 0, where);
    const auto& b = float_in(in, 1, where);
    try {
      return one(fop(a, b));
    } catch (const shape_error& e) {
      fail<shape_error>("onnx", where, ": ", e.what());
    }
  };
}

template <class T, class B, class F>
kernel<T, B> unary_kernel(const node_view& n, F f) {
  return [where = n.where(), f](const input_list<T, B>& in) { return one(f(float_in(in, 0, where))); };
}

template <class T, class B>
kernel<T, B> clip_kernel(const node_view& n) {
  const bool from_attrs = n.opset() < 11;
  const T lo0 =
      from_attrs ? static_cast<T>(n.f("min", -std::numeric_limits<float>::max())) : -std::numeric_limits<T>::max();
  const T hi0 =
      from_attrs ? static_cast<T>(n.f("max", std::numeric_limits<float>::max())) : std::numeric_limits<T>::max();
  return [where = n.where(), from_attrs, lo0, hi0](const input_list<T, B>& in) {
    T lo = lo0, hi = hi0;
    if (!from_attrs && given(in, 1)) lo = scalar_in(in, 1, where);
    if (!from_attrs && given(in, 2)) hi = scalar_in(in, 2, where);
    return one(clamp(float_in(in, 0, where), lo, hi));
  };
}

template <class T, class B>
kernel<T, B> pow_kernel(const node_view& n) {
  return [where = n.where()](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    const auto& e = float_in(in, 1, where);
    if (e.value().numel() == 1) {
      const T p = e.value().item();
      if (p == T(2)) return one(square(x));
      if (p == T(1)) return one(x);
      if (p == T(0.5)) return one(sqrt(x));
      return one(pow(x, p));
    }
    return one(pow(x, e));
  };
}

/// Max/Min/Sum/Mean over any number of broadcasting inputs.
template <class T, class B>
kernel<T, B> variadic_kernel(const node_view& n, const std::string& op) {
  return [where = n.where(), op](const input_list<T, B>& in) {
    if (in.empty()) fail<shape_error>("onnx", where, ": needs at least one input");
    var<T, B> acc = float_in(in, 0, where);
    for (std::size_t k = 1; k < in.size(); ++k) {
      const auto& x = float_in(in, k, where);
      if (op == "Sum" || op == "Mean")
        acc = acc + x;
      else
        acc = extreme_of(acc, x, op == "Max");
    }
    if (op == "Mean") acc = acc * (T(1) / static_cast<T>(in.size()));
    return one(acc);
  };
}

// ---- linear algebra ---------------------------------------------------------------------------

template <class T, class B>
kernel<T, B> matmul_kernel(const node_view& n) {
  return [where = n.where()](const input_list<T, B>& in) {
    auto a = float_in(in, 0, where), b = float_in(in, 1, where);
    const bool va = a.rank() == 1, vb = b.rank() == 1;
    if (va) a = unsqueeze(a, 0);
    if (vb) b = unsqueeze(b, 1);
    if (a.rank() < 2 || b.rank() < 2 || a.size(-1) != b.size(-2))
      fail<shape_error>("onnx", where, ": MatMul of ", a.shape(), " and ", b.shape());
    auto y = matmul(a, b);
    if (!va && !vb) return one(y);
    const auto s = y.shape();
    std::vector<index_t> d(s.begin(), s.end());
    if (vb) d.erase(d.end() - 1);
    if (va) d.erase(d.end() - (vb ? 1 : 2));
    return one(reshape(y, to_shape(d, where)));
  };
}

template <class T, class B>
kernel<T, B> gemm_kernel(const node_view& n) {
  const T alpha = static_cast<T>(n.f("alpha", 1)), beta = static_cast<T>(n.f("beta", 1));
  const bool ta = n.i("transA", 0) != 0, tb = n.i("transB", 0) != 0;
  return [where = n.where(), alpha, beta, ta, tb](const input_list<T, B>& in) {
    const auto& a = float_in(in, 0, where);
    const auto& b = float_in(in, 1, where);
    if (a.rank() != 2 || b.rank() != 2 || a.size(ta ? 0 : 1) != b.size(tb ? 1 : 0))
      fail<shape_error>("onnx", where, ": Gemm of ", a.shape(), (ta ? "^T" : ""), " and ", b.shape(), (tb ? "^T" : ""));
    auto y = matmul(a, b, ta, tb);
    if (alpha != T(1)) y = y * alpha;
    if (given(in, 2)) {
      const auto& c = float_in(in, 2, where);
      y = beta == T(1) ? y + c : y + c * beta;
    }
    return one(y);
  };
}

// ---- convolution, normalisation, pooling -----------------------------------------------------

/// Spatial attributes of Conv and the pools, 2-D only: kernel, strides, dilations, explicit pads
/// (top, left, bottom, right) or an auto_pad rule resolved per input size.
struct window_attrs {
  /// Largest kernel, stride, dilation or pad accepted from a file (real models use single digits).
  static constexpr std::int64_t max_extent = 1 << 12;
  index_t kh = 0, kw = 0, sh = 1, sw = 1, dh = 1, dw = 1;
  index_t pt = 0, pl = 0, pb = 0, pr = 0;
  std::string auto_pad = "NOTSET";
  bool ceil_mode = false;

  static window_attrs read(const node_view& n, std::vector<std::int64_t> kernel) {
    window_attrs w;
    auto two = [&](const char* name, std::vector<std::int64_t> v, index_t& a, index_t& b) {
      if (v.empty()) return;
      if (v.size() != 2) n.refuse(name, " must have 2 entries (2-D windows only), got ", v.size());
      if (v[0] < 1 || v[1] < 1 || v[0] > max_extent || v[1] > max_extent)
        n.refuse(name, " must lie in [1, ", max_extent, "]");
      a = static_cast<index_t>(v[0]);
      b = static_cast<index_t>(v[1]);
    };
    if (!kernel.empty()) two("kernel_shape", kernel, w.kh, w.kw);
    two("strides", n.ints("strides"), w.sh, w.sw);
    two("dilations", n.ints("dilations"), w.dh, w.dw);
    const auto pads = n.ints("pads");
    if (!pads.empty()) {
      if (pads.size() != 4) n.refuse("pads must have 4 entries (2-D windows only), got ", pads.size());
      for (auto p : pads)
        if (p < 0 || p > max_extent) n.refuse("pads must lie in [0, ", max_extent, "]");
      w.pt = static_cast<index_t>(pads[0]);
      w.pl = static_cast<index_t>(pads[1]);
      w.pb = static_cast<index_t>(pads[2]);
      w.pr = static_cast<index_t>(pads[3]);
    }
    w.auto_pad = n.s("auto_pad", "NOTSET");
    if (w.auto_pad != "NOTSET" && w.auto_pad != "SAME_UPPER" && w.auto_pad != "SAME_LOWER" && w.auto_pad != "VALID")
      n.refuse("auto_pad \"", w.auto_pad, "\" is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
    w.ceil_mode = n.i("ceil_mode", 0) != 0;
    return w;
  }
  /// Pads for an input of h x w (auto_pad rules of the spec).
  void resolve(index_t h, index_t w, index_t& top, index_t& left, index_t& bottom, index_t& right) const {
    top = pt, left = pl, bottom = pb, right = pr;
    if (auto_pad == "VALID") top = left = bottom = right = 0;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      auto same = [&](index_t in, index_t k, index_t s, index_t d, index_t& lo, index_t& hi) {
        const index_t out = (in + s - 1) / s;
        const index_t total = std::max<index_t>(0, (out - 1) * s + (k - 1) * d + 1 - in);
        lo = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
        hi = total - lo;
      };
      same(h, kh, sh, dh, top, bottom);
      same(w, kw, sw, dw, left, right);
    }
  }
};

template <class T, class B>
kernel<T, B> conv_kernel(const node_view& n) {
  const auto w = window_attrs::read(n, n.ints("kernel_shape"));
  const index_t groups = static_cast<index_t>(n.i("group", 1));
  if (groups < 1) n.refuse("group must be >= 1");
  if (w.sh != w.sw || w.dh != w.dw) n.refuse("strides and dilations must be equal along height and width");
  return [where = n.where(), w, groups](const input_list<T, B>& in) {
    auto x = float_in(in, 0, where);
    const auto& k = float_in(in, 1, where);
    if (x.rank() != 4 || k.rank() != 4)
      fail<shape_error>("onnx", where, ": Conv needs (N, C, H, W) input and (O, C/group, kh, kw) weights, got ",
                        x.shape(), " and ", k.shape());
    if ((w.kh && k.size(2) != w.kh) || (w.kw && k.size(3) != w.kw))
      fail<shape_error>("onnx", where, ": weights ", k.shape(), " do not match kernel_shape ", w.kh, "x", w.kw);
    if (x.size(1) != k.size(1) * groups || k.size(0) % groups != 0)
      fail<shape_error>("onnx", where, ": input ", x.shape(), " and weights ", k.shape(), " do not fit group ", groups);
    auto ww = w;
    ww.kh = k.size(2);
    ww.kw = k.size(3);
    index_t top, left, bottom, right;
    ww.resolve(x.size(2), x.size(3), top, left, bottom, right);
    index_t padding = top;
    if (!(top == left && left == bottom && bottom == right)) {
      x = pad(x, {0, 0, 0, 0, top, bottom, left, right});
      padding = 0;
    }
    const conv2d_options o{.stride = w.sh, .padding = padding, .dilation = w.dh, .groups = groups};
    if (given(in, 2)) return one(conv2d(x, k, float_in(in, 2, where), o));
    return one(conv2d(x, k, var<T, B>{}, o));
  };
}

template <class T, class B>
kernel<T, B> batchnorm_kernel(const node_view& n) {
  const T eps = static_cast<T>(n.f("epsilon", 1e-5f));
  if (n.node().outputs.size() > 1)
    for (std::size_t k = 1; k < n.node().outputs.size(); ++k)
      if (!n.node().outputs[k].empty()) n.refuse("training-mode outputs (running statistics) are not supported");
  return [where = n.where(), eps](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    if (x.rank() < 2) fail<shape_error>("onnx", where, ": input ", x.shape(), " must have rank >= 2");
    const index_t c = x.size(1);
    std::vector<index_t> per(x.rank(), 1);
    per[1] = c;
    const auto s = to_shape(per, where);
    auto param = [&](std::size_t k) {
      const auto& p = float_in(in, k, where);
      if (p.value().numel() != c)
        fail<shape_error>("onnx", where, ": parameter ", k, " has shape ", p.shape(), ", need ", c);
      return reshape(p, s);
    };
    const auto a = param(1) * rsqrt(param(4) + eps);
    return one((x - param(3)) * a + param(2));
  };
}

/// Max or average pooling (count_include_pad, ceil_mode, dilations as the spec) through unfold.
template <class T, class B>
kernel<T, B> pool_kernel(const node_view& n, bool is_max) {
  const auto w = window_attrs::read(n, n.ints("kernel_shape"));
  if (w.kh == 0) n.refuse("needs kernel_shape");
  if (n.node().outputs.size() > 1 && !n.node().outputs[1].empty()) n.refuse("the Indices output is not supported");
  if (!is_max && (w.dh != 1 || w.dw != 1)) n.refuse("dilations are not supported for AveragePool");
  const bool include_pad = n.i("count_include_pad", 0) != 0;
  return [where = n.where(), w, is_max, include_pad](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    if (x.rank() != 4) fail<shape_error>("onnx", where, ": input ", x.shape(), " must be (N, C, H, W)");
    index_t top, left, bottom, right;
    w.resolve(x.size(2), x.size(3), top, left, bottom, right);
    auto out_of = [&](index_t in_size, index_t k, index_t s, index_t d, index_t lo, index_t hi, index_t& extra) {
      const index_t span = in_size + lo + hi - (k - 1) * d - 1;
      if (span < 0) fail<shape_error>("onnx", where, ": window larger than the padded input ", x.shape());
      index_t out = (w.ceil_mode ? (span + s - 1) / s : span / s) + 1;
      if (w.ceil_mode && (out - 1) * s >= in_size + lo) --out;  // the last window must start inside
      extra = std::max<index_t>(0, (out - 1) * s + (k - 1) * d + 1 - (in_size + lo + hi));
      return out;
    };
    index_t eh, ew;
    const index_t oh = out_of(x.size(2), w.kh, w.sh, w.dh, top, bottom, eh);
    const index_t ow = out_of(x.size(3), w.kw, w.sw, w.dw, left, right, ew);
    const T fill = is_max ? -std::numeric_limits<T>::infinity() : T(0);
    const std::vector<index_t> pads{0, 0, 0, 0, top, bottom + eh, left, right + ew};
    const bool padded = top || bottom || left || right || eh || ew;
    const auto src = padded ? pad(x, pads, fill) : x;
    conv_geometry g;
    g.images = src.size(0);
    g.channels = src.size(1);
    g.height = src.size(2);
    g.width = src.size(3);
    g.kernel_h = w.kh;
    g.kernel_w = w.kw;
    g.stride_h = w.sh;
    g.stride_w = w.sw;
    g.dilation_h = w.dh;
    g.dilation_w = w.dw;
    g.out_h = oh;
    g.out_w = ow;
    const auto cols = reshape(unfold(src, g), shape{g.images, g.channels, w.kh * w.kw, oh * ow});
    if (is_max) return one(reshape(max(cols, {2}), shape{g.images, g.channels, oh, ow}));
    auto summed = reshape(sum(cols, {2}), shape{g.images, g.channels, oh, ow});
    if (!padded) return one(summed * (T(1) / static_cast<T>(w.kh * w.kw)));
    // The divisor per output: real pixels, plus the explicit pads when count_include_pad.
    auto mask = tensor<T, B>::full(shape{1, 1, x.size(2), x.size(3)}, T(1));
    mask = pad(constant(mask), {0, 0, 0, 0, top, bottom, left, right}, include_pad ? T(1) : T(0)).value();
    if (eh || ew) mask = pad(constant(mask), {0, 0, 0, 0, 0, eh, 0, ew}, T(0)).value();
    auto gm = g;
    gm.images = 1;
    gm.channels = 1;
    const auto count = reshape(sum(unfold(constant(mask), gm), {1}), shape{1, 1, oh, ow});
    return one(summed / count);
  };
}

template <class T, class B>
kernel<T, B> global_pool_kernel(const node_view& n, bool is_max) {
  return [where = n.where(), is_max](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    if (x.rank() < 3) fail<shape_error>("onnx", where, ": input ", x.shape(), " needs spatial axes");
    axes_t axes;
    for (index_t a = 2; a < static_cast<index_t>(x.rank()); ++a) axes.push_back(a);
    return one(is_max ? max(x, axes, true) : mean(x, axes, true));
  };
}

// ---- reductions and softmax -------------------------------------------------------------------

template <class T, class B>
kernel<T, B> reduce_kernel(const node_view& n, const std::string& op) {
  const bool keep = n.i("keepdims", 1) != 0;
  const auto attr_axes = n.ints("axes");
  const bool axes_from_input = n.opset() >= 18 || (op == "ReduceSum" && n.opset() >= 13);
  const bool noop_empty = n.i("noop_with_empty_axes", 0) != 0;
  return [where = n.where(), op, keep, attr_axes, axes_from_input, noop_empty](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    std::vector<std::int64_t> raw = attr_axes;
    if (axes_from_input && given(in, 1)) raw = int_in(in, 1, where).ints;
    if (raw.empty() && noop_empty) return one(x);
    axes_t axes;
    if (raw.empty())
      for (index_t a = 0; a < static_cast<index_t>(x.rank()); ++a) axes.push_back(a);
    for (auto a : raw) axes.push_back(axis_of(a, x.rank(), where));
    if (op == "ReduceMean") return one(mean(x, axes, keep));
    if (op == "ReduceSum") return one(sum(x, axes, keep));
    if (op == "ReduceMax") return one(max(x, axes, keep));
    if (op == "ReduceMin") return one(min(x, axes, keep));
    if (op == "ReduceL2") return one(l2_norm(x, axes, keep));
    return one(sum(square(x), axes, keep));  // ReduceSumSquare
  };
}

template <class T, class B>
kernel<T, B> softmax_kernel(const node_view& n, bool log) {
  const bool coerce_2d = n.opset() < 13;  // opsets 1-12: softmax over the flattened axes [axis, rank)
  const std::int64_t axis = n.i("axis", coerce_2d ? 1 : -1);
  return [where = n.where(), coerce_2d, axis, log](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    const index_t a = axis_of(axis, x.rank(), where);
    auto run = [&](const var<T, B>& v, index_t ax) { return log ? log_softmax(v, ax) : softmax(v, ax); };
    if (!coerce_2d || a == static_cast<index_t>(x.rank()) - 1) return one(run(x, a));
    const auto s = x.shape();
    index_t outer = 1;
    for (index_t k = 0; k < a; ++k) outer *= s[static_cast<std::size_t>(k)];
    return one(reshape(run(reshape(x, shape{outer, s.numel() / std::max<index_t>(outer, 1)}), 1), s));
  };
}

// ---- shapes -----------------------------------------------------------------------------------

template <class T, class B>
kernel<T, B> shape_kernel(const node_view& n) {
  const std::int64_t start = n.i("start", 0);
  const std::int64_t end = n.i("end", std::numeric_limits<std::int64_t>::max());
  return [where = n.where(), start, end](const input_list<T, B>& in) {
    const auto d = any_in(in, 0, where).extents();
    const auto r = static_cast<std::int64_t>(d.size());
    auto clampi = [r](std::int64_t v) { return std::clamp<std::int64_t>(v < 0 ? v + r : v, 0, r); };
    std::vector<std::int64_t> out(d.begin() + clampi(start), d.begin() + std::max(clampi(start), clampi(end)));
    return std::vector<value<T, B>>{value<T, B>::of_ints(std::move(out))};
  };
}

/// Reshape's target: 0 copies the input's extent (unless allowzero), -1 is inferred.
inline std::vector<index_t> reshape_target(const std::vector<index_t>& in_dims, const std::vector<std::int64_t>& target,
                                           bool allow_zero, const std::string& where) {
  std::vector<index_t> out;
  index_t known = 1, infer = -1, total = 1;
  for (auto d : in_dims) total *= d;
  for (std::size_t k = 0; k < target.size(); ++k) {
    index_t d = static_cast<index_t>(target[k]);
    if (d == 0 && !allow_zero) {
      if (k >= in_dims.size()) fail<shape_error>("onnx", where, ": Reshape copies axis ", k, " the input lacks");
      d = in_dims[k];
    }
    if (d == -1) {
      if (infer >= 0) fail<shape_error>("onnx", where, ": Reshape has more than one -1");
      infer = static_cast<index_t>(k);
      out.push_back(1);
      continue;
    }
    if (d < 0) fail<shape_error>("onnx", where, ": Reshape extent ", d, " is negative");
    if (d > 0 && known > (index_t{1} << 40) / d) fail<shape_error>("onnx", where, ": Reshape target is too large");
    known *= d;
    out.push_back(d);
  }
  if (infer >= 0) {
    if (known == 0 || total % known != 0)
      fail<shape_error>("onnx", where, ": cannot reshape ", total, " elements to a shape with ", known, " x -1");
    out[static_cast<std::size_t>(infer)] = total / known;
  } else if (known != total) {
    fail<shape_error>("onnx", where, ": cannot reshape ", total, " elements to ", known);
  }
  return out;
}

template <class T, class B>
value<T, B> reshaped(const value<T, B>& v, const std::vector<index_t>& dims, const std::string& where) {
  if (v.is_int) return value<T, B>::of_ints(v.ints, dims);
  return value<T, B>::of(reshape(v.f, to_shape(dims, where)));
}

template <class T, class B>
kernel<T, B> reshape_kernel(const node_view& n) {
  const bool allow_zero = n.i("allowzero", 0) != 0;
  const auto attr_shape = n.ints("shape");  // opset 1-4
  const bool from_attr = n.opset() < 5;
  return [where = n.where(), allow_zero, attr_shape, from_attr](const input_list<T, B>& in) {
    const auto& target = from_attr ? attr_shape : int_in(in, 1, where).ints;
    return std::vector<value<T, B>>{reshaped(
        any_in(in, 0, where), reshape_target(any_in(in, 0, where).extents(), target, allow_zero, where), where)};
  };
}

template <class T, class B>
kernel<T, B> flatten_kernel(const node_view& n) {
  const std::int64_t axis = n.i("axis", 1);
  return [where = n.where(), axis](const input_list<T, B>& in) {
    const auto d = any_in(in, 0, where).extents();
    const auto r = static_cast<std::int64_t>(d.size());
    const auto a = axis < 0 ? axis + r : axis;
    if (a < 0 || a > r) fail<shape_error>("onnx", where, ": Flatten axis ", axis, " out of range for rank ", r);
    index_t outer = 1, inner = 1;
    for (std::int64_t k = 0; k < r; ++k) (k < a ? outer : inner) *= d[static_cast<std::size_t>(k)];
    return std::vector<value<T, B>>{reshaped(any_in(in, 0, where), {outer, inner}, where)};
  };
}

template <class T, class B>
kernel<T, B> squeeze_kernel(const node_view& n, bool unsqueeze_op) {
  const bool from_input = n.opset() >= 13;
  const auto attr_axes = n.ints("axes");
  if (unsqueeze_op && !from_input && attr_axes.empty()) n.refuse("needs the attribute \"axes\"");
  return [where = n.where(), from_input, attr_axes, unsqueeze_op](const input_list<T, B>& in) {
    const auto d = any_in(in, 0, where).extents();
    std::vector<std::int64_t> axes = attr_axes;
    if (from_input && given(in, 1)) axes = int_in(in, 1, where).ints;
    std::vector<index_t> out;
    if (unsqueeze_op) {
      const auto r = d.size() + axes.size();
      std::vector<bool> inserted(r, false);
      for (auto a : axes) {
        const auto k = static_cast<std::size_t>(axis_of(a, r, where));
        if (inserted[k]) fail<shape_error>("onnx", where, ": Unsqueeze axis ", a, " repeats");
        inserted[k] = true;
      }
      std::size_t src = 0;
      for (std::size_t k = 0; k < r; ++k) out.push_back(inserted[k] ? 1 : d[src++]);
    } else {
      std::vector<bool> drop(d.size(), false);
      if (axes.empty())
        for (std::size_t k = 0; k < d.size(); ++k) drop[k] = d[k] == 1;
      for (auto a : axes) {
        const auto k = static_cast<std::size_t>(axis_of(a, d.size(), where));
        if (d[k] != 1) fail<shape_error>("onnx", where, ": Squeeze axis ", a, " has extent ", d[k], ", not 1");
        drop[k] = true;
      }
      for (std::size_t k = 0; k < d.size(); ++k)
        if (!drop[k]) out.push_back(d[k]);
    }
    return std::vector<value<T, B>>{reshaped(any_in(in, 0, where), out, where)};
  };
}

template <class T, class B>
kernel<T, B> transpose_kernel(const node_view& n) {
  const auto perm_attr = n.ints("perm");
  return [where = n.where(), perm_attr](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    std::vector<index_t> perm;
    if (perm_attr.empty())
      for (index_t k = static_cast<index_t>(x.rank()); k-- > 0;) perm.push_back(k);
    for (auto p : perm_attr) perm.push_back(static_cast<index_t>(p));
    if (perm.size() != x.rank())
      fail<shape_error>("onnx", where, ": perm has ", perm.size(), " entries for rank ", x.rank());
    return one(permute(x, perm));
  };
}

template <class T, class B>
kernel<T, B> concat_kernel(const node_view& n) {
  if (!n.has("axis")) n.refuse("needs the attribute \"axis\"");
  const std::int64_t axis = n.i("axis", 0);
  return [where = n.where(), axis](const input_list<T, B>& in) {
    if (in.empty()) fail<shape_error>("onnx", where, ": needs inputs");
    if (any_in(in, 0, where).is_int) {
      std::vector<std::int64_t> out;
      for (std::size_t k = 0; k < in.size(); ++k) {
        const auto& v = int_in(in, k, where);
        if (v.dims.size() != 1) fail<shape_error>("onnx", where, ": integer Concat is for 1-D shape vectors");
        out.insert(out.end(), v.ints.begin(), v.ints.end());
      }
      return std::vector<value<T, B>>{value<T, B>::of_ints(std::move(out))};
    }
    std::vector<var<T, B>> xs;
    for (std::size_t k = 0; k < in.size(); ++k) xs.push_back(float_in(in, k, where));
    return one(concat(xs, axis_of(axis, xs[0].rank(), where)));
  };
}

/// Slice with unit steps (starts/ends/axes as attributes before opset 10, as inputs after).
template <class T, class B>
kernel<T, B> slice_kernel(const node_view& n) {
  const bool from_attrs = n.opset() < 10;
  const auto a_starts = n.ints("starts"), a_ends = n.ints("ends"), a_axes = n.ints("axes");
  return [where = n.where(), from_attrs, a_starts, a_ends, a_axes](const input_list<T, B>& in) {
    auto starts = a_starts, ends = a_ends, axes = a_axes;
    std::vector<std::int64_t> steps;
    if (!from_attrs) {
      starts = int_in(in, 1, where).ints;
      ends = int_in(in, 2, where).ints;
      axes = given(in, 3) ? int_in(in, 3, where).ints : std::vector<std::int64_t>{};
      if (given(in, 4)) steps = int_in(in, 4, where).ints;
    }
    if (starts.size() != ends.size()) fail<shape_error>("onnx", where, ": starts and ends differ in length");
    if (axes.empty())
      for (std::size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<std::int64_t>(k));
    if (axes.size() != starts.size()) fail<shape_error>("onnx", where, ": axes and starts differ in length");
    for (auto s : steps)
      if (s != 1) fail<shape_error>("onnx", where, ": Slice steps other than 1 are not supported (got ", s, ")");
    auto v = any_in(in, 0, where);
    for (std::size_t k = 0; k < axes.size(); ++k) {
      const auto d = v.extents();
      const auto ax = static_cast<std::size_t>(axis_of(axes[k], d.size(), where));
      const auto dim = static_cast<std::int64_t>(d[ax]);
      auto fix = [dim](std::int64_t p) { return std::clamp<std::int64_t>(p < 0 ? p + dim : p, 0, dim); };
      const auto s = fix(starts[k]), e = std::max(fix(starts[k]), fix(ends[k]));
      if (!v.is_int) {
        v = value<T, B>::of(slice(v.f, static_cast<index_t>(ax), static_cast<index_t>(s), static_cast<index_t>(e)));
        continue;
      }
      if (d.size() != 1) fail<shape_error>("onnx", where, ": integer Slice is for 1-D vectors");
      v = value<T, B>::of_ints(std::vector<std::int64_t>(v.ints.begin() + s, v.ints.begin() + e));
    }
    return std::vector<value<T, B>>{v};
  };
}

template <class T, class B>
kernel<T, B> gather_kernel(const node_view& n) {
  const std::int64_t axis = n.i("axis", 0);
  return [where = n.where(), axis](const input_list<T, B>& in) {
    const auto& idx = int_in(in, 1, where);
    const auto d = any_in(in, 0, where).extents();
    const auto ax = static_cast<std::size_t>(axis_of(axis, d.size(), where));
    const auto dim = static_cast<std::int64_t>(d[ax]);
    std::vector<index_t> rows;
    for (auto i : idx.ints) {
      const auto j = i < 0 ? i + dim : i;
      if (j < 0 || j >= dim)
        fail<shape_error>("onnx", where, ": Gather index ", i, " is outside [", -dim, ", ", dim, ")");
      rows.push_back(static_cast<index_t>(j));
    }
    std::vector<index_t> out_dims(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(ax));
    out_dims.insert(out_dims.end(), idx.dims.begin(), idx.dims.end());
    out_dims.insert(out_dims.end(), d.begin() + static_cast<std::ptrdiff_t>(ax) + 1, d.end());
    if (in[0]->is_int) {
      index_t outer = 1, inner = 1;
      for (std::size_t k = 0; k < ax; ++k) outer *= d[k];
      for (std::size_t k = ax + 1; k < d.size(); ++k) inner *= d[k];
      std::vector<std::int64_t> out;
      for (index_t o = 0; o < outer; ++o)
        for (auto r : rows)
          for (index_t i = 0; i < inner; ++i)
            out.push_back(in[0]->ints[static_cast<std::size_t>((o * d[ax] + r) * inner + i)]);
      return std::vector<value<T, B>>{value<T, B>::of_ints(std::move(out), out_dims)};
    }
    // Float data: bring the axis to the front, select rows, put it back.
    const auto& x = in[0]->f;
    std::vector<index_t> perm{static_cast<index_t>(ax)};
    for (std::size_t k = 0; k < d.size(); ++k)
      if (k != ax) perm.push_back(static_cast<index_t>(k));
    auto front = ax == 0 ? x : permute(x, perm);
    const index_t rest = d[ax] == 0 ? 0 : x.value().numel() / d[ax];
    auto picked = index_select(reshape(front, shape{d[ax], rest}), index_list<B>(rows));
    std::vector<index_t> moved{static_cast<index_t>(rows.size())};
    for (std::size_t k = 0; k < d.size(); ++k)
      if (k != ax) moved.push_back(d[k]);
    auto y = reshape(picked, to_shape(moved, where));
    if (ax != 0) {
      std::vector<index_t> back(d.size());
      for (std::size_t k = 0; k < d.size(); ++k) back[static_cast<std::size_t>(perm[k])] = static_cast<index_t>(k);
      y = permute(y, back);
    }
    return one(reshape(y, to_shape(out_dims, where)));
  };
}

template <class T, class B>
kernel<T, B> cast_kernel(const node_view& n) {
  const auto target = n.i("to", 0);
  const bool to_float = target == 1 || target == 10 || target == 11;
  const bool to_int =
      target == 6 || target == 7 || target == 9 || (target >= 2 && target <= 5) || target == 12 || target == 13;
  if (!to_float && !to_int) n.refuse("Cast to element type ", target, " is not supported");
  return [where = n.where(), to_float](const input_list<T, B>& in) {
    const auto& v = any_in(in, 0, where);
    if (to_float == !v.is_int) return std::vector<value<T, B>>{v};
    if (to_float) {
      std::vector<T> data(v.ints.begin(), v.ints.end());
      return one(constant(to<B>(tensor<T, host>::from(data, to_shape(v.dims, where)))));
    }
    const auto host_values = to<host>(v.f.value()).to_vector();
    std::vector<std::int64_t> out;
    for (auto x : host_values) out.push_back(static_cast<std::int64_t>(x));
    return std::vector<value<T, B>>{value<T, B>::of_ints(std::move(out), v.extents())};
  };
}

template <class T, class B>
kernel<T, B> constant_kernel(const node_view& n) {
  value<T, B> v;
  if (n.has("value"))
    v = value_of<T, B>(n.tensor("value"), n.where());
  else if (n.has("value_float"))
    v = value<T, B>::of(
        constant(to<B>(tensor<T, host>::from(std::vector<T>{static_cast<T>(n.f("value_float", 0))}, shape{}))));
  else if (n.has("value_floats")) {
    const auto f = n.floats("value_floats");
    v = value<T, B>::of(constant(
        to<B>(tensor<T, host>::from(std::vector<T>(f.begin(), f.end()), shape{static_cast<index_t>(f.size())}))));
  } else if (n.has("value_int"))
    v = value<T, B>::of_ints({n.i("value_int", 0)}, {});
  else if (n.has("value_ints"))
    v = value<T, B>::of_ints(n.ints("value_ints"));
  else
    n.refuse("Constant needs value, value_float(s) or value_int(s)");
  return [v](const input_list<T, B>&) { return std::vector<value<T, B>>{v}; };
}

/// Resize (opsets 10+) and Upsample (7-9): nearest or linear on the two last axes of NCHW,
/// each axis resampled by an (out x in) matrix built for the node's coordinate mode.
template <class T, class B>
kernel<T, B> resize_kernel(const node_view& n, bool upsample_op) {
  const std::string mode = n.s("mode", "nearest");
  if (mode != "nearest" && mode != "linear" && mode != "bilinear")
    n.refuse("mode \"", mode, "\" (supported: nearest, linear)");
  const bool linear = mode != "nearest";
  std::string coord =
      n.s("coordinate_transformation_mode", upsample_op || n.opset() < 11 ? "asymmetric" : "half_pixel");
  const std::string nearest_mode = n.s("nearest_mode", upsample_op || n.opset() < 11 ? "floor" : "round_prefer_floor");
  if (coord != "half_pixel" && coord != "pytorch_half_pixel" && coord != "asymmetric" && coord != "align_corners")
    n.refuse("coordinate_transformation_mode \"", coord, "\" is not supported");
  if (nearest_mode != "round_prefer_floor" && nearest_mode != "round_prefer_ceil" && nearest_mode != "floor" &&
      nearest_mode != "ceil")
    n.refuse("nearest_mode \"", nearest_mode, "\" is not supported");
  if (n.i("antialias", 0) != 0) n.refuse("antialias is not supported");
  const auto attr_scales = n.floats("scales");  // Upsample-7
  const int scales_input = upsample_op ? 1 : (n.opset() < 11 ? 1 : 2);
  const int sizes_input = upsample_op || n.opset() < 11 ? -1 : 3;
  return [where = n.where(), linear, coord, nearest_mode, attr_scales, scales_input,
          sizes_input](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    if (x.rank() != 4) fail<shape_error>("onnx", where, ": input ", x.shape(), " must be (N, C, H, W)");
    std::vector<double> scales(attr_scales.begin(), attr_scales.end());
    std::vector<index_t> sizes;
    if (sizes_input > 0 && given(in, static_cast<std::size_t>(sizes_input)))
      for (auto s : int_in(in, static_cast<std::size_t>(sizes_input), where).ints)
        sizes.push_back(static_cast<index_t>(s));
    if (sizes.empty() && given(in, static_cast<std::size_t>(scales_input))) {
      const auto& s = float_in(in, static_cast<std::size_t>(scales_input), where);
      if (s.value().numel() > 0) {
        scales.clear();
        for (auto v : to<host>(s.value()).to_vector()) scales.push_back(v);
      }
    }
    if (sizes.empty()) {
      if (scales.size() != 4) fail<shape_error>("onnx", where, ": needs 4 scales or 4 sizes, got ", scales.size());
      if (scales[0] != 1 || scales[1] != 1) fail<shape_error>("onnx", where, ": only H and W may be resized");
      for (std::size_t k = 0; k < 4; ++k) {
        if (!(scales[k] > 0 && scales[k] <= 1024))
          fail<shape_error>("onnx", where, ": scale ", scales[k], " is not in (0, 1024]");
        sizes.push_back(static_cast<index_t>(std::floor(x.size(k) * scales[k])));
      }
    } else {
      if (sizes.size() != 4 || sizes[0] != x.size(0) || sizes[1] != x.size(1))
        fail<shape_error>("onnx", where, ": sizes must be (N, C, h, w) of the input");
      scales = {1, 1, double(sizes[2]) / x.size(2), double(sizes[3]) / x.size(3)};
    }
    // Resizing is for feature maps: refuse outputs no model needs (and no allocation should try).
    if (sizes[2] < 1 || sizes[3] < 1 || sizes[2] > (1 << 14) || sizes[3] > (1 << 14) ||
        x.size(0) * x.size(1) * sizes[2] * sizes[3] > (index_t{1} << 28))
      fail<shape_error>("onnx", where, ": output ", sizes[2], "x", sizes[3], " for input ", x.shape(),
                        " is out of range");
    auto matrix = [&](index_t out, index_t in_size, double scale) {
      std::vector<T> m(static_cast<std::size_t>(out * in_size), T(0));
      for (index_t o = 0; o < out; ++o) {
        double src;
        if (coord == "asymmetric")
          src = o / scale;
        else if (coord == "align_corners")
          src = out == 1 ? 0.0 : o * double(in_size - 1) / double(out - 1);
        else if (coord == "pytorch_half_pixel" && out == 1)
          src = 0;
        else
          src = (o + 0.5) / scale - 0.5;
        auto at = [&](index_t i) -> T& {
          return m[static_cast<std::size_t>(o * in_size + std::clamp<index_t>(i, 0, in_size - 1))];
        };
        if (linear) {
          src = std::clamp(src, 0.0, double(in_size - 1));
          const auto i0 = static_cast<index_t>(std::floor(src));
          const double t = src - double(i0);
          at(i0) += static_cast<T>(1 - t);
          if (t > 0) at(i0 + 1) += static_cast<T>(t);
        } else {
          double r;
          if (nearest_mode == "floor")
            r = std::floor(src);
          else if (nearest_mode == "ceil")
            r = std::ceil(src);
          else if (src - std::floor(src) == 0.5)
            r = nearest_mode == "round_prefer_floor" ? std::floor(src) : std::ceil(src);
          else
            r = std::round(src);
          at(static_cast<index_t>(r)) += T(1);
        }
      }
      return constant(to<B>(tensor<T, host>::from(m, shape{out, in_size})));
    };
    auto y = x;
    if (sizes[3] != x.size(3) || scales[3] != 1) y = matmul(y, matrix(sizes[3], x.size(3), scales[3]), false, true);
    if (sizes[2] != x.size(2) || scales[2] != 1) y = matmul(matrix(sizes[2], x.size(2), scales[2]), y);
    return one(y);
  };
}

}  // namespace detail

/// The operator table: op_type -> the compiler of its kernel. `supported_ops()` lists it.
template <class T, class B>
kernel<T, B> compile_op(const node_view& n) {
  using namespace detail;
  const auto& op = n.node().op_type;
  if (!n.node().domain.empty() && n.node().domain != "ai.onnx")
    n.refuse("op \"", op, "\" of domain \"", n.node().domain, "\" is not supported (only the default ONNX domain)");
  using V = var<T, B>;
  auto minus = [](std::int64_t a, std::int64_t b) { return a - b; };
  if (op == "Add")
    return binary_kernel<T, B>(
        n, [](const V& a, const V& b) { return a + b; }, std::plus<std::int64_t>{});
  if (op == "Sub")
    return binary_kernel<T, B>(
        n, [](const V& a, const V& b) { return a - b; }, minus);
  if (op == "Mul")
    return binary_kernel<T, B>(
        n, [](const V& a, const V& b) { return a * b; }, std::multiplies<std::int64_t>{});
  if (op == "Div")
    return binary_kernel<T, B>(
        n, [](const V& a, const V& b) { return a / b; },
        [](std::int64_t a, std::int64_t b) {
          if (b == 0) fail<value_error>("onnx", "integer Div by zero");
          return a / b;
        });
  if (op == "PRelu")
    return binary_kernel<T, B>(
        n, [](const V& x, const V& s) { return prelu(x, s); }, minus);
  if (op == "Relu") return unary_kernel<T, B>(n, [](const V& x) { return relu(x); });
  if (op == "LeakyRelu") {
    const T a = static_cast<T>(n.f("alpha", 0.01f));
    return unary_kernel<T, B>(n, [a](const V& x) { return leaky_relu(x, a); });
  }
  if (op == "Sigmoid") return unary_kernel<T, B>(n, [](const V& x) { return sigmoid(x); });
  if (op == "Tanh") return unary_kernel<T, B>(n, [](const V& x) { return tanh(x); });
  if (op == "Exp") return unary_kernel<T, B>(n, [](const V& x) { return exp(x); });
  if (op == "Log") return unary_kernel<T, B>(n, [](const V& x) { return log(x); });
  if (op == "Sqrt") return unary_kernel<T, B>(n, [](const V& x) { return sqrt(x); });
  if (op == "Abs") return unary_kernel<T, B>(n, [](const V& x) { return abs(x); });
  if (op == "Neg") return unary_kernel<T, B>(n, [](const V& x) { return -x; });
  if (op == "Reciprocal") return unary_kernel<T, B>(n, [](const V& x) { return T(1) / x; });
  if (op == "Identity" || op == "Dropout") {
    if (op == "Dropout" && n.node().outputs.size() > 1 && !n.node().outputs[1].empty())
      n.refuse("Dropout's mask output is not supported (inference only)");
    return [where = n.where()](const input_list<T, B>& in) { return std::vector<value<T, B>>{any_in(in, 0, where)}; };
  }
  if (op == "Clip") return clip_kernel<T, B>(n);
  if (op == "Pow") return pow_kernel<T, B>(n);
  if (op == "Max" || op == "Min" || op == "Sum" || op == "Mean") return variadic_kernel<T, B>(n, op);
  if (op == "MatMul") return matmul_kernel<T, B>(n);
  if (op == "Gemm") return gemm_kernel<T, B>(n);
  if (op == "Conv") return conv_kernel<T, B>(n);
  if (op == "BatchNormalization") return batchnorm_kernel<T, B>(n);
  if (op == "MaxPool" || op == "AveragePool") return pool_kernel<T, B>(n, op == "MaxPool");
  if (op == "GlobalAveragePool" || op == "GlobalMaxPool") return global_pool_kernel<T, B>(n, op == "GlobalMaxPool");
  if (op == "ReduceMean" || op == "ReduceSum" || op == "ReduceMax" || op == "ReduceMin" || op == "ReduceL2" ||
      op == "ReduceSumSquare")
    return reduce_kernel<T, B>(n, op);
  if (op == "Softmax" || op == "LogSoftmax") return softmax_kernel<T, B>(n, op == "LogSoftmax");
  if (op == "Shape") return shape_kernel<T, B>(n);
  if (op == "Reshape") return reshape_kernel<T, B>(n);
  if (op == "Flatten") return flatten_kernel<T, B>(n);
  if (op == "Squeeze" || op == "Unsqueeze") return squeeze_kernel<T, B>(n, op == "Unsqueeze");
  if (op == "Transpose") return transpose_kernel<T, B>(n);
  if (op == "Concat") return concat_kernel<T, B>(n);
  if (op == "Slice") return slice_kernel<T, B>(n);
  if (op == "Gather") return gather_kernel<T, B>(n);
  if (op == "Cast") return cast_kernel<T, B>(n);
  if (op == "Constant") return constant_kernel<T, B>(n);
  if (op == "Resize" || op == "Upsample") return resize_kernel<T, B>(n, op == "Upsample");
  n.refuse("op \"", op, "\" is not supported (bijgan::engines::onnx::supported_ops() lists what is)");
}

/// The op types compile_op accepts.
inline const std::vector<std::string>& supported_ops() {
  static const std::vector<std::string> ops{"Abs",
                                            "Add",
                                            "AveragePool",
                                            "BatchNormalization",
                                            "Cast",
                                            "Clip",
                                            "Concat",
                                            "Constant",
                                            "Conv",
                                            "Div",
                                            "Dropout",
                                            "Exp",
                                            "Flatten",
                                            "Gather",
                                            "Gemm",
                                            "GlobalAveragePool",
                                            "GlobalMaxPool",
                                            "Identity",
                                            "LeakyRelu",
                                            "Log",
                                            "LogSoftmax",
                                            "MatMul",
                                            "Max",
                                            "MaxPool",
                                            "Mean",
                                            "Min",
                                            "Mul",
                                            "Neg",
                                            "PRelu",
                                            "Pow",
                                            "Reciprocal",
                                            "ReduceL2",
                                            "ReduceMax",
                                            "ReduceMean",
                                            "ReduceMin",
                                            "ReduceSum",
                                            "ReduceSumSquare",
                                            "Relu",
                                            "Reshape",
                                            "Resize",
                                            "Shape",
                                            "Sigmoid",
                                            "Slice",
                                            "Softmax",
                                            "Sqrt",
                                            "Squeeze",
                                            "Sub",
                                            "Sum",
                                            "Tanh",
                                            "Transpose",
                                            "Unsqueeze",
                                            "Upsample"};
  return ops;
}

}  // namespace bijgan::engines::onnx
