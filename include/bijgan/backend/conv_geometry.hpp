// The geometry of a 2-D sliding window (convolution, pooling) and the index arithmetic of
// im2col / col2im shared by every backend: cols[n][(c*kh + i)*kw + j][oy*ow + ox] reads
// image[n][c][oy*sh - ph + i*dh][ox*sw - pw + j*dw] (zero outside the image).
#pragma once

#include "bijgan/backend/shape.hpp"
#include "bijgan/config/config.hpp"
#include "bijgan/config/errors.hpp"

namespace bijgan {

/// The three convolution primitives: forward, input gradient (transposed convolution) and
/// weight gradient.
enum class conv_pass { forward, input_grad, weight_grad };

/// A 2-D window over `images` images of `channels` x `height` x `width`.
struct conv_geometry {
  index_t images = 1, channels = 1, height = 1, width = 1;
  index_t kernel_h = 1, kernel_w = 1;
  index_t stride_h = 1, stride_w = 1;
  index_t pad_h = 0, pad_w = 0;
  index_t dilation_h = 1, dilation_w = 1;
  index_t out_h = 1, out_w = 1;

  /// Rows of the column matrix of one image: channels * kernel_h * kernel_w.
  [[nodiscard]] BIJGAN_HD index_t col_rows() const { return channels * kernel_h * kernel_w; }
  /// Columns of the column matrix (output positions): out_h * out_w.
  [[nodiscard]] BIJGAN_HD index_t col_cols() const { return out_h * out_w; }
  [[nodiscard]] BIJGAN_HD index_t image_size() const { return channels * height * width; }

  /// Sum over the kernel positions that read pixel (c, y, x) of image n: the gather form of
  /// col2im, one output element per call (race-free on any backend).
  template <class T>
  BIJGAN_HD T gather_pixel(const T* cols, index_t n, index_t c, index_t y, index_t x) const {
    T acc = T(0);
    const index_t L = col_cols();
    const T* base = cols + n * col_rows() * L;
    for (index_t i = 0; i < kernel_h; ++i) {
      const index_t ty = y + pad_h - i * dilation_h;
      if (ty < 0 || ty % stride_h != 0) continue;
      const index_t oy = ty / stride_h;
      if (oy >= out_h) continue;
      for (index_t j = 0; j < kernel_w; ++j) {
        const index_t tx = x + pad_w - j * dilation_w;
        if (tx < 0 || tx % stride_w != 0) continue;
        const index_t ox = tx / stride_w;
        if (ox >= out_w) continue;
        acc += base[((c * kernel_h + i) * kernel_w + j) * L + oy * out_w + ox];
      }
    }
    return acc;
  }
  /// The image value read by column element (n, row, col) of im2col.
  template <class T>
  BIJGAN_HD T read_col(const T* image, index_t n, index_t row, index_t col) const {
    const index_t j = row % kernel_w, i = (row / kernel_w) % kernel_h, c = row / (kernel_w * kernel_h);
    const index_t y = (col / out_w) * stride_h - pad_h + i * dilation_h;
    const index_t x = (col % out_w) * stride_w - pad_w + j * dilation_w;
    if (y < 0 || y >= height || x < 0 || x >= width) return T(0);
    return image[((n * channels + c) * height + y) * width + x];
  }
};

/// Output extent of a window of size k (dilation d) sliding with stride s over n + 2p.
inline index_t window_out(index_t n, index_t k, index_t s, index_t p, index_t d, const char* op) {
  const index_t span = d * (k - 1) + 1;
  if (k < 1 || s < 1 || d < 1 || p < 0)
    fail<shape_error>(op, "kernel ", k, ", stride ", s, ", padding ", p, ", dilation ", d,
                      " (need k, s, d >= 1, p >= 0)");
  if (n + 2 * p < span) fail<shape_error>(op, "window of span ", span, " does not fit extent ", n, " + 2*", p);
  return (n + 2 * p - span) / s + 1;
}

}  // namespace bijgan
