// The flow-invariant fixture: for any bijection, inverse(forward(x)) recovers x and the
// log-det equals log|det J| of the full Jacobian computed by brute force (one backward pass
// per output element, double, small inputs). Installed so users check their own flows.
#pragma once

#include <cmath>
#include <sstream>
#include <string>

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/flows/bijection.hpp"

BIJGAN_THIRD_PARTY_BEGIN
#include <Eigen/LU>
BIJGAN_THIRD_PARTY_END

namespace bijgan::testing {

struct flow_check_result {
  bool passed = true;
  double inverse_error = 0;  ///< max |inverse(forward(x)) − x| / (1 + |x|)
  double logdet_error = 0;   ///< max over samples |logdet − log|det J||
  std::string message;
};

/// Largest relative round-trip error of f at x (any element type and backend).
template <flows::bijection F>
double round_trip_error(const F& f, const tensor<typename F::value_type, typename F::backend_type>& x) {
  const auto back = f.inverse(f.forward(constant(x)).z).value().to_vector();
  const auto xv = x.to_vector();
  double e = 0;
  for (std::size_t i = 0; i < xv.size(); ++i)
    e = std::max(e, std::abs(double(back[i]) - double(xv[i])) / (1 + std::abs(double(xv[i]))));
  return e;
}

/// Checks a double, host bijection at x (N, ...): the round trip to `tol` and the per-sample
/// log-det against log|det ∂z_n/∂x_n| from the full Jacobian, to `tol` (absolute).
template <flows::bijection F>
flow_check_result check_flow(const F& f, const tensor<double, host>& x, double tol = 1e-10) {
  static_assert(std::is_same_v<typename F::value_type, double> && std::is_same_v<typename F::backend_type, host>,
                "check_flow needs a var<double, host> bijection");
  flow_check_result r;
  r.inverse_error = round_trip_error(f, x);
  const index_t n = x.size(0), d = x.numel() / n;
  const auto xv = parameter(x);
  const auto res = f.forward(xv);
  if (res.z.numel() != x.numel() || res.logdet.shape() != shape{n}) {
    r.passed = false;
    r.message = "forward must keep the number of elements and return one log-det per sample";
    return r;
  }
  const auto ld = res.logdet.value().to_vector();
  for (index_t s = 0; s < n; ++s) {
    Eigen::MatrixXd jac(d, d);
    for (index_t k = 0; k < d; ++k) {
      auto pick = tensor<double, host>::zeros(res.z.shape());
      pick.data()[s * d + k] = 1;
      const auto g = grad(std::vector{sum(res.z * constant(pick))}, std::vector{xv})[0].value().to_vector();
      for (index_t j = 0; j < d; ++j) jac(k, j) = g[static_cast<std::size_t>(s * d + j)];
    }
    const Eigen::PartialPivLU<Eigen::MatrixXd> lu(jac);
    double logabs = 0;
    for (index_t i = 0; i < d; ++i) logabs += std::log(std::abs(lu.matrixLU()(i, i)));
    r.logdet_error = std::max(r.logdet_error, std::abs(logabs - ld[static_cast<std::size_t>(s)]));
  }
  if (r.inverse_error > tol || r.logdet_error > tol) {
    r.passed = false;
    std::ostringstream os;
    os << "round-trip error " << r.inverse_error << ", log-det error " << r.logdet_error << " (tolerance " << tol
       << ")";
    r.message = os.str();
  }
  return r;
}

}  // namespace bijgan::testing
