// Evaluating reconstructions (method.md §7): images from features with a trained generator,
// MS-SSIM (Wang, Simoncelli, Bovik 2003: 5 scales, 11x11 Gaussian window σ 1.5 shrunk for small
// images, K1 0.01, K2 0.03, 2x2 mean + decimate between scales) and the diversity score — mean
// MS-SSIM between reconstructions of one feature with different v (lower = more diverse).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "bijgan/autodiff/grad_mode.hpp"
#include "bijgan/concepts/model.hpp"
#include "bijgan/io/png.hpp"
#include "bijgan/ops/resample.hpp"
#include "bijgan/tensor/tensor.hpp"

namespace bijgan::eval {

/// Images (N, C, H, W) on the host reconstructed by g from features (N, feature_dim), with v
/// drawn from N(0, I) by `seed`, in batches, without recording a graph.
template <class G>
tensor<float, host> reconstruct(const G& g, const tensor<float, host>& features, std::uint64_t seed,
                                index_t batch = 64) {
  using T = typename G::value_type;
  using B = typename G::backend_type;
  const no_grad off;
  if (features.rank() != 2 || features.size(1) != G::feature_dim)
    fail<shape_error>("eval::reconstruct", "features ", features.shape(), " must be (N, ", G::feature_dim, ")");
  std::vector<float> out;
  shape s;
  rng gen(seed);
  for (index_t i = 0; i < features.size(0); i += batch) {
    const index_t e = std::min(features.size(0), i + batch);
    const auto fv = features.slice_rows(i, e).to_vector();
    const auto f =
        constant(to<B>(tensor<T, host>::from(std::vector<T>(fv.begin(), fv.end()), shape{e - i, G::feature_dim})));
    const auto v = constant(tensor<T, B>::random(shape{e - i, G::noise_dim}, gen, {distribution::normal, 0, 1}));
    const auto x = to<host>(g(f, v).value());
    s = x.shape();
    const auto xv = x.to_vector();
    out.insert(out.end(), xv.begin(), xv.end());
  }
  s[0] = features.size(0);
  return tensor<float, host>::from(out, s);
}

namespace detail {
/// One channel plane (H, W) as a flat row-major vector.
using plane = std::vector<double>;

/// Separable Gaussian filtering, 'valid' region, window k, σ.
inline plane gaussian_valid(const plane& x, index_t h, index_t w, index_t k, double sigma, index_t& oh, index_t& ow) {
  std::vector<double> g(static_cast<std::size_t>(k));
  double z = 0;
  for (index_t i = 0; i < k; ++i)
    z += g[static_cast<std::size_t>(i)] = std::exp(-0.5 * std::pow((double(i) - double(k - 1) / 2) / sigma, 2));
  for (auto& v : g) v /= z;
  oh = h - k + 1, ow = w - k + 1;
  plane rows(static_cast<std::size_t>(h * ow), 0.0), out(static_cast<std::size_t>(oh * ow), 0.0);
  for (index_t r = 0; r < h; ++r)
    for (index_t c = 0; c < ow; ++c) {
      double a = 0;
      for (index_t t = 0; t < k; ++t) a += g[static_cast<std::size_t>(t)] * x[static_cast<std::size_t>(r * w + c + t)];
      rows[static_cast<std::size_t>(r * ow + c)] = a;
    }
  for (index_t r = 0; r < oh; ++r)
    for (index_t c = 0; c < ow; ++c) {
      double a = 0;
      for (index_t t = 0; t < k; ++t)
        a += g[static_cast<std::size_t>(t)] * rows[static_cast<std::size_t>((r + t) * ow + c)];
      out[static_cast<std::size_t>(r * ow + c)] = a;
    }
  return out;
}

/// Mean SSIM and mean contrast-structure term of two planes at one scale.
inline std::array<double, 2> ssim_terms(const plane& a, const plane& b, index_t h, index_t w, double range) {
  const index_t k = std::min<index_t>({11, h, w});
  const double sigma = 1.5 * double(k) / 11.0;
  const double c1 = std::pow(0.01 * range, 2), c2 = std::pow(0.03 * range, 2);
  plane aa(a.size()), bb(a.size()), ab(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) aa[i] = a[i] * a[i], bb[i] = b[i] * b[i], ab[i] = a[i] * b[i];
  index_t oh = 0, ow = 0;
  const auto ma = gaussian_valid(a, h, w, k, sigma, oh, ow), mb = gaussian_valid(b, h, w, k, sigma, oh, ow);
  const auto saa = gaussian_valid(aa, h, w, k, sigma, oh, ow), sbb = gaussian_valid(bb, h, w, k, sigma, oh, ow),
             sab = gaussian_valid(ab, h, w, k, sigma, oh, ow);
  double ssim = 0, cs = 0;
  for (std::size_t i = 0; i < ma.size(); ++i) {
    const double va = saa[i] - ma[i] * ma[i], vb = sbb[i] - mb[i] * mb[i], cov = sab[i] - ma[i] * mb[i];
    const double csi = (2 * cov + c2) / (va + vb + c2);
    cs += csi;
    ssim += (2 * ma[i] * mb[i] + c1) / (ma[i] * ma[i] + mb[i] * mb[i] + c1) * csi;
  }
  return {ssim / double(ma.size()), cs / double(ma.size())};
}

/// 2x2 mean and decimation (odd sizes drop the last row/column).
inline plane halve(const plane& x, index_t h, index_t w) {
  plane out(static_cast<std::size_t>((h / 2) * (w / 2)));
  for (index_t r = 0; r < h / 2; ++r)
    for (index_t c = 0; c < w / 2; ++c)
      out[static_cast<std::size_t>(r * (w / 2) + c)] =
          0.25 * (x[static_cast<std::size_t>(2 * r * w + 2 * c)] + x[static_cast<std::size_t>(2 * r * w + 2 * c + 1)] +
                  x[static_cast<std::size_t>((2 * r + 1) * w + 2 * c)] +
                  x[static_cast<std::size_t>((2 * r + 1) * w + 2 * c + 1)]);
  return out;
}
}  // namespace detail

/// MS-SSIM of two images (C, H, W) with values in [0, range], averaged over channels. Negative
/// per-scale terms are clamped to 0 before the weighted product (as TensorFlow does), so the
/// result lies in [0, 1]. Images must be at least 2^4 = 16 pixels on a side (5 scales).
inline double ms_ssim(const tensor<float, host>& a, const tensor<float, host>& b, double range = 1) {
  if (a.shape() != b.shape() || a.rank() != 3 || a.size(1) < 16 || a.size(2) < 16)
    fail<shape_error>("eval::ms_ssim", "images ", a.shape(), " and ", b.shape(),
                      " must be one (C, H, W) shape with H, W >= 16");
  constexpr std::array<double, 5> weights{0.0448, 0.2856, 0.3001, 0.2363, 0.1333};
  const index_t c = a.size(0), h0 = a.size(1), w0 = a.size(2);
  const auto av = a.to_vector(), bv = b.to_vector();
  double total = 0;
  for (index_t ch = 0; ch < c; ++ch) {
    const auto off = static_cast<std::ptrdiff_t>(ch * h0 * w0);
    detail::plane x(av.begin() + off, av.begin() + off + h0 * w0), y(bv.begin() + off, bv.begin() + off + h0 * w0);
    index_t h = h0, w = w0;
    double value = 1;
    for (std::size_t s = 0; s < weights.size(); ++s) {
      const auto [ssim, cs] = detail::ssim_terms(x, y, h, w, range);
      value *= std::pow(std::max(0.0, s + 1 == weights.size() ? ssim : cs), weights[s]);
      if (s + 1 < weights.size()) {
        x = detail::halve(x, h, w), y = detail::halve(y, h, w);
        h /= 2, w /= 2;
      }
    }
    total += value;
  }
  return total / double(c);
}

/// The diversity score: mean MS-SSIM between two reconstructions of each feature drawn with
/// different v (lower = more diverse; real images of one identity score ≈ 0.3 on CelebA).
template <class G>
double ms_ssim_diversity(const G& g, const tensor<float, host>& features, std::uint64_t seed) {
  const auto a = reconstruct(g, features, seed), b = reconstruct(g, features, seed + 1);
  const shape one{a.size(1), a.size(2), a.size(3)};
  double sum = 0;
  for (index_t i = 0; i < a.size(0); ++i)
    sum += ms_ssim(a.slice_rows(i, i + 1).reshape(one), b.slice_rows(i, i + 1).reshape(one));
  return sum / double(a.size(0));
}

/// Fraction of reconstructions a classifier puts in their source's class: predict(images)
/// returns one class per image.
template <class Predict>
double class_accuracy(Predict&& predict, const tensor<float, host>& images, const std::vector<int>& labels) {
  const auto pred = predict(images);
  if (pred.size() != labels.size())
    fail<shape_error>("eval::class_accuracy", pred.size(), " predictions for ", labels.size(), " labels");
  long right = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) right += pred[i] == labels[i];
  return pred.empty() ? 0.0 : double(right) / double(pred.size());
}

