// Realism of reconstructions, beside identity (method.md §7): the Fréchet distance between two
// sets of descriptors in an engine's feature space (a Gaussian fitted to each, then W2², Eq. 10:
// the measure FID takes in Inception features, here in a face engine's or the student's), with
// its floor from two disjoint halves of real images; and a grid figure: how sharply an image
// set's mean power spectrum peaks on the lattice of frequencies (k R/p, l R/p) where a pattern
// of period p puts its energy, against each point's neighbours (≈ 1 for natural faces, ≫ 1 for
// a visible grid), compared between reconstructions and real faces; and a block figure: how
// much more the image jumps across the edges of a p x p tiling than inside it (a mosaic).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numbers>
#include <vector>

#include <Eigen/Dense>

#include "bijgan/distances/gaussian_w2.hpp"
#include "bijgan/tensor/tensor.hpp"

namespace bijgan::eval {

/// The mean and the unbiased covariance (divisor n − 1) of the rows of x (n, D), in double.
struct gaussian_fit {
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;
};

/// Fits a Gaussian to the rows of x (n, D): shape_error unless rank 2 with n ≥ 2; value_error
/// on NaN or Inf, naming `op` and the row.
inline gaussian_fit fit_gaussian(const tensor<float, host>& x, const char* op = "eval::fit_gaussian") {
  if (x.rank() != 2 || x.size(0) < 2 || x.size(1) < 1)
    fail<shape_error>(op, "samples ", x.shape(), " must be (n, D) with n >= 2");
  const index_t n = x.size(0), d = x.size(1);
  Eigen::MatrixXd m(n, d);
  const float* p = x.data();
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j) {
      const float v = p[i * d + j];
      if (!std::isfinite(v)) fail<value_error>(op, "row ", i, " holds ", v, ", expected finite values");
      m(i, j) = v;
    }
  gaussian_fit g;
  g.mean = m.colwise().mean().transpose();
  const Eigen::MatrixXd c = m.rowwise() - g.mean.transpose();
  g.cov = (c.transpose() * c) / static_cast<double>(n - 1);
  g.cov = (g.cov + g.cov.transpose()).eval() * 0.5;  // exactly symmetric for the W2 domain check
  return g;
}

/// Fréchet distance (squared W2 of the fitted Gaussians, Eq. 10) between the rows of a (n, D)
/// and of b (m, D): ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½). Zero for identical sets;
/// biased upwards for small sets: compare it with the distance between two disjoint sets of
/// real images' descriptors of the same sizes (the floor).
/// shape_error when the dims differ.
inline double frechet_distance(const tensor<float, host>& a, const tensor<float, host>& b) {
  if (a.rank() != 2 || b.rank() != 2 || a.size(1) != b.size(1))
    fail<shape_error>("eval::frechet_distance", "descriptor sets ", a.shape(), " and ", b.shape(),
                      " must be (n, D) and (m, D)");
  const auto fa = fit_gaussian(a, "eval::frechet_distance"), fb = fit_gaussian(b, "eval::frechet_distance");
  return std::max(0.0, distances::gaussian_w2(fa.mean, fa.cov, fb.mean, fb.cov));
}

namespace detail {
/// shape_error naming op unless images are (N, C, R, R) with N >= 1.
inline void check_square_images(const tensor<float, host>& images, const char* op) {
  if (images.rank() != 4 || images.size(2) != images.size(3) || images.size(0) < 1)
    fail<shape_error>(op, "images ", images.shape(), " must be (N, C, R, R) with N >= 1");
}
/// The luminance (channel mean) of image i of (N, C, R, R) into y (R·R values, row-major).
inline void luminance(const tensor<float, host>& images, index_t i, std::vector<double>& y) {
  const index_t c = images.size(1), rr = images.size(2) * images.size(3);
  const float* p = images.data() + i * c * rr;
  y.assign(static_cast<std::size_t>(rr), 0.0);
  for (index_t ch = 0; ch < c; ++ch)
    for (index_t q = 0; q < rr; ++q) y[static_cast<std::size_t>(q)] += p[ch * rr + q];
  for (auto& e : y) e /= static_cast<double>(c);
}
}  // namespace detail

/// The mean power spectrum |DFT2(x − mean x)|² (R, R) of the luminance (channel mean) of
/// images (N, C, R, R), each image's own mean removed, averaged over the images.
inline std::vector<double> mean_power_spectrum(const tensor<float, host>& images) {
  detail::check_square_images(images, "eval::mean_power_spectrum");
  const index_t n = images.size(0), r = images.size(2);
  const auto ru = static_cast<std::size_t>(r);
  std::vector<double> cs(ru * ru), sn(ru * ru), power(ru * ru, 0.0);
  for (std::size_t k = 0; k < ru; ++k)
    for (std::size_t j = 0; j < ru; ++j) {
      const double a = 2 * std::numbers::pi * static_cast<double>((k * j) % ru) / static_cast<double>(r);
      cs[k * ru + j] = std::cos(a);
      sn[k * ru + j] = -std::sin(a);
    }
  std::vector<double> g, re(ru * ru), im(ru * ru);
  for (index_t i = 0; i < n; ++i) {
    detail::luminance(images, i, g);
    double mean = 0;
    for (const double v : g) mean += v;
    mean /= static_cast<double>(ru * ru);
    for (auto& v : g) v -= mean;
    // Rows, then columns: X[u][v] = Σ_y Σ_x g[y][x] e^{-2πi (u y + v x) / R}.
    for (std::size_t y = 0; y < ru; ++y)
      for (std::size_t v = 0; v < ru; ++v) {
        double sr = 0, si = 0;
        for (std::size_t x = 0; x < ru; ++x) {
          sr += g[y * ru + x] * cs[v * ru + x];
          si += g[y * ru + x] * sn[v * ru + x];
        }
        re[y * ru + v] = sr;
        im[y * ru + v] = si;
      }
    for (std::size_t u = 0; u < ru; ++u)
      for (std::size_t v = 0; v < ru; ++v) {
        double sr = 0, si = 0;
        for (std::size_t y = 0; y < ru; ++y) {
          const double a = cs[u * ru + y], b = sn[u * ru + y];
          sr += re[y * ru + v] * a - im[y * ru + v] * b;
          si += re[y * ru + v] * b + im[y * ru + v] * a;
        }
        power[u * ru + v] += (sr * sr + si * si) / static_cast<double>(n);
      }
  }
  return power;
}

