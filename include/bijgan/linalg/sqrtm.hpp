// Differentiable square roots of symmetric positive semi-definite matrices (method.md §4):
// Newton–Schulz iterations (matmuls only: any order of gradients, any backend) and the
// eigendecomposition path whose backward solves the Lyapunov equation in closed form,
// dL/dA = U [(Uᵀ G U) ⊘ (√λ_i + √λ_j)] Uᵀ, never chaining eigenvector gradients with their
// 1/(λ_i − λ_j) factors (which blow up on the repeated zero eigenvalues of sample covariances).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "bijgan/config/instances.hpp"
#include "bijgan/ops/linalg.hpp"
#include "bijgan/ops/shape.hpp"

BIJGAN_THIRD_PARTY_BEGIN
#include <Eigen/Eigenvalues>
BIJGAN_THIRD_PARTY_END

namespace bijgan::linalg {

/// The n x n identity as a constant.
template <class T, class B>
var<T, B> identity(index_t n) {
  std::vector<T> v(static_cast<std::size_t>(n * n), T(0));
  for (index_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i * n + i)] = T(1);
  return constant(tensor<T, B>::from(v, shape{n, n}));
}

/// Sum of the diagonal of a square matrix.
template <class T, class B>
var<T, B> trace(const var<T, B>& a) {
  if (a.rank() != 2 || a.size(0) != a.size(1)) fail<shape_error>("trace", "needs a square matrix, got ", a.shape());
  return sum(a * identity<T, B>(a.size(0)));
}

namespace detail {
inline void require_square(const shape& s, const char* op) {
  if (s.rank() != 2 || s[0] != s[1]) fail<shape_error>(op, "needs a square matrix, got ", s);
}
}  // namespace detail

struct newton_schulz_options {
  int iterations = 20;
  double eps = 0;  ///< added to the diagonal first (regularises near-singular inputs)
};

/// √A by coupled Newton–Schulz iterations on A/‖A‖_F: Y0 = A/‖A‖_F, Z0 = I,
/// T = ½(3I − Z Y), Y ← Y T, Z ← T Z, √A ≈ √‖A‖_F · Y. Converges for symmetric PSD A; built
/// from matmuls, so it is differentiable to any order on every backend.
template <class T, class B>
var<T, B> sqrtm_newton_schulz(const var<T, B>& a, const newton_schulz_options& o = {}) {
  detail::require_square(a.shape(), "sqrtm_newton_schulz");
  const index_t n = a.size(0);
  const auto I = identity<T, B>(n);
  const auto reg = o.eps > 0 ? a + I * static_cast<T>(o.eps) : a;
  const auto norm = sqrt(sum(square(reg)) + T(1e-30));
  auto y = reg / norm, z = I;
  for (int k = 0; k < o.iterations; ++k) {
    const auto t = (I * T(3) - matmul(z, y)) * T(0.5);
    y = matmul(y, t);
    z = matmul(t, z);
  }
  return y * sqrt(norm);
}

/// Eigendecomposition of the symmetric part of a (host; device matrices make a round trip to
/// the host, which is cheap for the small matrices this is for). Eigenvalues ascending.
template <class T, class B>
std::pair<tensor<T, B>, std::vector<T>> symmetric_eigen(const tensor<T, B>& a) {
  detail::require_square(a.shape(), "symmetric_eigen");
  const index_t n = a.size(0);
  using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const auto v = a.to_vector();
  const Eigen::Map<const mat> m(v.data(), n, n);
  const mat sym = (m + m.transpose()) * T(0.5);
  Eigen::SelfAdjointEigenSolver<mat> es(sym);
  if (es.info() != Eigen::Success)
    fail<value_error>("symmetric_eigen", "the eigen solver did not converge for a ", n, "x", n, " matrix");
  const mat u = es.eigenvectors();
  std::vector<T> uv(u.data(), u.data() + n * n), lv(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) lv[static_cast<std::size_t>(i)] = es.eigenvalues()(i);
  return {tensor<T, B>::from(uv, shape{n, n}), lv};
}

/// √A of the symmetric part of A, with eigenvalues at round-off level (or negative) set to 0. The
/// backward is the closed-form Lyapunov solution above, with √λ_i + √λ_j floored at `floor`
/// (so rank-deficient covariances give finite gradients). The gradient is linear in the
/// incoming gradient, so a gradient penalty through it works; its dependence on A through U is
/// not differentiated again (use sqrtm_newton_schulz where full second order matters).
template <class T, class B>
var<T, B> sqrtm_eig(const var<T, B>& a, T floor = T(1e-6)) {
  const auto [u, lambda] = symmetric_eigen(a.value());
  const index_t n = a.size(0);
  std::vector<T> s(lambda.size()), w(static_cast<std::size_t>(n * n));
  // Eigenvalues at round-off level of the largest are zeros (their square roots, ~1e-8 in
  // double, would otherwise be visible and non-smooth).
  T top = 0;
  for (T l : lambda) top = std::max(top, std::abs(l));
  const T tol = top * static_cast<T>(n) * std::numeric_limits<T>::epsilon() * T(16);
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = lambda[i] > tol ? std::sqrt(lambda[i]) : T(0);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j)
      w[static_cast<std::size_t>(i * n + j)] =
          T(1) / std::max(s[static_cast<std::size_t>(i)] + s[static_cast<std::size_t>(j)], floor);
  const auto U = constant(u);
  const auto S = constant(tensor<T, B>::from(s, shape{1, n}));
  const auto W = constant(tensor<T, B>::from(w, shape{n, n}));
  auto value = matmul(U * S, U, false, true).value();
  return var<T, B>::make(std::move(value), "sqrtm_eig", {a}, [U, W](const auto&, const auto& g, auto gr) {
    const auto gs = (g + transpose(g)) * T(0.5);
    gr[0] = matmul(matmul(U, matmul(matmul(U, gs, true, false), U) * W), U, false, true);
  });
}

/// The nuclear norm ‖M‖_* (sum of singular values) of a matrix (m, n): Tr √(M Mᵀ) or
/// Tr √(Mᵀ M), whichever Gram matrix is smaller, through sqrtm_eig — so its gradient is the
/// stable Lyapunov form, finite for rank-deficient M (where an SVD backward divides by
/// differences of singular values).
template <class T, class B>
var<T, B> nuclear_norm(const var<T, B>& m) {
  if (m.rank() != 2) fail<shape_error>("nuclear_norm", "needs a matrix, got ", m.shape());
  const auto gram = m.size(0) <= m.size(1) ? matmul(m, m, false, true) : matmul(m, m, true, false);
  return trace(sqrtm_eig(gram));
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_SQRTM_INSTANCES(X, T, B)                                            \
  X var<T, B> trace(const var<T, B>&);                                             \
  X var<T, B> sqrtm_newton_schulz(const var<T, B>&, const newton_schulz_options&); \
  X std::pair<tensor<T, B>, std::vector<T>> symmetric_eigen(const tensor<T, B>&);  \
  X var<T, B> sqrtm_eig(const var<T, B>&, T);                                      \
  X var<T, B> nuclear_norm(const var<T, B>&);
BIJGAN_EXTERN_INSTANCES(BIJGAN_SQRTM_INSTANCES)

}  // namespace bijgan::linalg
