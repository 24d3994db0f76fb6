// Differentiable resampling of NCHW images: resize/upsample (nearest, bilinear, bicubic; the
// PyTorch conventions with align_corners = false) as two products with small interpolation
// matrices (so gradients and second-order gradients come from matmul), and pixel_shuffle /
// pixel_unshuffle as reshape + permute.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "bijgan/config/instances.hpp"
#include "bijgan/ops/linalg.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan {

enum class interpolation { nearest, bilinear, bicubic };

/// The (out x in) matrix that resamples a line of `in` samples to `out` samples, rows summing
/// to 1 (PyTorch's interpolate, align_corners = false; bicubic with a = -0.75, clamped border).
template <class T>
std::vector<T> interpolation_matrix(index_t out, index_t in, interpolation mode) {
  if (out < 1 || in < 1) fail<shape_error>("interpolation_matrix", "sizes ", in, " -> ", out, " must be positive");
  std::vector<T> m(static_cast<std::size_t>(out * in), T(0));
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  auto at = [&](index_t o, index_t i) -> T& {
    return m[static_cast<std::size_t>(o * in + std::clamp<index_t>(i, 0, in - 1))];
  };
  for (index_t o = 0; o < out; ++o) {
    switch (mode) {
      case interpolation::nearest:
        at(o, std::min(static_cast<index_t>(std::floor(o * scale)), in - 1)) += T(1);
        break;
      case interpolation::bilinear: {
        const double src = std::max(0.0, (o + 0.5) * scale - 0.5);
        const auto i0 = static_cast<index_t>(std::floor(src));
        const double t = src - static_cast<double>(i0);
        at(o, i0) += static_cast<T>(1 - t);
        at(o, std::min(i0 + 1, in - 1)) += static_cast<T>(t);
        break;
      }
      case interpolation::bicubic: {
        const double src = (o + 0.5) * scale - 0.5, a = -0.75;
        const auto i0 = static_cast<index_t>(std::floor(src));
        const double t = src - static_cast<double>(i0);
        auto near = [a](double x) { return ((a + 2) * x - (a + 3)) * x * x + 1; };       // |x| <= 1
        auto far = [a](double x) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; };  // 1 < |x| < 2
        const double w[4] = {far(t + 1), near(t), near(1 - t), far(2 - t)};
        for (int k = 0; k < 4; ++k) at(o, i0 - 1 + k) += static_cast<T>(w[k]);
        break;
      }
    }
  }
  return m;
}

/// Resamples x (N, C, H, W) to (N, C, out_h, out_w). At x's own size every mode is the
/// identity, so x itself is returned (no copy, no graph node): "resize to a network's input"
/// needs no size check.
template <class T, class B>
var<T, B> resize(const var<T, B>& x, index_t out_h, index_t out_w, interpolation mode = interpolation::bilinear) {
  if (x.rank() != 4) fail<shape_error>("resize", "input must be (N, C, H, W), got ", x.shape());
  const index_t h = x.size(2), w = x.size(3);
  if (out_h == h && out_w == w) return x;
  auto y = x;
  if (out_w != w || mode != interpolation::nearest) {
    const auto mw = constant(tensor<T, B>::from(interpolation_matrix<T>(out_w, w, mode), shape{out_w, w}));
    y = matmul(y, mw, false, true);
  }
  if (out_h != h || mode != interpolation::nearest) {
    const auto mh = constant(tensor<T, B>::from(interpolation_matrix<T>(out_h, h, mode), shape{out_h, h}));
    y = matmul(mh, y);
  }
  return y;
}

/// Resamples x by an integer factor along height and width.
template <class T, class B>
var<T, B> upsample(const var<T, B>& x, index_t factor, interpolation mode = interpolation::nearest) {
  if (factor < 1) fail<value_error>("upsample", "factor ", factor, " must be >= 1");
  if (x.rank() != 4) fail<shape_error>("upsample", "input must be (N, C, H, W), got ", x.shape());
  return resize(x, x.size(2) * factor, x.size(3) * factor, mode);
}

/// (N, C*r*r, H, W) -> (N, C, H*r, W*r): channel blocks become r x r pixel blocks.
template <class T, class B>
var<T, B> pixel_shuffle(const var<T, B>& x, index_t r) {
  if (x.rank() != 4 || r < 1 || x.size(1) % (r * r) != 0)
    fail<shape_error>("pixel_shuffle", "input ", x.shape(), " needs rank 4 and channels divisible by ", r * r);
  const index_t n = x.size(0), c = x.size(1) / (r * r), h = x.size(2), w = x.size(3);
  const auto t = permute(reshape(x, shape{n, c, r, r, h, w}), {0, 1, 4, 2, 5, 3});
  return reshape(t, shape{n, c, h * r, w * r});
}

/// The inverse of pixel_shuffle: (N, C, H*r, W*r) -> (N, C*r*r, H, W).
template <class T, class B>
var<T, B> pixel_unshuffle(const var<T, B>& x, index_t r) {
  if (x.rank() != 4 || r < 1 || x.size(2) % r != 0 || x.size(3) % r != 0)
    fail<shape_error>("pixel_unshuffle", "input ", x.shape(), " needs rank 4 and height and width divisible by ", r);
  const index_t n = x.size(0), c = x.size(1), h = x.size(2) / r, w = x.size(3) / r;
  const auto t = permute(reshape(x, shape{n, c, h, r, w, r}), {0, 1, 3, 5, 2, 4});
  return reshape(t, shape{n, c * r * r, h, w});
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_RESAMPLE_INSTANCES(X, T, B)                               \
  X var<T, B> resize(const var<T, B>&, index_t, index_t, interpolation); \
  X var<T, B> upsample(const var<T, B>&, index_t, interpolation);        \
  X var<T, B> pixel_shuffle(const var<T, B>&, index_t);                  \
  X var<T, B> pixel_unshuffle(const var<T, B>&, index_t);
BIJGAN_EXTERN_INSTANCES(BIJGAN_RESAMPLE_INSTANCES)

}  // namespace bijgan
