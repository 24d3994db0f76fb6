// The algebra concepts the distance algorithms are written against, so one implementation
// serves plain numbers (1-D Gaussians), Eigen vectors and matrices (analysis in double) and
// var (training, either backend). algebra::ops<X> is the customisation point: specialise it
// for your own type and the algorithms accept it.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <limits>

#include "bijgan/linalg/sqrtm.hpp"

BIJGAN_THIRD_PARTY_BEGIN
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
BIJGAN_THIRD_PARTY_END

namespace bijgan::algebra {

/// ops<X>: sub(a, b), sqrt(a) (elementwise, of non-negative values), sum_squares(a) -> scalar;
/// for matrices also matmul(a, b), trace(a) -> scalar, sqrtm(a) (square root of a symmetric
/// PSD matrix). Undefined for types that are not algebras.
template <class X>
struct ops;

/// Values with elementwise arithmetic: means and variances.
template <class V>
concept vector_space = requires(const V& a, const V& b) {
  { ops<V>::sub(a, b) } -> std::convertible_to<V>;
  { ops<V>::sqrt(a) } -> std::convertible_to<V>;
  ops<V>::sum_squares(a);
};

/// Square matrices: covariances.
template <class M>
concept matrix_algebra = vector_space<M> && requires(const M& a, const M& b) {
  { ops<M>::matmul(a, b) } -> std::convertible_to<M>;
  ops<M>::trace(a);
  { ops<M>::sqrtm(a) } -> std::convertible_to<M>;
};

/// Plain numbers: a 1-D Gaussian's mean and variance (a 1x1 covariance).
template <std::floating_point S>
struct ops<S> {
  static S sub(S a, S b) { return a - b; }
  static S sqrt(S a) { return std::sqrt(std::max(a, S(0))); }
  static S sum_squares(S a) { return a * a; }
  static S matmul(S a, S b) { return a * b; }
  static S trace(S a) { return a; }
  static S sqrtm(S a) { return sqrt(a); }
};

/// Eigen dense vectors and matrices (host, any scalar).
template <class S, int R, int C, int O, int MR, int MC>
struct ops<Eigen::Matrix<S, R, C, O, MR, MC>> {
  using M = Eigen::Matrix<S, R, C, O, MR, MC>;
  static M sub(const M& a, const M& b) { return a - b; }
  static M sqrt(const M& a) { return a.array().max(S(0)).sqrt().matrix(); }
  static S sum_squares(const M& a) { return a.squaredNorm(); }
  static M matmul(const M& a, const M& b) { return a * b; }
  static S trace(const M& a) { return a.trace(); }
  /// Eigendecomposition of the symmetric part, negative eigenvalues clamped to 0.
  static M sqrtm(const M& a) {
    const M sym = (a + a.transpose()) * S(0.5);
    Eigen::SelfAdjointEigenSolver<M> es(sym);
    if (es.info() != Eigen::Success) fail<value_error>("algebra::sqrtm", "the eigen solver did not converge");
    return es.eigenvectors() * es.eigenvalues().array().max(S(0)).sqrt().matrix().asDiagonal() *
           es.eigenvectors().transpose();
  }
};

/// var: differentiable, on any backend. sqrt floors its argument at 1e-12 (finite gradients
/// at zero variance); sqrtm is linalg::sqrtm_eig.
template <class T, class B>
struct ops<var<T, B>> {
  using V = var<T, B>;
  static V sub(const V& a, const V& b) { return a - b; }
  static V sqrt(const V& a) { return bijgan::sqrt(clamp(a, T(1e-12), std::numeric_limits<T>::max())); }
  static V sum_squares(const V& a) { return sum(square(a)); }
  static V matmul(const V& a, const V& b) { return bijgan::matmul(a, b); }
  static V trace(const V& a) { return linalg::trace(a); }
  static V sqrtm(const V& a) { return linalg::sqrtm_eig(a); }
};

}  // namespace bijgan::algebra
