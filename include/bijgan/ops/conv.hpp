// Differentiable sliding-window ops on NCHW images: unfold (im2col) and its adjoint fold
// (col2im); conv2d as three primitives (forward, input gradient = transposed convolution,
// weight gradient) that are each other's backward rules, each running im2col on chunks of
// images small enough to stay in cache followed by GEMMs; conv_transpose2d; and max/avg
// pooling as a reduction over unfolded windows. Second-order gradients work throughout.
#pragma once

#include <algorithm>
#include <limits>

#include "bijgan/backend/conv_geometry.hpp"
#include "bijgan/config/instances.hpp"
#include "bijgan/ops/linalg.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan {

/// Stride, zero padding, dilation (the same along height and width) and channel groups of a
/// convolution or pooling window.
struct conv2d_options {
  index_t stride = 1;
  index_t padding = 0;
  index_t dilation = 1;
  index_t groups = 1;
};

namespace detail {
inline void require_rank(const shape& s, std::size_t r, const char* op, const char* what) {
  if (s.rank() != r) fail<shape_error>(op, what, " must have rank ", r, ", got ", s);
}
/// The window geometry of a kh x kw kernel over images of shape x (N, C, H, W).
inline conv_geometry make_geometry(const shape& x, index_t kh, index_t kw, const conv2d_options& o, const char* op) {
  require_rank(x, 4, op, "input (N, C, H, W)");
  conv_geometry g;
  g.images = x[0];
  g.channels = x[1];
  g.height = x[2];
  g.width = x[3];
  g.kernel_h = kh;
  g.kernel_w = kw;
  g.stride_h = g.stride_w = o.stride;
  g.pad_h = g.pad_w = o.padding;
  g.dilation_h = g.dilation_w = o.dilation;
  g.out_h = window_out(g.height, kh, o.stride, o.padding, o.dilation, op);
  g.out_w = window_out(g.width, kw, o.stride, o.padding, o.dilation, op);
  return g;
}
}  // namespace detail

/// Tensor im2col: x (N, C, H, W) -> (N, C*kh*kw, out_h*out_w) for geometry g.
template <class T, class B>
tensor<T, B> im2col(const tensor<T, B>& x, conv_geometry g) {
  g.images = x.size(0);
  tensor<T, B> cols(shape{g.images, g.col_rows(), g.col_cols()});
  B::im2col(g, x.data(), cols.data());
  return cols;
}
/// Tensor col2im: cols (N, C*kh*kw, out_h*out_w) -> (N, C, H, W), overlapping windows summed.
template <class T, class B>
tensor<T, B> col2im(const tensor<T, B>& cols, conv_geometry g) {
  g.images = cols.size(0);
  if (cols.rank() != 3 || cols.size(1) != g.col_rows() || cols.size(2) != g.col_cols())
    fail<shape_error>("fold", "columns of shape ", cols.shape(), " for windows needing (N, ", g.col_rows(), ", ",
                      g.col_cols(), ")");
  tensor<T, B> img(shape{g.images, g.channels, g.height, g.width});
  B::col2im(g, cols.data(), img.data());
  return img;
}

template <class T, class B>
var<T, B> fold(const var<T, B>& cols, const conv_geometry& g);

/// The windows of x as columns: (N, C, H, W) -> (N, C*kh*kw, L), L = out_h*out_w.
template <class T, class B>
var<T, B> unfold(const var<T, B>& x, const conv_geometry& g) {
  return var<T, B>::make(im2col(x.value(), g), "unfold", {x},
                         [g](const auto&, const auto& go, auto gr) { gr[0] = fold(go, g); });
}
/// The adjoint of unfold: (N, C*kh*kw, L) -> (N, C, H, W), overlapping windows summed.
template <class T, class B>
var<T, B> fold(const var<T, B>& cols, const conv_geometry& g) {
  return var<T, B>::make(col2im(cols.value(), g), "fold", {cols},
                         [g](const auto&, const auto& go, auto gr) { gr[0] = unfold(go, g); });
}
/// unfold with a kh x kw window and the given options.
template <class T, class B>
var<T, B> unfold(const var<T, B>& x, index_t kh, index_t kw, const conv2d_options& o = {}) {
  return unfold(x, detail::make_geometry(x.shape(), kh, kw, o, "unfold"));
}

