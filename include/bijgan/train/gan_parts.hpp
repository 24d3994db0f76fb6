// The parts fit_gan trains with, as typed slots: the generator and critic (always), and the
// optional bijection H, distiller (student or whitebox engine), optimizer policy and EMA
// output. Each slot's type is part of gan_parts' type, so an objective with a term that needs
// an empty slot (bijective_term without H) is a compile-time error that names the slot to fill.
//
//   auto parts = train::gan(g, d).with_bijection(flow).with_distiller(student);
//   train::fit_gan(parts, data, options);  // the method's four terms (dabgan_objective)
#pragma once

#include <type_traits>

#include "bijgan/concepts/model.hpp"
#include "bijgan/flows/bijection.hpp"
#include "bijgan/train/optimizer_policy.hpp"
#include "bijgan/train/terms.hpp"

namespace bijgan::train {

/// The default optimizer policy of fit_gan: Adam with betas (0, 0.99).
using default_gan_optimizer = decltype(adam_optimizer());

/// What fit_gan trains (generator G, critic D) and uses (H, distiller S: train::none when
/// empty; optimizer policy Opt). Build it with train::gan(g, d) and the with_* members; the
/// parts are referenced, not copied, and must outlive the training.
template <class G, class D, class H = none, class S = none, class Opt = default_gan_optimizer>
struct gan_parts {
  using generator_type = G;
  using critic_type = D;
  using bijection_type = H;
  using distiller_type = S;
  using optimizer_type = Opt;

  G* generator = nullptr;
  D* critic = nullptr;
  const H* bijection = nullptr;
  const S* distiller = nullptr;
  Opt optimizer{};
  G* ema_output = nullptr;  ///< receives the generator EMA's weights at the end

  /// With H, the bijection of the bijective metric (images at full resolution → latents).
  template <class H2>
  [[nodiscard]] gan_parts<G, D, H2, S, Opt> with_bijection(const H2& h) const {
    static_assert(flows::bijection<H2>,
                  "with_bijection: H must be a flows::bijection (forward(x) -> {z, logdet}, inverse(z))");
    return {generator, critic, &h, distiller, optimizer, ema_output};
  }
  template <class H2>
  void with_bijection(const H2&&) const = delete;  // a temporary would dangle

  /// With a distiller: a staged_network whose stage outputs and features the distillation term
  /// matches (the student, or the engine itself in whitebox mode: engines::whitebox).
  template <class S2>
  [[nodiscard]] gan_parts<G, D, H, S2, Opt> with_distiller(const S2& s) const {
    static_assert(check_staged_network<S2>());
    return {generator, critic, bijection, &s, optimizer, ema_output};
  }
  template <class S2>
  void with_distiller(const S2&&) const = delete;

  /// With another optimizer policy (train::adam_optimizer, sgd_optimizer, or your own).
  template <class O2>
  [[nodiscard]] gan_parts<G, D, H, S, O2> with_optimizer(O2 policy) const {
    return {generator, critic, bijection, distiller, std::move(policy), ema_output};
  }

  /// With a generator that receives the EMA's weights when training ends (the model to sample with).
  [[nodiscard]] gan_parts with_ema_output(G& ema) const {
    auto p = *this;
    p.ema_output = &ema;
    return p;
  }
};

/// The slots of a GAN run: generator g and critic d, trained in place.
template <class G, class D>
gan_parts<G, D> gan(G& g, D& d) {
  static_assert(check_generator<G>() && check_critic<D>());
  return {&g, &d, nullptr, nullptr, adam_optimizer(), nullptr};
}

}  // namespace bijgan::train
