// The concepts the adversarial trainer is written against (design.md): a feature-conditional
// `feature_generator` G(F(x), v), a `critic` D(x), the optional `progressive` interface of models that
// grow stage by stage, and a `staged_network` whose intermediate outputs feed the feature
// distillation (the student F^S, or the engine itself in whitebox mode). Each concept has a
// check_*<T>() whose static_asserts name the missing member.
#pragma once

#include <concepts>
#include <vector>

#include "bijgan/nn/module.hpp"

namespace bijgan {

/// A feature_generator (the GAN generator; the random-number stream is `bijgan::rng`) maps
/// engine features (N, feature_dim) and background noise (N, noise_dim) to images (N, C, H, W) in the engine's range
/// [0, 1]:
///   G::feature_dim, G::noise_dim (static constexpr; noise_dim may be 0: PO-GAN)
///   G::image_shape (static constexpr std::array<index_t, 3>: C, H, W at full resolution)
///   g(features, noise) -> var
/// and is a module (its parameters are trained).
template <class G>
concept feature_generator = nn::module<G> && requires(const G& g, const nn::var_of<G>& v) {
  { G::feature_dim } -> std::convertible_to<index_t>;
  { G::noise_dim } -> std::convertible_to<index_t>;
  { G::image_shape[0] } -> std::convertible_to<index_t>;
  { g(v, v) } -> std::same_as<nn::var_of<G>>;
};

/// A critic scores images (N, C, H, W): d(images) -> (N) or (N, 1); a module.
template <class D>
concept critic = nn::module<D> && requires(const D& d, const nn::var_of<D>& x) {
  { d(x) } -> std::same_as<nn::var_of<D>>;
};

/// A model that grows: stage 1 works at 4x4, stage k at 4·2^(k−1); set_stage(k, alpha) makes
/// stage k active with the new layers faded in by alpha ∈ [0, 1]; stages() is the last stage.
template <class M>
concept progressive = requires(M& m, const M& cm) {
  m.set_stage(1, 1.0);
  { cm.stages() } -> std::convertible_to<int>;
};

/// The outputs of a network's intermediate stages and its final features.
template <class V>
struct staged_output {
  std::vector<V> stages;  ///< (N, C_j, H_j, W_j) or (N, D_j) per stage j
  V features;             ///< (N, feature_dim)
};

/// A differentiable network whose stage outputs can be compared (Eq. 15):
///   n.stages(images) -> staged_output<var>, N::image_shape (its input size).
template <class N>
concept staged_network = nn::module<N> && requires(const N& n, const nn::var_of<N>& x) {
  { n.stages(x) } -> std::same_as<staged_output<nn::var_of<N>>>;
  { N::image_shape[0] } -> std::convertible_to<index_t>;
};

/// static_asserts naming what a generator type lacks (a readable error instead of a failed
/// requires-clause deep in the trainer).
template <class G>
constexpr bool check_generator() {
  static_assert(nn::module<G>, "a generator must be a module: value_type, backend_type and visit(f)");
  static_assert(
      requires { G::feature_dim; },
      "a generator needs static constexpr index_t feature_dim (the engine's feature size)");
  static_assert(
      requires { G::noise_dim; }, "a generator needs static constexpr index_t noise_dim (0 when it takes no v)");
  static_assert(
      requires { G::image_shape[0]; },
      "a generator needs static constexpr std::array<index_t, 3> image_shape (C, H, W)");
  static_assert(
      requires(const G& g, const nn::var_of<G>& v) {
        { g(v, v) } -> std::same_as<nn::var_of<G>>;
      },
      "a generator needs var operator()(const var& features, const var& noise) const returning images");
  return true;
}

/// static_asserts naming what a critic type lacks.
template <class D>
constexpr bool check_critic() {
  static_assert(nn::module<D>, "a critic must be a module: value_type, backend_type and visit(f)");
  static_assert(
      requires(const D& d, const nn::var_of<D>& x) {
        { d(x) } -> std::same_as<nn::var_of<D>>;
      },
      "a critic needs var operator()(const var& images) const returning scores (N) or (N, 1)");
  return true;
}

/// static_asserts naming what a staged network (student or whitebox engine) lacks.
template <class N>
constexpr bool check_staged_network() {
  static_assert(nn::module<N>, "a staged network must be a module: value_type, backend_type and visit(f)");
  static_assert(
      requires(const N& n, const nn::var_of<N>& x) {
        { n.stages(x) } -> std::same_as<staged_output<nn::var_of<N>>>;
      },
      "a staged network needs staged_output<var> stages(const var& images) const");
  static_assert(
      requires { N::image_shape[0]; }, "a staged network needs static constexpr std::array<index_t, 3> image_shape");
  return true;
}

}  // namespace bijgan
