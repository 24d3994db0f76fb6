// compare_backends: runs one computation on the host and on another backend with the same
// inputs and compares the results and the gradients (of sum(y*y)) with a per-type tolerance;
// compare_module_backends does the same for a module moved with nn::to, comparing every
// parameter's gradient and every buffer after the call. Installed so that users with their own
// ops, modules or backends can check them like the library does.
#pragma once

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/nn/chain.hpp"
#include "bijgan/nn/module.hpp"
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

/// The default tolerances for element type T: float results are compared to 1e-4 (values) and
/// 1e-3 (gradients) of (1 + the largest host magnitude), double ones to 1e-9 and 1e-8.
template <class T>
constexpr parity_options default_tolerance() {
  if constexpr (std::is_same_v<T, float>)
    return {1e-4, 1e-3};
  else
    return {1e-9, 1e-8};
}

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

/// Compares `got` (any backend) with the host's `want`; the first difference is r's message.
template <class T, class B>
void compare_into(parity_result& r, const tensor<T, B>& got, const tensor<T, host>& want, double tol, double& worst,
                  const std::string& what) {
  if (!(got.shape() == want.shape())) {
    r.passed = false;
    if (r.message.empty()) r.message = what + ": shape " + got.shape().str() + " vs host " + want.shape().str();
    return;
  }
  double scale = 0;
  const double err = max_abs_diff(got, want, scale);
  worst = std::max(worst, err);
  if (!(err <= tol * (1 + scale)) && r.message.empty()) {
    r.passed = false;
    std::ostringstream os;
    os << what << " differs from the host by " << err << " (tolerance " << tol * (1 + scale) << ")";
    r.message = os.str();
  }
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
  detail::compare_into(r, dy.value(), hy.value(), o.value_tol, r.max_value_error, "value");
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
        detail::compare_into(r, dv[i].grad(), hv[i].grad(), o.grad_tol, r.max_grad_error,
                             "gradient of input " + std::to_string(i));
    }
  }
  return r;
}

/// Moves the host module m to Device with nn::to, calls `call(module, inputs)` on both (a
/// generic callable returning a var), and compares the outputs, the gradients of sum(y^2) with
/// respect to the inputs and to every parameter (by dotted path), and every buffer afterwards
/// (running statistics). m itself is used for the host side, so its buffers may change.
template <class Device, nn::module M, class F>
parity_result compare_module_backends(M& m, F&& call, const std::vector<tensor<typename M::value_type, host>>& inputs,
                                      parity_options o = default_tolerance<typename M::value_type>()) {
  using T = typename M::value_type;
  static_assert(std::is_same_v<typename M::backend_type, host>, "compare_module_backends takes the host module");
  auto dm = nn::to<Device>(m);
  std::vector<var<T, host>> hv;
  std::vector<var<T, Device>> dv;
  for (const auto& t : inputs) {
    hv.push_back(parameter(t.clone()));
    dv.push_back(parameter(to<Device>(t)));
  }
  const var<T, host> hy = call(m, hv);
  const var<T, Device> dy = call(dm, dv);
  parity_result r;
  detail::compare_into(r, dy.value(), hy.value(), o.value_tol, r.max_value_error, "value");
  if (!hy.requires_grad()) return r;
  nn::zero_grad(m);
  nn::zero_grad(dm);
  backward(sum(hy * hy));
  backward(sum(dy * dy));
  for (std::size_t i = 0; i < hv.size(); ++i)
    if (hv[i].grad().defined() && dv[i].grad().defined())
      detail::compare_into(r, dv[i].grad(), hv[i].grad(), o.grad_tol, r.max_grad_error,
                           "gradient of input " + std::to_string(i));
  const auto hp = nn::named_parameters(m);
  const auto dp = nn::named_parameters(dm);
  if (hp.size() != dp.size()) {
    r.passed = false;
    if (r.message.empty())
      r.message = "the moved module has " + std::to_string(dp.size()) + " parameters, the host one " +
                  std::to_string(hp.size());
    return r;
  }
  for (std::size_t i = 0; i < hp.size(); ++i) {
    const auto& [name, p] = hp[i];
    const auto& q = dp[i].second;
    if (p.grad().defined() != q.grad().defined()) {
      r.passed = false;
      if (r.message.empty()) r.message = "gradient of " + name + " exists on one backend only";
    } else if (p.grad().defined()) {
      detail::compare_into(r, q.grad(), p.grad(), o.grad_tol, r.max_grad_error, "gradient of " + name);
    }
  }
  const auto hb = nn::named_buffers(m);
  const auto db = nn::named_buffers(dm);
  for (std::size_t i = 0; i < hb.size() && i < db.size(); ++i)
    detail::compare_into(r, *db[i].second, *hb[i].second, o.value_tol, r.max_value_error, "buffer " + hb[i].first);
  return r;
}

}  // namespace bijgan::testing