/// A convolution's shapes: the window geometry of one image, the batch, groups and output
/// channels. The three convolution primitives below share it.
struct conv_plan {
  conv_geometry g;  ///< per-image geometry (g.images is set per chunk)
  index_t images = 0, groups = 1, out_channels = 0;

  [[nodiscard]] index_t in_per_group() const { return g.channels / groups; }
  [[nodiscard]] index_t out_per_group() const { return out_channels / groups; }
  [[nodiscard]] index_t K() const { return in_per_group() * g.kernel_h * g.kernel_w; }
  [[nodiscard]] index_t L() const { return g.out_h * g.out_w; }
  [[nodiscard]] bool pointwise() const {
    return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
  }
  [[nodiscard]] shape input_shape() const { return {images, g.channels, g.height, g.width}; }
  [[nodiscard]] shape output_shape() const { return {images, out_channels, g.out_h, g.out_w}; }
  [[nodiscard]] shape weight_shape() const { return {out_channels, in_per_group(), g.kernel_h, g.kernel_w}; }
  /// Images per im2col chunk: the column buffer stays near 2 MiB of floats (cache-resident
  /// between im2col and the GEMM that reads it), at least one image.
  [[nodiscard]] index_t chunk() const {
    return std::max<index_t>(1,
                             std::min<index_t>(images, (index_t{1} << 19) / std::max<index_t>(1, g.col_rows() * L())));
  }
};

