// module_gradcheck: gradcheck of a whole module (double, host) with respect to its inputs and
// every parameter it visits, so a user's own module is checked the way ours are.
#pragma once

#include <vector>

#include "bijgan/nn/module.hpp"
#include "bijgan/testing/gradcheck.hpp"

namespace bijgan::testing {

/// Checks d forward(m, inputs) / d(inputs, parameters of m) by finite differences. forward is
/// called as forward(const M&, const std::vector<var<double>>&) and returns one var. The
/// module's parameters are restored afterwards.
template <nn::module M, class Forward>
gradcheck_result module_gradcheck(M& m, const std::vector<tensor<double, host>>& inputs, Forward forward,
                                  gradcheck_options o = {}) {
  std::vector<var<double, host>*> slots;
  nn::walk(m, std::string(), [&](const std::string&, auto& x) {
    if constexpr (nn::detail::is_var<std::remove_cvref_t<decltype(x)>>::value) slots.push_back(&x);
  });
  std::vector<var<double, host>> saved;
  std::vector<tensor<double, host>> all = inputs;
  for (auto* s : slots) {
    saved.push_back(*s);
    all.push_back(s->value());
  }
  const std::size_t n_in = inputs.size();
  const checked_fn f = [&](const std::vector<var<double, host>>& v) {
    for (std::size_t k = 0; k < slots.size(); ++k) *slots[k] = v[n_in + k];
    return forward(static_cast<const M&>(m),
                   std::vector<var<double, host>>(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n_in)));
  };
  auto r = gradcheck(f, all, o);
  for (std::size_t k = 0; k < slots.size(); ++k) *slots[k] = saved[k];
  return r;
}

}  // namespace bijgan::testing
