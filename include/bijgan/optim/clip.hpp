// Gradient-norm clipping over a set of parameters (the global L2 norm of all gradients).
#pragma once

#include <cmath>
#include <span>
#include <vector>

#include "bijgan/autodiff/var.hpp"
#include "bijgan/config/instances.hpp"
#include "bijgan/tensor/ops.hpp"

namespace bijgan::optim {

/// Scales every gradient by min(1, max_norm / (norm + 1e-6)) where norm is the L2 norm of all
/// gradients together (PyTorch's clip_grad_norm_). Returns the norm before clipping.
/// Parameters without a gradient are skipped.
template <class T, class B>
double clip_grad_norm(const std::vector<var<T, B>>& params, double max_norm) {
  if (!(max_norm > 0)) fail<value_error>("optim::clip_grad_norm", "max_norm ", max_norm, " must be > 0");
  // Each gradient's sum of squares stays on the device; the sums come back in one transfer
  // (one wait for the device per call, not one per parameter) and are added in double.
  std::vector<tensor<T, B>> sums;
  for (const auto& p : params)
    if (p.grad().defined())
      sums.push_back(reduce(reduce_kind::sum, apply(fn::square{}, p.grad()), {}, false).reshape(shape{1}));
  double ss = 0;
  if (!sums.empty())
    for (const T v : concat(std::span<const tensor<T, B>>(sums), 0).to_vector()) ss += static_cast<double>(v);
  const double norm = std::sqrt(ss);
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1)
    for (const auto& p : params)
      if (p.grad().defined()) p.set_grad(apply(fn::mul_scalar<T>{static_cast<T>(coef)}, p.grad()));
  return norm;
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_CLIP_INSTANCES(X, T, B) X double clip_grad_norm(const std::vector<var<T, B>>&, double);
BIJGAN_EXTERN_INSTANCES(BIJGAN_CLIP_INSTANCES)

}  // namespace bijgan::optim