namespace detail {

/// Runs body(n0, count, cols) over chunks of images; cols holds the chunk's im2col (or points
/// into x itself for 1x1 convolutions).
template <class T, class B, class Body>
void over_chunks(const conv_plan& p, const T* x, bool fill_cols, Body body) {
  const index_t chunk = p.chunk(), image = p.g.image_size();
  tensor<T, B> cols;
  if (!p.pointwise()) cols = tensor<T, B>(shape{chunk * p.g.col_rows() * p.L()});
  for (index_t n0 = 0; n0 < p.images; n0 += chunk) {
    const index_t c = std::min(chunk, p.images - n0);
    T* buf = cols.data();
    if (p.pointwise()) {
      buf = const_cast<T*>(x) + n0 * image;
    } else if (fill_cols) {
      conv_geometry geo = p.g;
      geo.images = c;
      B::im2col(geo, x + n0 * image, buf);
    }
    body(n0, c, buf);
  }
}

/// Copies a (a, b, inner) block to (b, a, inner) order: between the per-image layout
/// (images, rows, L) and the wide layout (rows, images * L) that lets one GEMM cover a whole
/// chunk when the maps are small (a GEMM with n = 16 columns runs badly, worse with threads).
template <class T, class B>
void swap_outer(const T* in, T* out, index_t a, index_t b, index_t inner) {
  B::copy_strided(shape{a, b, inner}, strided_in<T>{in, {b * inner, inner, 1}}, out, {inner, a * inner, 1});
}

/// Output maps smaller than this use the wide layout.
inline constexpr index_t wide_below = 256;

/// y (N, Cout, oh, ow) = conv(x, w): per chunk, im2col then GEMMs (one per image and group, or
/// one per group over the whole chunk for small maps).
template <class T, class B>
tensor<T, B> conv_forward(const tensor<T, B>& x, const tensor<T, B>& w, const conv_plan& p) {
  tensor<T, B> y(p.output_shape());
  if (B::convolution(conv_pass::forward, p.g, p.groups, p.out_channels, x.data(), w.data(), y.data())) return y;
  const index_t G = p.groups, og = p.out_per_group(), K = p.K(), L = p.L(), R = G * K, cout = p.out_channels;
  const bool wide = L < wide_below && p.images > 1;
  tensor<T, B> cw, yw;
  if (wide) {
    cw = tensor<T, B>(shape{p.chunk() * R * L});
    yw = tensor<T, B>(shape{p.chunk() * cout * L});
  }
  over_chunks<T, B>(p, x.data(), true, [&](index_t n0, index_t c, T* cols) {
    if (wide) swap_outer<T, B>(cols, cw.data(), c, R, L);
    for (index_t gi = 0; gi < G; ++gi) {
      gemm_args<T> a;
      a.a = w.data() + gi * og * K, a.lda = K, a.stride_a = 0;
      a.m = og, a.k = K;
      if (wide) {
        a.n = c * L;
        a.b = cw.data() + gi * K * c * L, a.ldb = c * L;
        a.c = yw.data() + gi * og * c * L, a.ldc = c * L;
      } else {
        a.n = L;
        a.b = cols + gi * K * L, a.ldb = L, a.stride_b = R * L;
        a.c = y.data() + n0 * cout * L + gi * og * L, a.ldc = L, a.stride_c = cout * L;
        a.batch = c;
      }
      B::gemm(a);
    }
    if (wide) swap_outer<T, B>(yw.data(), y.data() + n0 * cout * L, cout, c, L);
  });
  return y;
}

/// dx (N, Cin, H, W) = conv^T(gy, w): per chunk, W^T gy into columns, then col2im.
template <class T, class B>
tensor<T, B> conv_input_grad(const tensor<T, B>& gy, const tensor<T, B>& w, const conv_plan& p) {
  tensor<T, B> dx(p.input_shape());
  if (B::convolution(conv_pass::input_grad, p.g, p.groups, p.out_channels, gy.data(), w.data(), dx.data())) return dx;
  const index_t G = p.groups, og = p.out_per_group(), K = p.K(), L = p.L(), R = G * K, cout = p.out_channels;
  const index_t image = p.g.image_size();
  const bool wide = L < wide_below && p.images > 1;
  tensor<T, B> cw, gw;
  if (wide) {
    cw = tensor<T, B>(shape{p.chunk() * R * L});
    gw = tensor<T, B>(shape{p.chunk() * cout * L});
  }
  over_chunks<T, B>(p, dx.data(), false, [&](index_t n0, index_t c, T* cols) {
    if (wide) swap_outer<T, B>(gy.data() + n0 * cout * L, gw.data(), c, cout, L);
    for (index_t gi = 0; gi < G; ++gi) {
      gemm_args<T> a;
      a.trans_a = true;
      a.a = w.data() + gi * og * K, a.lda = K, a.stride_a = 0;
      a.m = K, a.k = og;
      if (wide) {
        a.n = c * L;
        a.b = gw.data() + gi * og * c * L, a.ldb = c * L;
        a.c = cw.data() + gi * K * c * L, a.ldc = c * L;
      } else {
        a.n = L;
        a.b = gy.data() + n0 * cout * L + gi * og * L, a.ldb = L, a.stride_b = cout * L;
        a.c = cols + gi * K * L, a.ldc = L, a.stride_c = R * L;
        a.batch = c;
      }
      B::gemm(a);
    }
    if (wide) swap_outer<T, B>(cw.data(), cols, R, c, L);
    if (!p.pointwise()) {
      conv_geometry geo = p.g;
      geo.images = c;
      B::col2im(geo, cols, dx.data() + n0 * image);
    }
  });
  return dx;
}

/// dw (Cout, Cin/G, kh, kw) = sum over images of gy_n cols(x_n)^T: GEMMs accumulating with
/// beta 1 (one per image and group, or one per group over the whole chunk for small maps).
template <class T, class B>
tensor<T, B> conv_weight_grad(const tensor<T, B>& x, const tensor<T, B>& gy, const conv_plan& p) {
  if (tensor<T, B> dw(p.weight_shape());
      B::convolution(conv_pass::weight_grad, p.g, p.groups, p.out_channels, x.data(), gy.data(), dw.data()))
    return dw;
  auto dw = tensor<T, B>::zeros(p.weight_shape());
  const index_t G = p.groups, og = p.out_per_group(), K = p.K(), L = p.L(), R = G * K, cout = p.out_channels;
  const bool wide = L < wide_below && p.images > 1;
  tensor<T, B> cw, gw;
  if (wide) {
    cw = tensor<T, B>(shape{p.chunk() * R * L});
    gw = tensor<T, B>(shape{p.chunk() * cout * L});
  }
  over_chunks<T, B>(p, x.data(), true, [&](index_t n0, index_t c, T* cols) {
    if (wide) {
      swap_outer<T, B>(cols, cw.data(), c, R, L);
      swap_outer<T, B>(gy.data() + n0 * cout * L, gw.data(), c, cout, L);
    }
    for (index_t n = 0; n < (wide ? 1 : c); ++n)
      for (index_t gi = 0; gi < G; ++gi) {
        gemm_args<T> a;
        a.trans_b = true;
        a.beta = T(1);
        a.m = og, a.n = K;
        a.c = dw.data() + gi * og * K, a.ldc = K;
        if (wide) {
          a.k = c * L;
          a.a = gw.data() + gi * og * c * L, a.lda = c * L;
          a.b = cw.data() + gi * K * c * L, a.ldb = c * L;
        } else {
          a.k = L;
          a.a = gy.data() + (n0 + n) * cout * L + gi * og * L, a.lda = L;
          a.b = cols + (n * G + gi) * K * L, a.ldb = L;
        }
        B::gemm(a);
      }
  });
  return dw;
}

inline void require_shape(const shape& got, const shape& want, const char* op, const char* what) {
  if (got != want) fail<shape_error>(op, what, " has shape ", got, ", expected ", want);
}

/// y (N, C, H, W) + bias (C) per channel; y itself when bias is undefined.
template <class T, class B>
var<T, B> add_channel_bias(const var<T, B>& y, const var<T, B>& bias, const char* op) {
  if (!bias.defined()) return y;
  const index_t c = y.size(1);
  if (bias.shape() != shape{c}) fail<shape_error>(op, "bias ", bias.shape(), " for ", c, " output channels");
  return y + reshape(bias, shape{c, 1, 1});
}

}  // namespace detail

