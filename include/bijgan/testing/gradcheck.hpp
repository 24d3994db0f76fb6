// gradcheck: compares the gradients the autodiff computes with central finite differences in
// double, to first and (optionally) second order. Installed so users can check their own ops.
#pragma once

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/ops/reduce.hpp"

namespace bijgan::testing {

/// Tolerances of gradcheck. An element passes when |analytic - numeric| <= atol + rtol*|numeric|.
struct gradcheck_options {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-4;
  /// Also check the gradient of the gradient (double backprop).
  bool second_order = false;
  /// An element whose one-sided differences disagree by more than this (relative) sits on a
  /// kink (relu at 0, max ties, clamp bounds): it is skipped and counted, not failed.
  double kink_tol = 1e-2;
  /// Fail if more than this fraction of elements had to be skipped as kinks.
  double max_kink_fraction = 0.25;
  std::uint64_t seed = 7;
  /// > 0: check at most this many elements of each input, evenly strided through it (whole
  /// modules with thousands of weights: every tensor is still reached, at a fraction of the cost).
  index_t max_elements_per_input = 0;
};

/// Outcome of gradcheck; `message` names the worst element when it fails.
struct gradcheck_result {
  bool passed = true;
  double max_abs_error = 0;
  index_t checked = 0;
  index_t kinks_skipped = 0;
  std::string message;
};

/// The function under test: vars in (double, host), one var out of any shape.
using checked_fn = std::function<var<double, host>(const std::vector<var<double, host>>&)>;

namespace detail {

/// One scalar functional, its analytic gradient and the finite-difference comparison.
inline void compare(
    const std::function<double(const std::vector<tensor<double, host>>&)>& value,
    const std::function<std::vector<tensor<double, host>>(const std::vector<tensor<double, host>>&)>& analytic,
    const std::vector<tensor<double, host>>& inputs, const gradcheck_options& o, const char* order,
    gradcheck_result& r) {
  const auto grads = analytic(inputs);
  const double f0 = value(inputs);  // every perturbation is undone exactly, so f(x) is fixed
  index_t total = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    auto x = inputs[i].clone();
    std::vector<tensor<double, host>> xs = inputs;
    xs[i] = x;
    const auto g = grads[i].to_vector();
    double* p = x.data();
    const index_t stride = o.max_elements_per_input > 0 && x.numel() > o.max_elements_per_input
                               ? (x.numel() + o.max_elements_per_input - 1) / o.max_elements_per_input
                               : 1;
    for (index_t j = (static_cast<index_t>(i) * 7) % stride; j < x.numel(); j += stride) {
      ++total;
      const double x0 = p[j];
      p[j] = x0 + o.eps;
      const double fp = value(xs);
      p[j] = x0 - o.eps;
      const double fm = value(xs);
      p[j] = x0;
      const double fwd = (fp - f0) / o.eps, bwd = (f0 - fm) / o.eps, num = (fp - fm) / (2 * o.eps);
      if (std::abs(fwd - bwd) > o.kink_tol * (1 + std::abs(num))) {
        ++r.kinks_skipped;
        continue;
      }
      ++r.checked;
      const double err = std::abs(g[static_cast<std::size_t>(j)] - num);
      r.max_abs_error = std::max(r.max_abs_error, err);
      if (err > o.atol + o.rtol * std::abs(num) && r.passed) {
        r.passed = false;
        std::ostringstream os;
        os << order << " gradient of input " << i << " element " << j << ": analytic " << g[static_cast<std::size_t>(j)]
           << " vs numeric " << num << " (error " << err << ")";
        r.message = os.str();
      }
    }
  }
  if (r.passed && total > 0 &&
      static_cast<double>(r.kinks_skipped) > o.max_kink_fraction * static_cast<double>(total)) {
    r.passed = false;
    r.message = std::string(order) + ": too many elements on kinks (" + std::to_string(r.kinks_skipped) + " of " +
                std::to_string(total) + "); move the inputs away from the kinks";
  }
}

}  // namespace detail

/// Checks f's gradients at `inputs`. The output is projected on fixed random weights w, so
/// the whole Jacobian is tested through L = sum(w * f(x)). With second_order, the functional
/// G = sum(w2 * dL/dx) is checked the same way through grad(..., create_graph).
inline gradcheck_result gradcheck(const checked_fn& f, const std::vector<tensor<double, host>>& inputs,
                                  gradcheck_options o = {}) {
  rng gen(o.seed);
  const auto to_vars = [](const std::vector<tensor<double, host>>& xs) {
    std::vector<var<double, host>> vs;
    for (const auto& x : xs) vs.push_back(parameter(x));
    return vs;
  };
  const auto out_shape = f(to_vars(inputs)).shape();
  const auto w = constant(tensor<double, host>::random(out_shape, gen, {distribution::uniform, 0.5, 1.5}));
  const auto first = [&](const std::vector<tensor<double, host>>& xs) {
    auto vs = to_vars(xs);
    return grad(std::vector{sum(f(vs) * w)}, vs);
  };
  gradcheck_result r;
  detail::compare([&](const auto& xs) { return sum(f(to_vars(xs)) * w).item(); },
                  [&](const auto& xs) {
                    std::vector<tensor<double, host>> gs;
                    for (const auto& g : first(xs)) gs.push_back(g.value());
                    return gs;
                  },
                  inputs, o, "first-order", r);
  if (!r.passed || !o.second_order) return r;

  std::vector<var<double, host>> w2;
  for (const auto& x : inputs)
    w2.push_back(constant(tensor<double, host>::random(x.shape(), gen, {distribution::uniform, 0.5, 1.5})));
  const auto functional = [&](const std::vector<tensor<double, host>>& xs) {
    auto vs = to_vars(xs);
    const auto l = sum(f(vs) * w);
    const auto gs = grad(std::vector{l}, vs, {.create_graph = true});
    var<double, host> total = constant(tensor<double, host>::zeros(shape{}));
    for (std::size_t i = 0; i < gs.size(); ++i) total = total + sum(gs[i] * w2[i]);
    return std::pair{total, vs};
  };
  detail::compare([&](const auto& xs) { return functional(xs).first.item(); },
                  [&](const auto& xs) {
                    auto [g, vs] = functional(xs);
                    std::vector<tensor<double, host>> out;
                    if (!g.requires_grad()) {
                      for (const auto& x : xs) out.push_back(tensor<double, host>::zeros(x.shape()));
                      return out;
                    }
                    for (const auto& h : grad(std::vector{g}, vs)) out.push_back(h.value());
                    return out;
                  },
                  inputs, o, "second-order", r);
  return r;
}

}  // namespace bijgan::testing
