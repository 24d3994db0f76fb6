// The TensorFlow ops of TF.js graph models that bijgan executes, each compiled from its node
// into kernels of our differentiable var ops. TF tensors are NHWC: a convolution permutes its
// input to NCHW, runs our conv2d and permutes back; its filter (HWIO, or H W C M for depthwise)
// is rearranged to OIHW by a helper node that constant folding evaluates once at load. Fused
// ops (_FusedConv2D, FusedDepthwiseConv2dNative, _FusedMatMul) run their fused_ops list exactly
// as written, which is what makes converter quirks reproducible. Anything outside the table is
// refused at load.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "bijgan/engines/graph/kernel_util.hpp"
#include "bijgan/engines/graph/program.hpp"
#include "bijgan/engines/tfjs/node.hpp"
#include "bijgan/ops/conv.hpp"

namespace bijgan::engines::tfjs {

using engines::graph::kernel;
using engines::graph::value;

namespace detail {
using namespace engines::graph::detail;

/// Strides, dilations and padding of an NHWC conv node.
struct conv_attrs {
  index_t sh = 1, sw = 1, dh = 1, dw = 1;
  std::string padding = "VALID";
  index_t pt = 0, pb = 0, pl = 0, pr = 0;  // EXPLICIT

  static conv_attrs read(const node_view& n) {
    conv_attrs c;
    if (n.s("data_format", "NHWC") != "NHWC") n.refuse("data_format must be NHWC");
    auto four = [&](const char* name, index_t& h, index_t& w) {
      const auto v = n.ints(name);
      if (v.empty()) return;
      if (v.size() != 4 || v[0] != 1 || v[3] != 1 || v[1] < 1 || v[2] < 1 || v[1] > 4096 || v[2] > 4096)
        n.refuse(name, " must be [1, h, w, 1] with h, w in [1, 4096]");
      h = static_cast<index_t>(v[1]);
      w = static_cast<index_t>(v[2]);
    };
    four("strides", c.sh, c.sw);
    four("dilations", c.dh, c.dw);
    if (c.sh != c.sw || c.dh != c.dw) n.refuse("strides and dilations must be equal along height and width");
    c.padding = n.s("padding", "VALID");
    if (c.padding == "EXPLICIT") {
      const auto p = n.ints("explicit_paddings");
      if (p.size() != 8) n.refuse("explicit_paddings must have 8 entries");
      for (auto v : p)
        if (v < 0 || v > 4096) n.refuse("explicit_paddings must lie in [0, 4096]");
      c.pt = static_cast<index_t>(p[2]);
      c.pb = static_cast<index_t>(p[3]);
      c.pl = static_cast<index_t>(p[4]);
      c.pr = static_cast<index_t>(p[5]);
    } else if (c.padding != "SAME" && c.padding != "VALID") {
      n.refuse("padding \"", c.padding, "\" is not SAME, VALID or EXPLICIT");
    }
    return c;
  }
  /// TF's SAME: total = max((out - 1) * s + (k - 1) * d + 1 - in, 0), the extra pixel at the end.
  void pads_for(index_t h, index_t w, index_t kh, index_t kw, index_t& t, index_t& b, index_t& l, index_t& r) const {
    t = pt, b = pb, l = pl, r = pr;
    if (padding == "SAME") {
      auto same = [](index_t in, index_t k, index_t s, index_t d, index_t& lo, index_t& hi) {
        const index_t out = (in + s - 1) / s;
        const index_t total = std::max<index_t>(0, (out - 1) * s + (k - 1) * d + 1 - in);
        lo = total / 2;
        hi = total - lo;
      };
      same(h, kh, sh, dh, t, b);
      same(w, kw, sw, dw, l, r);
    } else if (padding == "VALID") {
      t = b = l = r = 0;
    }
  }
};

/// The fused_ops tail of a _Fused* node: BiasAdd, then at most one activation.
struct fused_tail {
  bool bias = false;
  std::string activation;  // "", Relu, Relu6, Prelu, LeakyRelu, Elu, Sigmoid, Tanh
  float leaky_alpha = 0.2f;
  std::size_t args = 0;  // extra inputs after the two operands