template <class T, class B>
var<T, B> conv2d_input_grad(const var<T, B>& gy, const var<T, B>& w, const conv_plan& p);
template <class T, class B>
var<T, B> conv2d_weight_grad(const var<T, B>& x, const var<T, B>& gy, const conv_plan& p);

/// The convolution primitive of plan p: x (N, Cin, H, W), w (Cout, Cin/G, kh, kw) -> (N, Cout,
/// oh, ow). It and its two adjoints (input and weight gradients) are each other's backward
/// rules, so gradients of any order stay three GEMM-based ops.
template <class T, class B>
var<T, B> conv2d(const var<T, B>& x, const var<T, B>& w, const conv_plan& p) {
  detail::require_shape(x.shape(), p.input_shape(), "conv2d", "input");
  detail::require_shape(w.shape(), p.weight_shape(), "conv2d", "weight");
  return var<T, B>::make(detail::conv_forward(x.value(), w.value(), p), "conv2d", {x, w},
                         [p](const auto& out, const auto& g, auto gr) {
                           const auto& in = out.inputs();
                           if (gr.wanted(0)) gr[0] = conv2d_input_grad(g, in[1], p);
                           if (gr.wanted(1)) gr[1] = conv2d_weight_grad(in[0], g, p);
                         });
}
/// The adjoint of conv2d in its input (a transposed convolution): gy (N, Cout, oh, ow) -> (N, Cin, H, W).
template <class T, class B>
var<T, B> conv2d_input_grad(const var<T, B>& gy, const var<T, B>& w, const conv_plan& p) {
  detail::require_shape(gy.shape(), p.output_shape(), "conv2d_input_grad", "output gradient");
  detail::require_shape(w.shape(), p.weight_shape(), "conv2d_input_grad", "weight");
  return var<T, B>::make(detail::conv_input_grad(gy.value(), w.value(), p), "conv2d_input_grad", {gy, w},
                         [p](const auto& out, const auto& g, auto gr) {
                           const auto& in = out.inputs();
                           if (gr.wanted(0)) gr[0] = conv2d(g, in[1], p);
                           if (gr.wanted(1)) gr[1] = conv2d_weight_grad(g, in[0], p);
                         });
}
/// The adjoint of conv2d in its weight: sum over images of gy_n im2col(x_n)^T -> (Cout, Cin/G, kh, kw).
template <class T, class B>
var<T, B> conv2d_weight_grad(const var<T, B>& x, const var<T, B>& gy, const conv_plan& p) {
  detail::require_shape(x.shape(), p.input_shape(), "conv2d_weight_grad", "input");
  detail::require_shape(gy.shape(), p.output_shape(), "conv2d_weight_grad", "output gradient");
  return var<T, B>::make(detail::conv_weight_grad(x.value(), gy.value(), p), "conv2d_weight_grad", {x, gy},
                         [p](const auto& out, const auto& g, auto gr) {
                           const auto& in = out.inputs();
                           if (gr.wanted(0)) gr[0] = conv2d_input_grad(in[1], g, p);
                           if (gr.wanted(1)) gr[1] = conv2d(in[0], g, p);
                         });
}

