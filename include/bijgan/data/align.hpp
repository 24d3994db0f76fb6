// Face alignment geometry for the data side: the least-squares similarity that maps detected
// landmarks onto a template (Umeyama 1991, no reflection), the affine warp that applies it
// (bilinear, zero border, OpenCV warpAffine's pixel convention), and the 5-point ArcFace
// template. Models that find the landmarks live in engines/face_aligner.hpp.
#pragma once

#include <array>
#include <cmath>
#include <span>

#include "bijgan/config/errors.hpp"
#include "bijgan/tensor/tensor.hpp"

namespace bijgan::data {

/// A point (x, y) in pixel coordinates: x to the right, y down, pixel centres at integers.
struct point2 {
  double x = 0, y = 0;
};

/// A 2-D affine map [a b c; d e f]: (x, y) -> (a x + b y + c, d x + e y + f).
struct affine2 {
  std::array<double, 6> m{1, 0, 0, 0, 1, 0};
  [[nodiscard]] point2 operator()(point2 p) const {
    return {m[0] * p.x + m[1] * p.y + m[2], m[3] * p.x + m[4] * p.y + m[5]};
  }
  /// The inverse map; value_error when the map is singular.
  [[nodiscard]] affine2 inverse() const {
    const double det = m[0] * m[4] - m[1] * m[3];
    if (!(std::abs(det) > 1e-12)) fail<value_error>("affine2::inverse", "the map is singular (determinant ", det, ")");
    const double a = m[4] / det, b = -m[1] / det, d = -m[3] / det, e = m[0] / det;
    return {{a, b, -(a * m[2] + b * m[5]), d, e, -(d * m[2] + e * m[5])}};
  }
};

/// The similarity (rotation, uniform scale, shift; no reflection) minimising
/// sum_i |T(from_i) - to_i|^2. In complex numbers T(z) = s z + t with
/// s = sum conj(f_i - mean f)(t_i - mean t) / sum |f_i - mean f|^2, which is Umeyama's
/// closed form in 2-D. value_error when the point counts differ, are under 2, or `from`
/// has all its points at one place.
inline affine2 fit_similarity(std::span<const point2> from, std::span<const point2> to) {
  if (from.size() != to.size() || from.size() < 2)
    fail<value_error>("fit_similarity", "needs two lists of the same length >= 2, got ", from.size(), " and ",
                      to.size(), " points");
  const double n = static_cast<double>(from.size());
  point2 mf, mt;
  for (std::size_t i = 0; i < from.size(); ++i) {
    mf.x += from[i].x / n, mf.y += from[i].y / n;
    mt.x += to[i].x / n, mt.y += to[i].y / n;
  }
  double re = 0, im = 0, var = 0;
  for (std::size_t i = 0; i < from.size(); ++i) {
    const double fx = from[i].x - mf.x, fy = from[i].y - mf.y, tx = to[i].x - mt.x, ty = to[i].y - mt.y;
    re += fx * tx + fy * ty;  // conj(f) * t
    im += fx * ty - fy * tx;
    var += fx * fx + fy * fy;
  }
  if (!(var > 1e-12)) fail<value_error>("fit_similarity", "the source points all lie at one place");
  const double a = re / var, b = im / var;  // s = a + i b: [a -b; b a]
  return {{a, -b, mt.x - (a * mf.x - b * mf.y), b, a, mt.y - (b * mf.x + a * mf.y)}};
}

/// The five points faces are warped onto for ArcFace-style engines at 112 x 112 (eyes, nose
/// tip, mouth corners), scaled to side x side.
inline std::array<point2, 5> arcface_template(double side = 112) {
  const double k = side / 112.0;
  return {point2{38.2946 * k, 51.6963 * k}, point2{73.5318 * k, 51.5014 * k}, point2{56.0252 * k, 71.7366 * k},
          point2{41.5493 * k, 92.3655 * k}, point2{70.7299 * k, 92.2041 * k}};
}

/// Warps image (C, H, W) with `map` (source pixel -> output pixel) to (C, out_h, out_w): each
/// output pixel p takes the bilinear sample of the source at map^-1(p); samples outside the
/// source count as 0 (OpenCV warpAffine, INTER_LINEAR, BORDER_CONSTANT 0).
inline tensor<float, host> warp_affine(const tensor<float, host>& image, const affine2& map, index_t out_h,
                                       index_t out_w) {
  if (image.rank() != 3 || out_h <= 0 || out_w <= 0)
    fail<shape_error>("warp_affine", "image ", image.shape(), " must be (C, H, W) and the output ", out_h, " x ", out_w,
                      " positive");
  const auto inv = map.inverse();
  const index_t c = image.size(0), h = image.size(1), w = image.size(2);
  auto out = tensor<float, host>::zeros(shape{c, out_h, out_w});
  const float* s = image.data();
  float* o = out.data();
  const auto at = [&](index_t ch, index_t y, index_t x) -> double {
    return (x < 0 || y < 0 || x >= w || y >= h) ? 0.0 : s[(ch * h + y) * w + x];
  };
  for (index_t y = 0; y < out_h; ++y)
    for (index_t x = 0; x < out_w; ++x) {
      const auto p = inv({static_cast<double>(x), static_cast<double>(y)});
      const double fx = std::floor(p.x), fy = std::floor(p.y);
      if (fx < -1 || fy < -1 || fx >= static_cast<double>(w) || fy >= static_cast<double>(h)) continue;
      const auto x0 = static_cast<index_t>(fx), y0 = static_cast<index_t>(fy);
      const double ax = p.x - fx, ay = p.y - fy;
      for (index_t ch = 0; ch < c; ++ch)
        o[(ch * out_h + y) * out_w + x] =
            static_cast<float>((1 - ay) * ((1 - ax) * at(ch, y0, x0) + ax * at(ch, y0, x0 + 1)) +
                               ay * ((1 - ax) * at(ch, y0 + 1, x0) + ax * at(ch, y0 + 1, x0 + 1)));
    }
  return out;
}

}  // namespace bijgan::data
