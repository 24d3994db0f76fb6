// compare_backends: runs one computation on the host and on another backend with the same
// inputs and compares the results and the gradients (of sum(y*y)) with a per-type tolerance.
// Installed so that users with their own ops or backends can check them like the library does.
#pragma once

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/ops/reduce.hpp"

namespace bijgan::testing {

/// Outcome of compare_backends; `message` says what differed first.
struct parity_result {
  bool passed = true;
  double max_value_error = 0;
  double max_grad_error = 0;
  std::string message;
};

/// Tolerances (absolute, plus relative to the host value's magnitude).
struct parity_options {
  double value_tol = 1e-4;
  double grad_tol = 1e-3;
};

namespace detail {
template <class T, class B>
double max_abs_diff(const tensor<T, B>& other, const tensor<T, host>& reference, double& scale) {
  const auto a = other.to_vector(), b = reference.to_vector();
  double worst = 0;
  scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return worst;
}
}  // namespace detail

/// f is a generic callable taking `const std::vector<var<T, B>>&` and returning a var, called
/// once with host vars and once with Device vars made from the same `inputs`. Compares f's
/// values and the gradients of sum(f(x)^2) with respect to every input.
template <class Device, class T, class F>
parity_result compare_backends(F&& f, const std::vector<tensor<T, host>>& inputs, parity_options o = {}) {
  std::vector<var<T, host>> hv;
  std::vector<var<T, Device>> dv;
  for (const auto& t : inputs) {
    hv.push_back(parameter(t.clone()));
    dv.push_back(parameter(to<Device>(t)));
  }
  const auto hy = f(hv);
  const auto dy = f(dv);
  parity_result r;
  auto check = [&](const auto& got, const tensor<T, host>& want, double tol, double& worst, const std::string& what) {
    if (!(got.shape() == want.shape())) {
      r.passed = false;
      if (r.message.empty()) r.message = what + ": shape " + got.shape().str() + " vs host " + want.shape().str();
      return;
    }
    double scale = 0;
    const double err = detail::max_abs_diff(got, want, scale);
    worst = std::max(worst, err);
    if (!(err <= tol * (1 + scale)) && r.message.empty()) {
      r.passed = false;
      std::ostringstream os;
      os << what << " differs from the host by " << err << " (tolerance " << tol * (1 + scale) << ")";
      r.message = os.str();
    }
  };
  check(dy.value(), hy.value(), o.value_tol, r.max_value_error, "value");
  if (hy.requires_grad()) {
    backward(sum(hy * hy));
    backward(sum(dy * dy));
    for (std::size_t i = 0; i < hv.size(); ++i) {
      if (hv[i].grad().defined() != dv[i].grad().defined()) {
        r.passed = false;
        if (r.message.empty()) r.message = "gradient of input " + std::to_string(i) + " exists on one backend only";
        continue;
      }
      if (hv[i].grad().defined())
        check(dv[i].grad(), hv[i].grad(), o.grad_tol, r.max_grad_error, "gradient of input " + std::to_string(i));
    }
  }
  return r;
}

}  // namespace bijgan::testing