/// The grid figure for a period p, from the mean power spectrum (R x R values, row-major) of a
/// set of images (mean_power_spectrum): how far it peaks on the lattice (k R/p, l R/p),
/// (k, l) ≠ (0, 0), where a pattern repeating every p pixels puts its energy (lines on the
/// axes, blocks and dots over the whole lattice) — the mean over the lattice points of P(u, v)
/// over the mean of P on its 8 neighbours (cyclically). A smooth spectrum (natural faces, white
/// noise) gives ≈ 1; a period-p grid gives sharp peaks and a figure ≫ 1; blur lowers a point's
/// neighbours about as much as the point, and where a filter's zeros fall on the lattice
/// (Nyquist under a 2x2 box) the figure drops below 1, never above. A point with no energy
/// around it counts 1. shape_error when power is not R x R; value_error unless 2 ≤ p, p
/// divides R and R/p ≥ 2 (the lattice points need neighbours off the lattice).
inline double lattice_peak_ratio(const std::vector<double>& power, index_t r, index_t period) {
  if (r < 1 || power.size() != static_cast<std::size_t>(r * r))
    fail<shape_error>("eval::lattice_peak_ratio", "a spectrum of ", power.size(), " values for side ", r,
                      ", expected side x side");
  if (period < 2 || r % period != 0 || r / period < 2)
    fail<value_error>("eval::lattice_peak_ratio", "period ", period,
                      " must be >= 2, divide the image side and leave a step of >= 2: side ", r);
  const auto at = [&](index_t u, index_t v) {
    return power[static_cast<std::size_t>(((u % r + r) % r) * r + (v % r + r) % r)];
  };
  const index_t step = r / period;
  double sum = 0;
  index_t count = 0;
  for (index_t u = 0; u < r; u += step)
    for (index_t v = 0; v < r; v += step) {
      if (u == 0 && v == 0) continue;
      double around = 0;
      for (index_t du = -1; du <= 1; ++du)
        for (index_t dv = -1; dv <= 1; ++dv)
          if (du != 0 || dv != 0) around += at(u + du, v + dv) / 8;
      const double p = at(u, v);
      sum += around > 0 ? p / around : 1.0;
      ++count;
    }
  return sum / static_cast<double>(count);
}

/// lattice_peak_ratio of images (N, C, R, R) (their mean_power_spectrum; for several periods,
/// take the spectrum once and call the form above).
inline double lattice_peak_ratio(const tensor<float, host>& images, index_t period) {
  if (images.rank() != 4)
    fail<shape_error>("eval::lattice_peak_ratio", "images ", images.shape(), " must be (N, C, R, R)");
  return lattice_peak_ratio(mean_power_spectrum(images), images.size(2), period);
}

/// The block figure for a period p: how much more the luminance (channel mean) of images
/// (N, C, R, R) jumps across the edges of an aligned p x p block tiling than inside the blocks
/// — the mean |Y(i, j + 1) − Y(i, j)| over the pairs with (j + 1) % p == 0, over the mean of
/// the other pairs, horizontally and vertically pooled. A nearest-neighbour upsampling by p
/// (a block mosaic) makes the inside differences vanish and the figure ≫ 1; natural images,
/// blur and noise have no preferred phase and give ≈ 1. Where the spectrum's lattice figure
/// (lattice_peak_ratio) misses a mosaic whose energy blur spreads, this sees its edges. Images
/// with no change inside the blocks and none across give 1; none inside but some across give
/// +inf. shape_error unless (N, C, R, R) with R ≥ 2p; value_error unless 2 ≤ p and p divides R.
inline double block_edge_ratio(const tensor<float, host>& images, index_t period) {
  const char* op = "eval::block_edge_ratio";
  detail::check_square_images(images, op);
  const index_t n = images.size(0), r = images.size(2);
  if (period < 2 || r % period != 0)
    fail<value_error>(op, "period ", period, " must be >= 2 and divide the image side ", r);
  if (r < 2 * period) fail<shape_error>(op, "images ", images.shape(), " are smaller than two blocks of ", period);
  std::vector<double> y;
  double edge = 0, inner = 0;
  long edges = 0, inners = 0;
  const auto at = [&](index_t row, index_t col) { return y[static_cast<std::size_t>(row * r + col)]; };
  for (index_t i = 0; i < n; ++i) {
    detail::luminance(images, i, y);
    for (index_t a = 0; a < r; ++a)
      for (index_t b = 0; b + 1 < r; ++b) {
        const double h = std::abs(at(a, b + 1) - at(a, b)), w = std::abs(at(b + 1, a) - at(b, a));
        if ((b + 1) % period == 0)
          edge += h + w, edges += 2;
        else
          inner += h + w, inners += 2;
      }
  }
  edge /= double(edges), inner /= double(inners);
  if (inner == 0) return edge == 0 ? 1.0 : std::numeric_limits<double>::infinity();
  return edge / inner;
}

}  // namespace bijgan::eval