  static fused_tail read(const node_view& n) {
    fused_tail t;
    const auto ops = n.strings("fused_ops");
    std::size_t k = 0;
    if (k < ops.size() && ops[k] == "BiasAdd") {
      t.bias = true;
      ++k;
    }
    if (k < ops.size()) {
      t.activation = ops[k++];
      if (t.activation != "Relu" && t.activation != "Relu6" && t.activation != "Prelu" && t.activation != "LeakyRelu" &&
          t.activation != "Sigmoid" && t.activation != "Tanh" && t.activation != "Elu")
        n.refuse("fused op \"", t.activation, "\" is not supported");
    }
    if (k < ops.size())
      n.refuse("fused_ops [", ops.size(), " entries] beyond BiasAdd + one activation are not supported");
    t.leaky_alpha = n.f("leakyrelu_alpha", 0.2f);
    t.args = static_cast<std::size_t>(n.i("num_args", static_cast<std::int64_t>(t.bias) + (t.activation == "Prelu")));
    if (t.args != static_cast<std::size_t>(t.bias) + (t.activation == "Prelu"))
      n.refuse("num_args ", t.args, " does not fit fused_ops");
    if (n.inputs() != 2 + t.args) n.refuse("needs ", 2 + t.args, " inputs, has ", n.inputs());
    return t;
  }
  template <class T, class B>
  var<T, B> apply_to(var<T, B> y, const input_list<T, B>& in, const std::string& where, bool bias_done) const {
    std::size_t arg = 2;
    if (bias) {
      if (!bias_done) y = y + float_in(in, arg, where);
      ++arg;
    }
    if (activation == "Relu") return relu(y);
    if (activation == "Relu6") return clamp(y, T(0), T(6));
    if (activation == "Prelu") return prelu(y, float_in(in, arg, where));
    if (activation == "LeakyRelu") return leaky_relu(y, static_cast<T>(leaky_alpha));
    if (activation == "Sigmoid") return sigmoid(y);
    if (activation == "Tanh") return tanh(y);
    if (activation == "Elu") {
      const auto pos = apply(fn::step{}, y.value());
      return bijgan::where(pos, y, exp(y) - T(1));
    }
    return y;
  }
};

/// Conv2D / DepthwiseConv2dNative and their fused forms. Returns the node's kernel; the filter
/// it reads is the OIHW one the helper node makes.
template <class T, class B>
kernel<T, B> conv_kernel(const node_view& n, bool depthwise, bool fused) {
  const auto c = conv_attrs::read(n);
  const auto tail = fused ? fused_tail::read(n) : fused_tail{};
  if (!fused && n.inputs() != 2) n.refuse("needs 2 inputs, has ", n.inputs());
  return [where = n.where(), c, tail, depthwise](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    const auto& w = float_in(in, 1, where);  // OIHW (or (C*M, 1, kh, kw) for depthwise)
    if (x.rank() != 4) fail<shape_error>("tfjs", where, ": input ", x.shape(), " must be NHWC");
    const index_t groups = depthwise ? x.size(3) : 1;
    if (x.size(3) != w.size(1) * groups)
      fail<shape_error>("tfjs", where, ": input ", x.shape(), " (NHWC) does not fit the filter (", w.size(2), "x",
                        w.size(3), ", ", w.size(1) * groups, " input channels)");
    var<T, B> nchw = permute(x, {0, 3, 1, 2});
    index_t t, b, l, r;
    c.pads_for(x.size(1), x.size(2), w.size(2), w.size(3), t, b, l, r);
    index_t padding = t;
    if (!(t == b && b == l && l == r)) {
      nchw = pad(nchw, {0, 0, 0, 0, t, b, l, r});
      padding = 0;
    }
    const conv2d_options o{.stride = c.sh, .padding = padding, .dilation = c.dh, .groups = groups};
    var<T, B> y = tail.bias ? conv2d(nchw, w, float_in(in, 2, where), o) : conv2d(nchw, w, var<T, B>{}, o);
    return one(tail.apply_to(permute(y, {0, 2, 3, 1}), in, where, true));
  };
}

/// The helper that rearranges a filter once (folded at load): HWIO -> OIHW, or for depthwise
/// (kh, kw, C, M) -> (C*M, 1, kh, kw).
template <class T, class B>
kernel<T, B> filter_layout_kernel(const std::string& where, bool depthwise) {
  return [where, depthwise](const input_list<T, B>& in) {
    const auto& f = float_in(in, 0, where);
    if (f.rank() != 4) fail<shape_error>("tfjs", where, ": filter ", f.shape(), " must have rank 4");
    if (!depthwise) return one(permute(f, {3, 2, 0, 1}));
    const auto cm = permute(f, {2, 3, 0, 1});  // (C, M, kh, kw)
    return one(reshape(cm, shape{f.size(2) * f.size(3), 1, f.size(0), f.size(1)}));
  };
}

template <class T, class B>
kernel<T, B> matmul_kernel(const node_view& n, bool fused) {
  const bool ta = n.b("transpose_a", false), tb = n.b("transpose_b", false);
  const auto tail = fused ? fused_tail::read(n) : fused_tail{};
  return [where = n.where(), ta, tb, tail](const input_list<T, B>& in) {
    const auto& a = float_in(in, 0, where);
    const auto& b = float_in(in, 1, where);
    if (a.rank() != 2 || b.rank() != 2 || a.size(ta ? 0 : 1) != b.size(tb ? 1 : 0))
      fail<shape_error>("tfjs", where, ": MatMul of ", a.shape(), (ta ? "^T" : ""), " and ", b.shape(),
                        (tb ? "^T" : ""));
    return one(tail.apply_to(matmul(a, b, ta, tb), in, where, false));
  };
}

template <class T, class B, class F>
kernel<T, B> unary_kernel(const node_view& n, F f) {
  if (n.inputs() != 1) n.refuse("needs 1 input, has ", n.inputs());
  return [where = n.where(), f](const input_list<T, B>& in) { return one(f(float_in(in, 0, where))); };
}
template <class T, class B, class F>
kernel<T, B> binary_kernel(const node_view& n, F f) {
  if (n.inputs() != 2) n.refuse("needs 2 inputs, has ", n.inputs());
  return [where = n.where(), f](const input_list<T, B>& in) {
    try {
      return one(f(float_in(in, 0, where), float_in(in, 1, where)));
    } catch (const shape_error& e) {
      fail<shape_error>("tfjs", where, ": ", e.what());
    }
  };
}

/// Mean, Sum, Max, Min: data and an integer axes input; keep_dims.
template <class T, class B>
kernel<T, B> reduce_kernel(const node_view& n) {
  const bool keep = n.b("keep_dims", false);
  const std::string op = n.op();
  return [where = n.where(), keep, op](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    axes_t axes;
    for (auto a : int_in(in, 1, where).ints) axes.push_back(axis_of(a, x.rank(), where));
    std::sort(axes.begin(), axes.end());
    axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
    if (op == "Mean") return one(mean(x, axes, keep));
    if (op == "Sum") return one(sum(x, axes, keep));
    if (op == "Max") return one(max(x, axes, keep));
    return one(min(x, axes, keep));
  };
}

template <class T, class B>
kernel<T, B> pad_kernel(const node_view& n) {
  const bool with_value = n.op() == "PadV2";
  return [where = n.where(), with_value](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    const auto& p = int_in(in, 1, where);
    if (p.dims != std::vector<index_t>{static_cast<index_t>(x.rank()), 2})
      fail<shape_error>("tfjs", where, ": paddings must be [", x.rank(), ", 2]");
    std::vector<index_t> pads;
    for (auto v : p.ints) {
      if (v < 0 || v > 4096) fail<shape_error>("tfjs", where, ": padding ", v, " is not in [0, 4096]");
      pads.push_back(static_cast<index_t>(v));
    }
    return one(pad(x, pads, with_value ? scalar_in(in, 2, where) : T(0)));
  };
}

template <class T, class B>
kernel<T, B> reshape_kernel(const node_view& n) {
  return [where = n.where()](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    const auto& target = int_in(in, 1, where).ints;
    std::vector<index_t> d;
    index_t known = 1, infer = -1;
    for (std::size_t k = 0; k < target.size(); ++k) {
      if (target[k] == -1) {
        if (infer >= 0) fail<shape_error>("tfjs", where, ": Reshape has more than one -1");
        infer = static_cast<index_t>(k);
        d.push_back(1);
        continue;
      }
      if (target[k] < 0) fail<shape_error>("tfjs", where, ": Reshape extent ", target[k], " is negative");
      if (target[k] > 0 && known > (index_t{1} << 40) / target[k])
        fail<shape_error>("tfjs", where, ": Reshape target is too large");
      d.push_back(static_cast<index_t>(target[k]));
      known *= d.back();
    }
    const index_t total = x.value().numel();
    if (infer >= 0) {
      if (known == 0 || total % known) fail<shape_error>("tfjs", where, ": cannot reshape ", x.shape(), " with a -1");
      d[static_cast<std::size_t>(infer)] = total / known;
    }
    return one(reshape(x, to_shape(d, where)));
  };
}

template <class T, class B>
kernel<T, B> squeeze_kernel(const node_view& n) {
  const auto dims = n.ints("squeeze_dims");
  return [where = n.where(), dims](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    const auto s = x.shape();
    std::vector<bool> drop(x.rank(), false);
    if (dims.empty())
      for (std::size_t k = 0; k < x.rank(); ++k) drop[k] = s[k] == 1;
    for (auto a : dims) {
      const auto k = static_cast<std::size_t>(axis_of(a, x.rank(), where));
      if (s[k] != 1) fail<shape_error>("tfjs", where, ": Squeeze axis ", a, " of ", s, " is not 1");
      drop[k] = true;
    }
    std::vector<index_t> d;
    for (std::size_t k = 0; k < x.rank(); ++k)
      if (!drop[k]) d.push_back(s[k]);
    return one(reshape(x, to_shape(d, where)));
  };
}

template <class T, class B>
kernel<T, B> expand_dims_kernel(const node_view& n) {
  return [where = n.where()](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    const auto& a = int_in(in, 1, where).ints;
    if (a.size() != 1) fail<shape_error>("tfjs", where, ": ExpandDims needs one axis");
    return one(unsqueeze(x, axis_of(a[0], x.rank() + 1, where)));
  };
}

template <class T, class B>
kernel<T, B> concat_kernel(const node_view& n) {
  if (n.inputs() < 2) n.refuse("needs the tensors and an axis");
  return [where = n.where()](const input_list<T, B>& in) {
    std::vector<var<T, B>> xs;
    for (std::size_t k = 0; k + 1 < in.size(); ++k) xs.push_back(float_in(in, k, where));
    const auto& a = int_in(in, in.size() - 1, where).ints;
    if (a.size() != 1) fail<shape_error>("tfjs", where, ": ConcatV2 needs one axis");
    return one(concat(xs, axis_of(a[0], xs[0].rank(), where)));
  };
}

template <class T, class B>
kernel<T, B> transpose_kernel(const node_view& n) {
  return [where = n.where()](const input_list<T, B>& in) {
    const auto& x = float_in(in, 0, where);
    std::vector<index_t> perm;
    for (auto p : int_in(in, 1, where).ints) perm.push_back(axis_of(p, x.rank(), where));
    if (perm.size() != x.rank())
      fail<shape_error>("tfjs", where, ": perm has ", perm.size(), " entries for rank ", x.rank());
    return one(permute(x, perm));
  };
}

}  // namespace detail

/// The op types compile_op accepts (Const and Placeholder are handled by the graph).
inline const std::vector<std::string>& supported_ops() {
  static const std::vector<std::string> ops{"Abs",
                                            "Add",
                                            "AddN",
                                            "AddV2",
                                            "BiasAdd",
                                            "ConcatV2",
                                            "Conv2D",
                                            "DepthwiseConv2dNative",
                                            "Elu",
                                            "Exp",
                                            "ExpandDims",
                                            "FusedDepthwiseConv2dNative",
                                            "Identity",
                                            "LeakyRelu",
                                            "MatMul",
                                            "Max",
                                            "Maximum",
                                            "Mean",
                                            "Min",
                                            "Minimum",
                                            "Mul",
                                            "Neg",
                                            "Pad",
                                            "PadV2",
                                            "Prelu",
                                            "RealDiv",
                                            "Relu",
                                            "Relu6",
                                            "Reshape",
                                            "Rsqrt",
                                            "Sigmoid",
                                            "Softmax",
                                            "Sqrt",
                                            "Square",
                                            "SquaredDifference",
                                            "Squeeze",
                                            "Sub",
                                            "Sum",
                                            "Tanh",
                                            "Transpose",
                                            "_FusedConv2D",
                                            "_FusedMatMul"};
  return ops;
}

/// Compiles one node. Convolutions also need their filter rearranged: for those, `filter_helper`
/// is set to the helper kernel (folded at load), which reads the node's filter input.
template <class T, class B>
kernel<T, B> compile_op(const node_view& n, kernel<T, B>* filter_helper) {
  using namespace detail;
  using V = var<T, B>;
  const auto& op = n.op();
  if (op == "Conv2D" || op == "_FusedConv2D" || op == "DepthwiseConv2dNative" || op == "FusedDepthwiseConv2dNative") {
    const bool depthwise = op.find("Depthwise") != std::string::npos;
    *filter_helper = filter_layout_kernel<T, B>(n.where(), depthwise);
    return conv_kernel<T, B>(n, depthwise, op[0] == '_' || op[0] == 'F');
  }
  if (op == "MatMul" || op == "_FusedMatMul") return matmul_kernel<T, B>(n, op == "_FusedMatMul");
  if (op == "BiasAdd") {
    if (n.s("data_format", "NHWC") != "NHWC") n.refuse("data_format must be NHWC");
    return binary_kernel<T, B>(n, [](const V& a, const V& b) { return a + b; });
  }
  if (op == "Add" || op == "AddV2") return binary_kernel<T, B>(n, [](const V& a, const V& b) { return a + b; });
  if (op == "Sub") return binary_kernel<T, B>(n, [](const V& a, const V& b) { return a - b; });
  if (op == "Mul") return binary_kernel<T, B>(n, [](const V& a, const V& b) { return a * b; });
  if (op == "RealDiv") return binary_kernel<T, B>(n, [](const V& a, const V& b) { return a / b; });
  if (op == "SquaredDifference") return binary_kernel<T, B>(n, [](const V& a, const V& b) { return square(a - b); });
  if (op == "Maximum") return binary_kernel<T, B>(n, [](const V& a, const V& b) { return extreme_of(a, b, true); });
  if (op == "Minimum") return binary_kernel<T, B>(n, [](const V& a, const V& b) { return extreme_of(a, b, false); });
  if (op == "Prelu") return binary_kernel<T, B>(n, [](const V& a, const V& b) { return prelu(a, b); });
  if (op == "AddN")
    return [where = n.where()](const input_list<T, B>& in) {
      if (in.empty()) fail<shape_error>("tfjs", where, ": AddN needs inputs");
      V acc = float_in(in, 0, where);
      for (std::size_t k = 1; k < in.size(); ++k) acc = acc + float_in(in, k, where);
      return one(acc);
    };
  if (op == "Abs") return unary_kernel<T, B>(n, [](const V& x) { return abs(x); });
  if (op == "Square") return unary_kernel<T, B>(n, [](const V& x) { return square(x); });
  if (op == "Sqrt") return unary_kernel<T, B>(n, [](const V& x) { return sqrt(x); });
  if (op == "Rsqrt") return unary_kernel<T, B>(n, [](const V& x) { return rsqrt(x); });
  if (op == "Relu") return unary_kernel<T, B>(n, [](const V& x) { return relu(x); });
  if (op == "Relu6") return unary_kernel<T, B>(n, [](const V& x) { return clamp(x, T(0), T(6)); });
  if (op == "Sigmoid") return unary_kernel<T, B>(n, [](const V& x) { return sigmoid(x); });
  if (op == "Tanh") return unary_kernel<T, B>(n, [](const V& x) { return tanh(x); });
  if (op == "Exp") return unary_kernel<T, B>(n, [](const V& x) { return exp(x); });
  if (op == "Neg") return unary_kernel<T, B>(n, [](const V& x) { return -x; });
  if (op == "Identity")
    return [where = n.where()](const input_list<T, B>& in) { return std::vector<value<T, B>>{any_in(in, 0, where)}; };
  if (op == "Softmax") return unary_kernel<T, B>(n, [](const V& x) { return softmax(x, -1); });
  if (op == "LeakyRelu") {
    const T a = static_cast<T>(n.f("alpha", 0.2f));
    return unary_kernel<T, B>(n, [a](const V& x) { return leaky_relu(x, a); });
  }
  if (op == "Elu")
    return unary_kernel<T, B>(n, [](const V& x) { return where(apply(fn::step{}, x.value()), x, exp(x) - T(1)); });
  if (op == "Mean" || op == "Sum" || op == "Max" || op == "Min") return reduce_kernel<T, B>(n);
  if (op == "Pad" || op == "PadV2") return pad_kernel<T, B>(n);
  if (op == "Reshape") return reshape_kernel<T, B>(n);
  if (op == "Squeeze") return squeeze_kernel<T, B>(n);
  if (op == "ExpandDims") return expand_dims_kernel<T, B>(n);
  if (op == "ConcatV2") return concat_kernel<T, B>(n);
  if (op == "Transpose") return transpose_kernel<T, B>(n);
  n.refuse("op \"", op, "\" is not supported (bijgan::engines::tfjs::supported_ops() lists what is)");
}

}  // namespace bijgan::engines::tfjs
