// The differentiable inverse of a square matrix: A⁻¹ by LU with partial pivoting (host Eigen;
// device matrices make a round trip to the host, which is cheap for the small matrices this
// is for, e.g. a 1x1 convolution's C x C weight). Backward: dL/dA = −A⁻ᵀ G A⁻ᵀ, written with
// matmul of the output, so gradients of any order follow.
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "bijgan/config/instances.hpp"
#include "bijgan/ops/linalg.hpp"
#include "bijgan/ops/shape.hpp"

BIJGAN_THIRD_PARTY_BEGIN
#include <Eigen/LU>
BIJGAN_THIRD_PARTY_END

namespace bijgan::linalg {

/// A⁻¹ of a square tensor; throws value_error naming the size when A is singular (its LU has
/// a pivot below n·ε times the largest) and shape_error when A is not square.
template <class T, class B>
tensor<T, B> inverse(const tensor<T, B>& a) {
  if (a.rank() != 2 || a.size(0) != a.size(1))
    fail<shape_error>("linalg::inverse", "needs a square matrix, got ", a.shape());
  const index_t n = a.size(0);
  using mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const auto v = a.to_vector();
  mat m(n, n);
  for (index_t i = 0; i < n * n; ++i) m.data()[i] = double(v[static_cast<std::size_t>(i)]);
  const Eigen::PartialPivLU<mat> lu(m);
  double top = 0, low = std::numeric_limits<double>::infinity();
  for (index_t i = 0; i < n; ++i) {
    top = std::max(top, std::abs(lu.matrixLU()(i, i)));
    low = std::min(low, std::abs(lu.matrixLU()(i, i)));
  }
  if (!(low > top * double(n) * std::numeric_limits<T>::epsilon()))
    fail<value_error>("linalg::inverse", "the ", n, "x", n, " matrix is singular (smallest LU pivot ", low, ")");
  const mat inv = lu.inverse();
  std::vector<T> out(static_cast<std::size_t>(n * n));
  for (index_t i = 0; i < n * n; ++i) out[static_cast<std::size_t>(i)] = static_cast<T>(inv.data()[i]);
  return tensor<T, B>::from(out, shape{n, n});
}

/// Differentiable A⁻¹ (see the tensor overload for the errors).
template <class T, class B>
var<T, B> inverse(const var<T, B>& a) {
  return var<T, B>::make(inverse(a.value()), "linalg::inverse", {a}, [](const auto& out, const auto& g, auto gr) {
    gr[0] = -matmul(matmul(out, g, true, false), out, false, true);  // d(A⁻¹) = −A⁻¹ dA A⁻¹
  });
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_INVERSE_INSTANCES(X, T, B)      \
  X tensor<T, B> inverse(const tensor<T, B>&); \
  X var<T, B> inverse(const var<T, B>&);
BIJGAN_EXTERN_INSTANCES(BIJGAN_INVERSE_INSTANCES)

}  // namespace bijgan::linalg
