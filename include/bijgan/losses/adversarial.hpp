// Adversarial and reconstruction losses (Eq. 16, 17): the WGAN-GP critic loss with the gradient
// penalty on random interpolates (double backprop through grad(..., create_graph)) and
// ProGAN's drift term, the WGAN generator loss, and the L1 reconstruction loss.
#pragma once

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/config/instances.hpp"
#include "bijgan/ops/linalg.hpp"

namespace bijgan::losses {

struct wgan_critic_options {
  double lambda = 10;    ///< gradient-penalty weight
  double drift = 0.001;  ///< ProGAN's ε_drift·E D(x)²; 0 disables
};

/// The critic's loss and its parts (all scalars).
template <class T, class B>
struct wgan_critic_result {
  var<T, B> loss;              ///< E D(fake) − E D(real) + λ·GP + drift·E D(real)²
  var<T, B> gradient_penalty;  ///< E (‖∇ D(x̂)‖₂ − 1)²
  var<T, B> wasserstein;       ///< E D(real) − E D(fake) (the critic's estimate)
};

/// E over the batch of (‖∇_x D(x)‖₂ − 1)² at the points x (N, ...): the gradient penalty,
/// differentiable in the critic's parameters (double backprop).
template <class T, class B, class Critic>
var<T, B> gradient_penalty(const Critic& critic, const tensor<T, B>& points) {
  const auto x = parameter(points);
  const auto g = grad(std::vector{sum(critic(x))}, std::vector{x}, {.create_graph = true})[0];
  const auto norms = sqrt(sum(square(flatten(g, 1, -1)), {1}) + T(1e-12));
  return mean(square(norms - T(1)));
}

/// Eq. 17 with the interpolation weights given: eps (N, 1, ...) in [0, 1], one per sample
/// (data-parallel trainers draw them for the whole batch and pass each rank its rows).
template <class T, class B, class Critic>
wgan_critic_result<T, B> wgan_critic(const Critic& critic, const var<T, B>& real, const var<T, B>& fake,
                                     const tensor<T, B>& epsilon, const wgan_critic_options& o = {}) {
  if (real.shape() != fake.shape() || real.rank() < 2)
    fail<shape_error>("wgan_critic", "real ", real.shape(), " and fake ", fake.shape(), " must be one (N, ...)");
  shape es{real.size(0)};
  for (std::size_t i = 1; i < real.rank(); ++i) es.push_back(1);
  if (epsilon.shape() != es) fail<shape_error>("wgan_critic", "eps ", epsilon.shape(), " must be ", es);
  const auto eps = constant(epsilon);
  const auto f = fake.detach();
  const auto gp = gradient_penalty(critic, (eps * real.detach() + (T(1) - eps) * f).value());
  const auto d_real = critic(real), d_fake = critic(f);
  auto loss = mean(d_fake) - mean(d_real) + static_cast<T>(o.lambda) * gp;
  if (o.drift > 0) loss = loss + static_cast<T>(o.drift) * mean(square(d_real));
  return {loss, gp, mean(d_real) - mean(d_fake)};
}

/// Eq. 17. critic maps images (N, ...) to scores (N) or (N, 1). fake is detached (the
/// generator is not trained by this loss). ε ~ U[0, 1) per sample from gen.
template <class T, class B, class Critic>
wgan_critic_result<T, B> wgan_critic(const Critic& critic, const var<T, B>& real, const var<T, B>& fake, rng& gen,
                                     const wgan_critic_options& o = {}) {
  if (real.shape() != fake.shape() || real.rank() < 2)
    fail<shape_error>("wgan_critic", "real ", real.shape(), " and fake ", fake.shape(), " must be one (N, ...)");
  shape es{real.size(0)};
  for (std::size_t i = 1; i < real.rank(); ++i) es.push_back(1);
  return wgan_critic(critic, real, fake, tensor<T, B>::random(es, gen, {distribution::uniform, 0, 1}), o);
}

/// The WGAN generator loss −E D(fake) (Eq. 16's L_adv).
template <class T, class B, class Critic>
var<T, B> wgan_generator(const Critic& critic, const var<T, B>& fake) {
  return -mean(critic(fake));
}

/// Mean absolute difference (Eq. 16's L_recon).
template <class T, class B>
var<T, B> l1(const var<T, B>& a, const var<T, B>& b) {
  if (a.shape() != b.shape()) fail<shape_error>("l1", "shapes ", a.shape(), " and ", b.shape(), " differ");
  return mean(abs(a - b));
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_ADVERSARIAL_INSTANCES(X, T, B) X var<T, B> l1(const var<T, B>&, const var<T, B>&);
BIJGAN_EXTERN_INSTANCES(BIJGAN_ADVERSARIAL_INSTANCES)

}  // namespace bijgan::losses
