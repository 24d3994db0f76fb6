// The optimizer as a policy of a trainer: which optim:: type updates each trained model, with
// which settings. A trainer asks the policy for one optimizer per model (fit_gan: generator and
// critic, each at its own learning rate); any optimizer constructible as Opt<T, B>(params,
// options) with options.lr works, the optim:: family included.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "bijgan/autodiff/var.hpp"
#include "bijgan/optim/adam.hpp"
#include "bijgan/optim/sgd.hpp"
#include "bijgan/train/checkpoint.hpp"

namespace bijgan::train {

/// Builds Optimizer<T, B>(params, options with lr set) for each model a trainer trains.
/// `name` goes into checkpoint records, with the settings the policy knows how to name.
template <template <class, class> class Optimizer, class Options>
struct optimizer_policy {
  Options options{};
  const char* name = "optimizer";

  template <class T, class B>
  [[nodiscard]] Optimizer<T, B> make(std::vector<var<T, B>> params, double lr) const {
    auto o = options;
    o.lr = lr;
    return Optimizer<T, B>(std::move(params), o);
  }
  /// Records the policy under `key` (its name, and the settings of adam_options / sgd_options).
  void record(run_record& r, const std::string& key) const {
    r.add(key, name);
    if constexpr (requires { options.beta1, options.beta2, options.eps; })
      r.add(key + ".beta1", options.beta1).add(key + ".beta2", options.beta2).add(key + ".eps", options.eps);
    if constexpr (requires { options.momentum, options.nesterov; })
      r.add(key + ".momentum", options.momentum).add(key + ".nesterov", options.nesterov);
    if constexpr (requires { options.weight_decay; }) r.add(key + ".weight_decay", options.weight_decay);
  }
};

/// Adam (the default of fit_gan, with the betas (0, 0.99) of ProGAN-style training).
inline optimizer_policy<optim::adam, optim::adam_options> adam_optimizer(optim::adam_options o = {.beta1 = 0,
                                                                                                  .beta2 = 0.99}) {
  return {o, "adam"};
}
/// AdamW (decoupled weight decay).
inline optimizer_policy<optim::adamw, optim::adam_options> adamw_optimizer(optim::adam_options o = {}) {
  return {o, "adamw"};
}
/// SGD with optional momentum.
inline optimizer_policy<optim::sgd, optim::sgd_options> sgd_optimizer(optim::sgd_options o = {}) { return {o, "sgd"}; }

/// What a trainer needs from an optimizer policy: make<T, B>(params, lr) giving an optimizer
/// with zero_grad() and step() whose state checkpoints can visit.
template <class P, class T, class B>
concept optimizer_policy_for = requires(const P& p, std::vector<var<T, B>> params) {
  p.template make<T, B>(params, 1e-3).zero_grad();
  p.template make<T, B>(params, 1e-3).step();
};

}  // namespace bijgan::train