/// The figure of the method's reports: one row per image — the real image, its reconstruction
/// and `more` reconstructions with other v — as a single grid image (C, H', W').
/// recon(features, seed) returns (n, C, r, r) reconstructions (e.g. eval::reconstruct with a
/// generator, or a progressive generator at an early stage); smaller ones are enlarged (nearest)
/// to the reals' size. reals (n, C, R, R), features (n, D).
template <class Reconstruct>
tensor<float, host> reconstruction_sheet(Reconstruct&& recon, const tensor<float, host>& reals,
                                         const tensor<float, host>& features, index_t more = 4,
                                         std::uint64_t seed = 2026) {
  const char* op = "eval::reconstruction_sheet";
  if (reals.rank() != 4 || features.rank() != 2 || reals.size(0) != features.size(0) || reals.size(0) == 0 || more < 0)
    fail<shape_error>(op, "reals ", reals.shape(), " and features ", features.shape(),
                      " must be (n, C, R, R) and (n, D), n > 0");
  const index_t n = reals.size(0), per = reals.numel() / n;
  std::vector<std::vector<float>> columns{reals.to_vector()};
  for (index_t k = 0; k <= more; ++k) {
    auto x = recon(features, seed + 1000 * static_cast<std::uint64_t>(k));
    if (x.rank() != 4 || x.size(0) != n || x.size(1) != reals.size(1))
      fail<shape_error>(op, "reconstructions ", x.shape(), " do not match reals ", reals.shape());
    {
      const no_grad off;  // to the reals' size (x itself when it has it)
      x = resize(constant(x), reals.size(2), reals.size(3), interpolation::nearest).value();
    }
    columns.push_back(x.to_vector());
  }
  std::vector<float> rows;
  rows.reserve(static_cast<std::size_t>(per * n) * columns.size());
  for (index_t r = 0; r < n; ++r)
    for (const auto& c : columns) rows.insert(rows.end(), c.begin() + r * per, c.begin() + (r + 1) * per);
  const auto cols = static_cast<index_t>(columns.size());
  return io::make_grid(tensor<float, host>::from(rows, shape{n * cols, reals.size(1), reals.size(2), reals.size(3)}),
                       cols);
}

}  // namespace bijgan::eval