/// 2-D cross-correlation (PyTorch's conv2d). x (N, Cin, H, W), w (Cout, Cin/groups, kh, kw),
/// bias (Cout) or undefined -> (N, Cout, out_h, out_w). Throws shape_error naming the shapes.
template <class T, class B>
var<T, B> conv2d(const var<T, B>& x, const var<T, B>& w, const var<T, B>& bias = {}, const conv2d_options& o = {}) {
  detail::require_rank(w.shape(), 4, "conv2d", "weight (Cout, Cin/groups, kh, kw)");
  conv_plan p;
  p.g = detail::make_geometry(x.shape(), w.size(2), w.size(3), o, "conv2d");
  p.images = p.g.images;
  p.groups = o.groups;
  p.out_channels = w.size(0);
  const index_t G = o.groups, cin = p.g.channels, cout = p.out_channels;
  if (G < 1 || cin % G != 0 || cout % G != 0 || w.size(1) != cin / G)
    fail<shape_error>("conv2d", "input ", x.shape(), " and weight ", w.shape(), " with ", G,
                      " groups: need Cin and Cout divisible by groups and weight.size(1) == Cin/groups");
  return detail::add_channel_bias(conv2d(x, w, p), bias, "conv2d");
}

/// Options of conv_transpose2d: those of the convolution it transposes, plus extra rows and
/// columns at the bottom/right of the output (to pick among the sizes a strided conv maps
/// to the same input size).
struct conv_transpose2d_options {
  index_t stride = 1;
  index_t padding = 0;
  index_t output_padding = 0;
  index_t dilation = 1;
  index_t groups = 1;
};

/// The transpose (gradient) of conv2d. x (N, Cin, H, W), w (Cin, Cout/groups, kh, kw),
/// bias (Cout) -> (N, Cout, (H-1)*stride - 2*padding + dilation*(kh-1) + output_padding + 1, ...).
template <class T, class B>
var<T, B> conv_transpose2d(const var<T, B>& x, const var<T, B>& w, const var<T, B>& bias = {},
                           const conv_transpose2d_options& o = {}) {
  detail::require_rank(x.shape(), 4, "conv_transpose2d", "input (N, Cin, H, W)");
  detail::require_rank(w.shape(), 4, "conv_transpose2d", "weight (Cin, Cout/groups, kh, kw)");
  const index_t G = o.groups, N = x.size(0), cin = x.size(1), H = x.size(2), W = x.size(3);
  if (G < 1 || cin % G != 0 || w.size(0) != cin)
    fail<shape_error>("conv_transpose2d", "input ", x.shape(), " and weight ", w.shape(), " with ", G, " groups");
  if (o.output_padding < 0 || o.output_padding >= std::max(o.stride, o.dilation))
    fail<shape_error>("conv_transpose2d", "output_padding ", o.output_padding,
                      " must be in [0, max(stride, dilation))");
  const index_t cout = w.size(1) * G, kh = w.size(2), kw = w.size(3);
  // The convolution being transposed maps (N, cout, H', W') to (N, cin, H, W) with weight w.
  conv_plan p;
  p.images = N;
  p.groups = G;
  p.out_channels = cin;
  p.g.images = N;
  p.g.channels = cout;
  p.g.height = (H - 1) * o.stride - 2 * o.padding + o.dilation * (kh - 1) + o.output_padding + 1;
  p.g.width = (W - 1) * o.stride - 2 * o.padding + o.dilation * (kw - 1) + o.output_padding + 1;
  if (p.g.height < 1 || p.g.width < 1) fail<shape_error>("conv_transpose2d", "empty output for input ", x.shape());
  p.g.kernel_h = kh;
  p.g.kernel_w = kw;
  p.g.stride_h = p.g.stride_w = o.stride;
  p.g.pad_h = p.g.pad_w = o.padding;
  p.g.dilation_h = p.g.dilation_w = o.dilation;
  p.g.out_h = H;
  p.g.out_w = W;
  return detail::add_channel_bias(conv2d_input_grad(x, w, p), bias, "conv_transpose2d");
}

