// Latent priors of a flow (method.md §3, Eq. 12–13): the standard normal N(0, I) and the
// class-conditional Gaussian N(μ_c, I) with μ_c = δ·(c − C/2)·1, with log-densities, sampling
// and classification by the most likely class; flows::sample inverts a flow from prior draws.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "bijgan/autodiff/grad_mode.hpp"
#include "bijgan/flows/bijection.hpp"
#include "bijgan/ops/reduce.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan::flows {

namespace detail {
/// −½‖z_n‖² − D/2·ln 2π per sample of z (N, D).
template <class T, class B>
var<T, B> unit_gaussian_log_prob(const var<T, B>& z, const char* op) {
  if (z.rank() != 2) fail<shape_error>(op, "latent ", z.shape(), " must be flat (N, D)");
  const T c = static_cast<T>(0.5 * double(z.size(1)) * std::log(2 * std::numbers::pi));
  return sum(square(z), {1}) * T(-0.5) - c;
}
/// log Σ exp(row) (stable).
inline double logsumexp(const std::vector<double>& row) {
  double top = -std::numeric_limits<double>::infinity(), acc = 0;
  for (double v : row) top = std::max(top, v);
  for (double v : row) acc += std::exp(v - top);
  return top + std::log(acc);
}
/// Index of the largest entry (the first on ties).
inline index_t argmax(const std::vector<double>& row) {
  return static_cast<index_t>(std::max_element(row.begin(), row.end()) - row.begin());
}
}  // namespace detail

/// N(0, I) over D dimensions.
template <class T = float, class B = host>
struct standard_normal {
  index_t dim = 0;
  /// log N(z; 0, I) per sample of z (N, D).
  var<T, B> log_prob(const var<T, B>& z) const {
    check(z.shape());
    return detail::unit_gaussian_log_prob(z, "flows::standard_normal");
  }
  /// n draws (n, D), scaled by `temperature`.
  tensor<T, B> sample(index_t n, generator& g, T temperature = T(1)) const {
    return tensor<T, B>::random(shape{n, dim}, g, {distribution::normal, T(0), temperature});
  }

 private:
  void check(const shape& s) const {
    if (s.rank() != 2 || s[1] != dim) fail<shape_error>("flows::standard_normal", "latent ", s, " must be (N, ", dim, ")");
  }
};

/// One unit Gaussian per class c ∈ [0, C): N(μ_c, I), μ_c = δ·(c − C/2)·1 (the paper's μ_c = c·1,
/// centred and scaled; neighbouring means are δ·√D apart).
template <class T = float, class B = host>
struct class_gaussian {
  index_t classes = 0;
  index_t dim = 0;
  double delta = 0.1;

  /// The scalar m_c with μ_c = m_c·1.
  [[nodiscard]] double mean_of(index_t c) const { return delta * (double(c) - double(classes) / 2); }

  /// log N(z_n; μ_{labels[n]}, I) per sample of z (N, D).
  var<T, B> log_prob(const var<T, B>& z, const std::vector<index_t>& labels) const {
    check(z.shape(), labels.size());
    std::vector<T> m(labels.size());
    for (std::size_t i = 0; i < labels.size(); ++i) {
      check_label(labels[i]);
      m[i] = static_cast<T>(mean_of(labels[i]));
    }
    const auto mu = constant(tensor<T, B>::from(m, shape{z.size(0), 1}));
    return detail::unit_gaussian_log_prob(z - mu, "flows::class_gaussian");
  }

  /// log N(z_n; μ_c, I) for every class: (N, C) values, from ‖z‖² and Σz in closed form.
  [[nodiscard]] std::vector<std::vector<double>> log_prob_all(const tensor<T, B>& z) const {
    check(z.shape(), static_cast<std::size_t>(z.size(0)));
    const auto v = z.to_vector();
    const index_t n = z.size(0), d = z.size(1);
    const double c0 = 0.5 * double(d) * std::log(2 * std::numbers::pi);
    std::vector<std::vector<double>> out(static_cast<std::size_t>(n), std::vector<double>(static_cast<std::size_t>(classes)));
    for (index_t i = 0; i < n; ++i) {
      double sq = 0, s = 0;
      for (index_t k = 0; k < d; ++k) {
        const double x = v[static_cast<std::size_t>(i * d + k)];
        sq += x * x;
        s += x;
      }
      for (index_t c = 0; c < classes; ++c) {
        const double m = mean_of(c);
        out[static_cast<std::size_t>(i)][static_cast<std::size_t>(c)] = -0.5 * (sq - 2 * m * s + m * m * double(d)) - c0;
      }
    }
    return out;
  }

  /// log p(z_n) under the uniform mixture of the class Gaussians: logsumexp_c log N(z_n; μ_c, I)
  /// − log C (the density of an image whose class is unknown, e.g. an unseen identity).
  [[nodiscard]] std::vector<double> log_prob_marginal(const tensor<T, B>& z) const {
    std::vector<double> out;
    for (const auto& row : log_prob_all(z)) out.push_back(detail::logsumexp(row) - std::log(double(classes)));
    return out;
  }

  /// The most likely class of each latent (the prior is uniform over classes).
  [[nodiscard]] std::vector<index_t> classify(const tensor<T, B>& z) const {
    std::vector<index_t> out;
    for (const auto& row : log_prob_all(z)) out.push_back(detail::argmax(row));
    return out;
  }

  /// One draw per label (N, D) from N(μ_c, temperature²·I).
  tensor<T, B> sample(const std::vector<index_t>& labels, generator& g, T temperature = T(1)) const {
    for (auto c : labels) check_label(c);
    const auto n = static_cast<index_t>(labels.size());
    auto e = tensor<T, B>::random(shape{n, dim}, g, {distribution::normal, T(0), temperature}).to_vector();
    for (index_t i = 0; i < n; ++i)
      for (index_t k = 0; k < dim; ++k) e[static_cast<std::size_t>(i * dim + k)] += static_cast<T>(mean_of(labels[static_cast<std::size_t>(i)]));
    return tensor<T, B>::from(e, shape{n, dim});
  }

 private:
  void check_label(index_t c) const {
    if (c < 0 || c >= classes) fail<value_error>("flows::class_gaussian", "label ", c, " is outside [0, ", classes, ")");
  }
  void check(const shape& s, std::size_t labels) const {
    if (classes < 1 || dim < 1) fail<value_error>("flows::class_gaussian", "needs classes >= 1 and dim >= 1");
    if (s.rank() != 2 || s[1] != dim) fail<shape_error>("flows::class_gaussian", "latent ", s, " must be (N, ", dim, ")");
    if (static_cast<std::size_t>(s[0]) != labels)
      fail<shape_error>("flows::class_gaussian", labels, " labels for a latent batch ", s);
  }
};

/// Images from latents: f.inverse(z) without recording a graph.
template <bijection F>
tensor<typename F::value_type, typename F::backend_type> sample(const F& f, const tensor<typename F::value_type, typename F::backend_type>& z) {
  const no_grad off;
  return f.inverse(constant(z)).value();
}

}  // namespace bijgan::flows
