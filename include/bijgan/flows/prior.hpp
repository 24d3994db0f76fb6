// Latent priors of a flow (method.md §3, Eq. 12–13): the standard normal N(0, I) and the
// class-conditional Gaussian N(μ_c, I), its means either on the paper's line μ_c = δ·(c − C/2)·1
// or at fixed random points δ·r_c, with log-densities, sampling and classification by the most
// likely class; flows::sample inverts a flow from prior draws.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <numbers>
#include <string>
#include <tuple>
#include <vector>

#include "bijgan/autodiff/grad_mode.hpp"
#include "bijgan/flows/bijection.hpp"
#include "bijgan/ops/linalg.hpp"
#include "bijgan/ops/reduce.hpp"
#include "bijgan/ops/shape.hpp"
#include "bijgan/tensor/ops.hpp"

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

/// The means of a class_gaussian, built once: rows (C, D), host copy and ½‖μ_c‖² as (1, C).
template <class T, class B>
struct class_means {
  std::tuple<index_t, index_t, double, int, std::uint64_t> key;
  std::vector<T> values;
  tensor<T, B> matrix, half_norms;
};
/// Memo of the last class_means built (shared by copies of a prior; thread-safe).
template <class T, class B>
struct class_means_memo {
  std::mutex lock;
  std::shared_ptr<const class_means<T, B>> last;
};
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
  tensor<T, B> sample(index_t n, rng& g, T temperature = T(1)) const {
    return tensor<T, B>::random(shape{n, dim}, g, {distribution::normal, T(0), temperature});
  }

 private:
  void check(const shape& s) const {
    if (s.rank() != 2 || s[1] != dim)
      fail<shape_error>("flows::standard_normal", "latent ", s, " must be (N, ", dim, ")");
  }
};

/// Where the class means of class_gaussian sit.
enum class mean_layout {
  /// μ_c = δ·(c − C/2)·1: the paper's μ_c = c·1, centred and scaled; neighbouring means are
  /// δ·√D apart, and a class can only be told from the others by the mean of z.
  line,
  /// μ_c = δ·r_c with r_c ~ N(0, I) drawn once from `seed`: nearly orthogonal, every pair of
  /// classes about δ·√(2D) apart and no class between two others (as in FlowGMM).
  random
};

/// "line" or "random" (command lines, configs) as a mean_layout; anything else is a value_error.
inline mean_layout mean_layout_from(const std::string& name) {
  if (name == "line") return mean_layout::line;
  if (name == "random") return mean_layout::random;
  fail<value_error>("flows::mean_layout_from", "mean layout \"", name, "\" is neither \"line\" nor \"random\"");
}

/// One unit Gaussian per class c ∈ [0, C): N(μ_c, I), the means laid out by `layout`.
template <class T = float, class B = host>
struct class_gaussian {
  index_t classes = 0;
  index_t dim = 0;
  double delta = 0.1;
  mean_layout layout = mean_layout::line;
  std::uint64_t seed = 0;  ///< draws the random layout's means
  /// Internal: memo of the means for the fields above (rebuilt when any of them changes).
  std::shared_ptr<detail::class_means_memo<T, B>> memo = std::make_shared<detail::class_means_memo<T, B>>();

  /// The scalar m_c with μ_c = m_c·1 (the line layout).
  [[nodiscard]] double mean_of(index_t c) const { return delta * (double(c) - double(classes) / 2); }

  /// μ_c of each listed class as rows (n, D).
  [[nodiscard]] tensor<T, B> means(const std::vector<index_t>& cs) const {
    std::vector<T> out;
    out.reserve(cs.size() * static_cast<std::size_t>(dim));
    const auto table = layout == mean_layout::random ? cached() : nullptr;
    for (index_t c : cs) {
      check_label(c);
      if (table == nullptr) {
        out.insert(out.end(), static_cast<std::size_t>(dim), static_cast<T>(mean_of(c)));
      } else {
        const auto row = table->values.begin() + static_cast<std::ptrdiff_t>(c * dim);
        out.insert(out.end(), row, row + static_cast<std::ptrdiff_t>(dim));
      }
    }
    return tensor<T, B>::from(out, shape{static_cast<index_t>(cs.size()), dim});
  }
  /// Every class mean (C, D); built once per (classes, dim, delta, layout, seed) and shared by
  /// copies of the prior (LFW's 1,453 × 12,288 means are 17.8M normal draws).
  [[nodiscard]] tensor<T, B> means() const { return cached()->matrix; }

  /// The class log-densities up to a per-sample constant, as logits (N, C) for a softmax over
  /// classes: z·μ_c − ½‖μ_c‖² (log N(z; μ_c, I) minus −½‖z‖² − D/2·ln 2π). Differentiable in z;
  /// softmax of these is the posterior p(c | z) under the uniform class prior.
  var<T, B> class_logits(const var<T, B>& z) const {
    check(z.shape(), static_cast<std::size_t>(z.shape()[0]));
    const auto m = cached();
    return matmul(z, constant(m->matrix), false, true) - constant(m->half_norms);
  }

  /// log N(z_n; μ_{labels[n]}, I) per sample of z (N, D).
  var<T, B> log_prob(const var<T, B>& z, const std::vector<index_t>& labels) const {
    check(z.shape(), labels.size());
    return detail::unit_gaussian_log_prob(z - constant(means(labels)), "flows::class_gaussian");
  }

