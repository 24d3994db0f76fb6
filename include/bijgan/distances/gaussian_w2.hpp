// The squared 2-Wasserstein distance between Gaussians (Eq. 10):
//   W2² = ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1^½ Σ2 Σ1^½)^½)
// for full covariances, diagonal covariances (closed form Σ_d (σ1_d − σ2_d)²), and two batches
// of samples through the cross-Gram identity Tr(Σ1^½ Σ2 Σ1^½)^½ = ‖X1c X2cᵀ‖_* / √((n1−1)(n2−1))
// (an n1 x n2 matrix: no D x D covariance is formed). The full and diagonal forms are generic
// over the algebra concepts (numbers, Eigen, var); all var forms are differentiable.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "bijgan/concepts/algebra.hpp"
#include "bijgan/config/instances.hpp"
#include "bijgan/linalg/sqrtm.hpp"

namespace bijgan::distances {

/// Which matrix square root the full form uses.
enum class sqrtm_method { eig, newton_schulz };

struct w2_options {
  sqrtm_method method = sqrtm_method::eig;
  int newton_schulz_iterations = 20;
};

namespace detail {
template <class T, class B>
var<T, B> sqrtm(const var<T, B>& a, const w2_options& o) {
  return o.method == sqrtm_method::eig ? linalg::sqrtm_eig(a)
                                       : linalg::sqrtm_newton_schulz(a, {.iterations = o.newton_schulz_iterations});
}
/// Domain check of a covariance: finite, symmetric and positive semi-definite up to round-off
/// (asymmetry and negative eigenvalues of the symmetric part at most max(sqrt(eps), 1e-5) of
/// the largest magnitude, which also admits a finite-difference step). Outside it, W2 is not a
/// distance (it can come out zero or negative): value_error naming op.
template <class S>
void require_psd_values(const S* a, index_t n, const char* op, const char* which) {
  using mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Map<const mat> m(a, n, n);
  if (!m.allFinite()) fail<value_error>(op, which, " covariance holds NaN or Inf");
  const S scale = std::max(m.cwiseAbs().maxCoeff(), std::numeric_limits<S>::min());
  const S tol = std::max(std::sqrt(std::numeric_limits<S>::epsilon()), S(1e-5)) * scale;
  const S asym = (m - m.transpose()).cwiseAbs().maxCoeff();
  if (asym > tol) fail<value_error>(op, which, " covariance is not symmetric (|A - A^T| reaches ", asym, ")");
  Eigen::SelfAdjointEigenSolver<mat> es((m + m.transpose()) * S(0.5), Eigen::EigenvaluesOnly);
  if (es.info() != Eigen::Success)
    fail<value_error>(op, "the eigen solver did not converge on the ", which, " covariance");
  const S low = es.eigenvalues().minCoeff();
  if (low < -tol)
    fail<value_error>(op, which, " covariance is not positive semi-definite (smallest eigenvalue ", low, ", tolerance ",
                      tol, ")");
}
template <class S>
requires std::is_arithmetic_v<S>
void require_psd(const S& v, const char* op, const char* which) {
  if (!(std::isfinite(static_cast<double>(v)) && v >= S(0)))
    fail<value_error>(op, which, " variance ", v, " must be finite and >= 0");
}
template <class S, int R, int C, int O, int MR, int MC>
void require_psd(const Eigen::Matrix<S, R, C, O, MR, MC>& m, const char* op, const char* which) {
  const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> r = m;
  if (r.rows() != r.cols())
    fail<shape_error>(op, which, " covariance is ", r.rows(), "x", r.cols(), ", expected square");
  require_psd_values(r.data(), r.rows(), op, which);
}
template <class T, class B>
void require_psd(const var<T, B>& m, const char* op, const char* which) {
  if (m.rank() != 2 || m.size(0) != m.size(1))
    fail<shape_error>(op, which, " covariance ", m.shape(), " must be square");
  const auto v = m.value().to_vector();
  require_psd_values(v.data(), m.size(0), op, which);
}

template <class T, class B>
void require_mean_cov(const var<T, B>& mu, const var<T, B>& cov, const char* op) {
  if (mu.rank() != 1 || cov.rank() != 2 || cov.size(0) != mu.size(0) || cov.size(1) != mu.size(0))
    fail<shape_error>(op, "mean ", mu.shape(), " and covariance ", cov.shape(), " must be (D) and (D, D)");
}
}  // namespace detail

/// W2² between N(mu1, cov1) and N(mu2, cov2) for any algebra (Eq. 10): numbers (1-D), Eigen
/// vectors and matrices, or vars. sqrtm(m) computes the PSD square root (default: the
/// algebra's own). Covariances of numbers, Eigen matrices and vars must be finite, symmetric
/// and positive semi-definite up to round-off: value_error otherwise (W2 would not be a
/// distance there).
template <algebra::vector_space V, algebra::matrix_algebra M, class Sqrtm = decltype(&algebra::ops<M>::sqrtm)>
auto gaussian_w2(const V& mu1, const M& cov1, const V& mu2, const M& cov2, Sqrtm sqrtm = &algebra::ops<M>::sqrtm) {
  using A = algebra::ops<M>;
  if constexpr (requires { detail::require_psd(cov1, "", ""); }) {
    detail::require_psd(cov1, "gaussian_w2", "first");
    detail::require_psd(cov2, "gaussian_w2", "second");
  }
  const M r1 = sqrtm(cov1);
  const M cross = sqrtm(A::matmul(A::matmul(r1, cov2), r1));
  const auto tc = A::trace(cross);
  return algebra::ops<V>::sum_squares(algebra::ops<V>::sub(mu1, mu2)) + A::trace(cov1) + A::trace(cov2) - (tc + tc);
}

/// The var form with shape checks and the choice of square root (eig or Newton–Schulz).
template <class T, class B>
var<T, B> gaussian_w2(const var<T, B>& mu1, const var<T, B>& cov1, const var<T, B>& mu2, const var<T, B>& cov2,
                      const w2_options& o) {
  detail::require_mean_cov(mu1, cov1, "gaussian_w2");
  detail::require_mean_cov(mu2, cov2, "gaussian_w2");
  if (mu1.shape() != mu2.shape())
    fail<shape_error>("gaussian_w2", "means ", mu1.shape(), " and ", mu2.shape(), " differ");
  return gaussian_w2(mu1, cov1, mu2, cov2, [&](const var<T, B>& a) { return detail::sqrtm(a, o); });
}
template <class T, class B>
var<T, B> gaussian_w2(const var<T, B>& mu1, const var<T, B>& cov1, const var<T, B>& mu2, const var<T, B>& cov2) {
  return gaussian_w2(mu1, cov1, mu2, cov2, w2_options{});
}

namespace detail {
template <algebra::vector_space V>
auto w2_diagonal_unchecked(const V& mu1, const V& var1, const V& mu2, const V& var2) {
  using A = algebra::ops<V>;
  return A::sum_squares(A::sub(mu1, mu2)) + A::sum_squares(A::sub(A::sqrt(var1), A::sqrt(var2)));
}
}  // namespace detail

/// W2² between N(mu1, diag(var1)) and N(mu2, diag(var2)) for any vector space:
/// ‖μ1 − μ2‖² + Σ (√var1 − √var2)². (For var, variances are floored at 1e-12 inside the roots.)
/// Variances of numbers, Eigen vectors and vars must be finite and >= 0 (above -1e-12 for
/// round-off): value_error otherwise.
template <algebra::vector_space V>
auto gaussian_w2_diagonal(const V& mu1, const V& var1, const V& mu2, const V& var2) {
  const auto check = [](const V& v, const char* which) {
    if constexpr (std::is_arithmetic_v<V>) {
      detail::require_psd(v, "gaussian_w2_diagonal", which);
    } else if constexpr (requires { v.value().to_vector(); }) {
      for (const auto x : v.value().to_vector())
        if (!(std::isfinite(x) && x >= -1e-12))
          fail<value_error>("gaussian_w2_diagonal", which, " variances hold ", x, ", expected finite values >= 0");
    } else if constexpr (requires {
                           v.minCoeff();
                           v.allFinite();
                         }) {
      if (!v.allFinite() || v.minCoeff() < -1e-12)
        fail<value_error>("gaussian_w2_diagonal", which, " variances must be finite and >= 0 (smallest ", v.minCoeff(),
                          ")");
    }
  };
  check(var1, "first");
  check(var2, "second");
  if constexpr (requires { mu1.shape(); })
    if (mu1.shape() != var1.shape() || mu2.shape() != var2.shape() || mu1.shape() != mu2.shape())
      fail<shape_error>("gaussian_w2_diagonal", "means ", mu1.shape(), ", ", mu2.shape(), " and variances ",
                        var1.shape(), ", ", var2.shape(), " must all have one shape");
  return detail::w2_diagonal_unchecked(mu1, var1, mu2, var2);
}

/// Mean and unbiased covariance (or per-dimension variance) of samples (n, D).
template <class T, class B>
struct gaussian_fit {
  var<T, B> mean;        ///< (D)
  var<T, B> covariance;  ///< (D, D), or (D) variances for a diagonal fit
};

/// Fits a Gaussian to samples (n >= 2, D): mean and unbiased (n − 1) covariance, full or diagonal.
template <class T, class B>
gaussian_fit<T, B> fit_gaussian(const var<T, B>& samples, bool diagonal = false) {
  if (samples.rank() != 2 || samples.size(0) < 2)
    fail<shape_error>("fit_gaussian", "samples ", samples.shape(), " must be (n >= 2, D)");
  const auto n = static_cast<T>(samples.size(0));
  const auto mu = mean(samples, {0});
  const auto centred = samples - mu;
  if (diagonal) return {mu, sum(square(centred), {0}) / (n - T(1))};
  return {mu, matmul(centred, centred, true, false) / (n - T(1))};
}

/// How gaussian_w2_samples treats the covariances.
enum class covariance_form { full, diagonal };

/// W2² between Gaussians fitted to two batches of samples x1 (n1 >= 2, D) and x2 (n2 >= 2, D).
/// full: the cross-Gram form (nuclear norm of an n1 x n2 matrix, via sqrtm_eig of its Gram
/// matrix); diagonal: the closed form on per-dimension variances.
template <class T, class B>
var<T, B> gaussian_w2_samples(const var<T, B>& x1, const var<T, B>& x2, covariance_form form = covariance_form::full) {
  if (x1.rank() != 2 || x2.rank() != 2 || x1.size(1) != x2.size(1) || x1.size(0) < 2 || x2.size(0) < 2)
    fail<shape_error>("gaussian_w2_samples", "samples ", x1.shape(), " and ", x2.shape(),
                      " must be (n >= 2, D) with one D");
  if (form == covariance_form::diagonal) {
    const auto a = fit_gaussian(x1, true), b = fit_gaussian(x2, true);  // variances >= 0 by construction
    return detail::w2_diagonal_unchecked(a.mean, a.covariance, b.mean, b.covariance);
  }
  const auto n1 = static_cast<T>(x1.size(0)), n2 = static_cast<T>(x2.size(0));
  const auto m1 = mean(x1, {0}), m2 = mean(x2, {0});
  const auto c1 = x1 - m1, c2 = x2 - m2;
  const auto cross = matmul(c1, c2, false, true) / std::sqrt((n1 - T(1)) * (n2 - T(1)));  // (n1, n2)
  return sum(square(m1 - m2)) + sum(square(c1)) / (n1 - T(1)) + sum(square(c2)) / (n2 - T(1)) -
         T(2) * linalg::nuclear_norm(cross);
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_GAUSSIAN_W2_INSTANCES(X, T, B)                                                                         \
  X var<T, B> gaussian_w2(const var<T, B>&, const var<T, B>&, const var<T, B>&, const var<T, B>&, const w2_options&); \
  X var<T, B> gaussian_w2(const var<T, B>&, const var<T, B>&, const var<T, B>&, const var<T, B>&);                    \
  X gaussian_fit<T, B> fit_gaussian(const var<T, B>&, bool);                                                          \
  X var<T, B> gaussian_w2_samples(const var<T, B>&, const var<T, B>&, covariance_form);
BIJGAN_EXTERN_INSTANCES(BIJGAN_GAUSSIAN_W2_INSTANCES)

}  // namespace bijgan::distances
