// Differentiable sliding-window ops on NCHW images: unfold (im2col) and its adjoint fold
// (col2im), conv2d and conv_transpose2d as unfold/fold + batched GEMM, and max/avg pooling as
// a reduction over unfolded windows. Every rule is written with these ops, so second-order
// gradients work (unfold and fold are linear and each other's adjoint).
#pragma once

#include <limits>

#include "bijgan/ops/linalg.hpp"
#include "bijgan/ops/shape.hpp"
#include "bijgan/tensor/conv_geometry.hpp"

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

/// 2-D cross-correlation (PyTorch's conv2d). x (N, Cin, H, W), w (Cout, Cin/groups, kh, kw),
/// bias (Cout) or undefined -> (N, Cout, out_h, out_w). Throws shape_error naming the shapes.
template <class T, class B>
var<T, B> conv2d(const var<T, B>& x, const var<T, B>& w, const var<T, B>& bias = {}, const conv2d_options& o = {}) {
  detail::require_rank(w.shape(), 4, "conv2d", "weight (Cout, Cin/groups, kh, kw)");
  const conv_geometry g = detail::make_geometry(x.shape(), w.size(2), w.size(3), o, "conv2d");
  const index_t G = o.groups, N = g.images, cin = g.channels, cout = w.size(0);
  if (G < 1 || cin % G != 0 || cout % G != 0 || w.size(1) != cin / G)
    fail<shape_error>("conv2d", "input ", x.shape(), " and weight ", w.shape(), " with ", G,
                      " groups: need Cin and Cout divisible by groups and weight.size(1) == Cin/groups");
  const bool pointwise = g.kernel_h == 1 && g.kernel_w == 1 && o.stride == 1 && o.padding == 0;
  const index_t K = cin / G * g.kernel_h * g.kernel_w, L = g.col_cols();
  const auto cols = pointwise ? reshape(x, shape{N, G, K, L}) : reshape(unfold(x, g), shape{N, G, K, L});
  auto y = reshape(matmul(reshape(w, shape{G, cout / G, K}), cols), shape{N, cout, g.out_h, g.out_w});
  if (!bias.defined()) return y;
  if (bias.shape() != shape{cout}) fail<shape_error>("conv2d", "bias ", bias.shape(), " for ", cout, " output channels");
  return y + reshape(bias, shape{cout, 1, 1});
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
    fail<shape_error>("conv_transpose2d", "output_padding ", o.output_padding, " must be in [0, max(stride, dilation))");
  const index_t cout = w.size(1) * G, kh = w.size(2), kw = w.size(3);
  conv_geometry g;
  g.images = N;
  g.channels = cout;
  g.height = (H - 1) * o.stride - 2 * o.padding + o.dilation * (kh - 1) + o.output_padding + 1;
  g.width = (W - 1) * o.stride - 2 * o.padding + o.dilation * (kw - 1) + o.output_padding + 1;
  if (g.height < 1 || g.width < 1) fail<shape_error>("conv_transpose2d", "empty output for input ", x.shape());
  g.kernel_h = kh;
  g.kernel_w = kw;
  g.stride_h = g.stride_w = o.stride;
  g.pad_h = g.pad_w = o.padding;
  g.dilation_h = g.dilation_w = o.dilation;
  g.out_h = H;
  g.out_w = W;
  const index_t K = cout / G * kh * kw;
  // cols[n, g] = W_g^T x[n, g]: (K x Cin/G) (Cin/G x HW), then folded back to the output image.
  const auto cols = matmul(reshape(w, shape{G, cin / G, K}), reshape(x, shape{N, G, cin / G, H * W}), true, false);
  auto y = fold(reshape(cols, shape{N, cout * kh * kw, H * W}), g);
  if (!bias.defined()) return y;
  if (bias.shape() != shape{cout}) fail<shape_error>("conv_transpose2d", "bias ", bias.shape(), " for ", cout, " output channels");
  return y + reshape(bias, shape{cout, 1, 1});
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

}  // namespace bijgan