  /// log N(z_n; μ_c, I) for every class: (N, C) values, −½(‖z‖² − 2 z·μ_c + ‖μ_c‖²) − D/2·ln 2π
  /// (z·μ_c = m_c·Σz on the line, one product z Mᵀ for the random layout).
  [[nodiscard]] std::vector<std::vector<double>> log_prob_all(const tensor<T, B>& z) const {
    check(z.shape(), static_cast<std::size_t>(z.size(0)));
    const auto v = z.to_vector();
    const index_t n = z.size(0), d = z.size(1);
    const double c0 = 0.5 * double(d) * std::log(2 * std::numbers::pi);
    std::vector<double> cross, norms(static_cast<std::size_t>(classes));  // z·μ_c (N, C) and ‖μ_c‖²
    if (layout == mean_layout::random) {
      const auto m = cached();
      const auto cv = matmul(z, m->matrix, false, true).to_vector();
      cross.assign(cv.begin(), cv.end());
      const auto& mv = m->values;
      for (std::size_t k = 0; k < mv.size(); ++k)
        norms[k / static_cast<std::size_t>(d)] += double(mv[k]) * double(mv[k]);
    } else {
      for (index_t c = 0; c < classes; ++c) norms[static_cast<std::size_t>(c)] = mean_of(c) * mean_of(c) * double(d);
    }
    std::vector<std::vector<double>> out(static_cast<std::size_t>(n),
                                         std::vector<double>(static_cast<std::size_t>(classes)));
    for (index_t i = 0; i < n; ++i) {
      double sq = 0, s = 0;
      for (index_t k = 0; k < d; ++k) {
        const double x = v[static_cast<std::size_t>(i * d + k)];
        sq += x * x;
        s += x;
      }
      for (index_t c = 0; c < classes; ++c) {
        const auto ci = static_cast<std::size_t>(c);
        const double zm = layout == mean_layout::random
                              ? cross[static_cast<std::size_t>(i) * static_cast<std::size_t>(classes) + ci]
                              : mean_of(c) * s;
        out[static_cast<std::size_t>(i)][ci] = -0.5 * (sq - 2 * zm + norms[ci]) - c0;
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
  tensor<T, B> sample(const std::vector<index_t>& labels, rng& g, T temperature = T(1)) const {
    for (auto c : labels) check_label(c);
    const auto n = static_cast<index_t>(labels.size());
    auto e = tensor<T, B>::random(shape{n, dim}, g, {distribution::normal, T(0), temperature}).to_vector();
    const auto m = means(labels).to_vector();
    for (std::size_t k = 0; k < e.size(); ++k) e[k] += m[k];
    return tensor<T, B>::from(e, shape{n, dim});
  }

 private:
  std::shared_ptr<const detail::class_means<T, B>> cached() const {
    if (classes < 1 || dim < 1) fail<value_error>("flows::class_gaussian", "needs classes >= 1 and dim >= 1");
    const auto key = std::make_tuple(classes, dim, delta, static_cast<int>(layout), seed);
    const std::lock_guard hold(memo->lock);
    if (memo->last && memo->last->key == key) return memo->last;
    auto m = std::make_shared<detail::class_means<T, B>>();
    m->key = key;
    m->values.reserve(static_cast<std::size_t>(classes * dim));
    std::vector<T> half(static_cast<std::size_t>(classes));
    for (index_t c = 0; c < classes; ++c) {
      if (layout == mean_layout::line) {
        m->values.insert(m->values.end(), static_cast<std::size_t>(dim), static_cast<T>(mean_of(c)));
      } else {
        rng g(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(c));
        const auto r =
            tensor<T, host>::random(shape{dim}, g, {distribution::normal, T(0), static_cast<T>(delta)}).to_vector();
        m->values.insert(m->values.end(), r.begin(), r.end());
      }
      double sq = 0;
      for (index_t k = 0; k < dim; ++k)
        sq += double(m->values[static_cast<std::size_t>(c * dim + k)]) *
              double(m->values[static_cast<std::size_t>(c * dim + k)]);
      half[static_cast<std::size_t>(c)] = static_cast<T>(0.5 * sq);
    }
    m->matrix = tensor<T, B>::from(m->values, shape{classes, dim});
    m->half_norms = tensor<T, B>::from(half, shape{1, classes});
    memo->last = m;
    return m;
  }
  void check_label(index_t c) const {
    if (c < 0 || c >= classes)
      fail<value_error>("flows::class_gaussian", "label ", c, " is outside [0, ", classes, ")");
  }
  void check(const shape& s, std::size_t labels) const {
    if (classes < 1 || dim < 1) fail<value_error>("flows::class_gaussian", "needs classes >= 1 and dim >= 1");
    if (s.rank() != 2 || s[1] != dim)
      fail<shape_error>("flows::class_gaussian", "latent ", s, " must be (N, ", dim, ")");
    if (static_cast<std::size_t>(s[0]) != labels)
      fail<shape_error>("flows::class_gaussian", labels, " labels for a latent batch ", s);
  }
};

/// Images from latents: f.inverse(z) without recording a graph.
template <bijection F>
tensor<typename F::value_type, typename F::backend_type> sample(
    const F& f, const tensor<typename F::value_type, typename F::backend_type>& z) {
  const no_grad off;
  return f.inverse(constant(z)).value();
}

}  // namespace bijgan::flows