/// Pooling windows: kernel x kernel, stride (defaults to kernel when 0), padding.
struct pool2d_options {
  index_t kernel = 2;
  index_t stride = 0;
  index_t padding = 0;
};

namespace detail {
template <class T, class B>
var<T, B> pool_windows(const var<T, B>& x, const pool2d_options& o, T pad_value, const char* op, conv_geometry& g) {
  const conv2d_options c{.stride = o.stride == 0 ? o.kernel : o.stride, .padding = 0, .dilation = 1, .groups = 1};
  var<T, B> src = x;
  if (o.padding > 0) {
    require_rank(x.shape(), 4, op, "input (N, C, H, W)");
    if (2 * o.padding > o.kernel) fail<shape_error>(op, "padding ", o.padding, " exceeds half the kernel ", o.kernel);
    src = pad(x, {0, 0, 0, 0, o.padding, o.padding, o.padding, o.padding}, pad_value);
  }
  g = make_geometry(src.shape(), o.kernel, o.kernel, c, op);
  return reshape(unfold(src, g), shape{g.images, g.channels, o.kernel * o.kernel, g.col_cols()});
}
}  // namespace detail

/// Max over each window (padding counts as -inf). The gradient goes to the maximal elements of
/// each window, shared equally among ties.
template <class T, class B>
var<T, B> max_pool2d(const var<T, B>& x, const pool2d_options& o = {}) {
  conv_geometry g;
  const auto w = detail::pool_windows(x, o, -std::numeric_limits<T>::infinity(), "max_pool2d", g);
  return reshape(max(w, {2}), shape{g.images, g.channels, g.out_h, g.out_w});
}

/// Mean over each window; zero padding counts in the mean (PyTorch's count_include_pad).
template <class T, class B>
var<T, B> avg_pool2d(const var<T, B>& x, const pool2d_options& o = {}) {
  conv_geometry g;
  const auto w = detail::pool_windows(x, o, T(0), "avg_pool2d", g);
  return reshape(mean(w, {2}), shape{g.images, g.channels, g.out_h, g.out_w});
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_CONV_INSTANCES(X, T, B)                                                                                 \
  X tensor<T, B> im2col(const tensor<T, B>&, conv_geometry);                                                           \
  X tensor<T, B> col2im(const tensor<T, B>&, conv_geometry);                                                           \
  X var<T, B> unfold(const var<T, B>&, const conv_geometry&);                                                          \
  X var<T, B> fold(const var<T, B>&, const conv_geometry&);                                                            \
  X var<T, B> unfold(const var<T, B>&, index_t, index_t, const conv2d_options&);                                       \
  X var<T, B> conv2d(const var<T, B>&, const var<T, B>&, const conv_plan&);                                            \
  X var<T, B> conv2d_input_grad(const var<T, B>&, const var<T, B>&, const conv_plan&);                                 \
  X var<T, B> conv2d_weight_grad(const var<T, B>&, const var<T, B>&, const conv_plan&);                                \
  X var<T, B> conv2d(const var<T, B>&, const var<T, B>&, const var<T, B>&, const conv2d_options&);                     \
  X var<T, B> conv_transpose2d(const var<T, B>&, const var<T, B>&, const var<T, B>&, const conv_transpose2d_options&); \
  X var<T, B> max_pool2d(const var<T, B>&, const pool2d_options&);                                                     \
  X var<T, B> avg_pool2d(const var<T, B>&, const pool2d_options&);
BIJGAN_EXTERN_INSTANCES(BIJGAN_CONV_INSTANCES)

}  // namespace bijgan
