// The models of the method as compile-time recipes: models::dibigan<cfg>, models::dabgan<cfg>
// and models::po_gan<cfg> name a generator and a critic type for a constexpr gan_config, and
// check an engine against the config (feature size, channels) with a message that says what
// to change. The student F^S is models::student<student_config>.
#pragma once

#include "bijgan/concepts/engine.hpp"
#include "bijgan/models/attention.hpp"
#include "bijgan/models/cnn.hpp"
#include "bijgan/models/config.hpp"
#include "bijgan/models/student.hpp"

namespace bijgan::models {

namespace detail {
template <gan_config Cfg, class E>
constexpr bool engine_fits() {
  static_assert(blackbox_engine<E>,
                "the engine must satisfy bijgan::blackbox_engine (features(), feature_dim, image_shape)");
  static_assert(E::feature_dim == Cfg.feature_dim,
                "the engine's feature_dim differs from gan_config::feature_dim: set the config's "
                "feature_dim to the engine's (e.g. 1024 for engines::lenet, 128 for dlib_resnet)");
  static_assert(E::image_shape[0] == Cfg.channels, "the engine's image channels differ from gan_config::channels");
  return true;
}
}  // namespace detail

/// DiBiGAN (Vec2Face's CNN model): AdaIN generator and progressive CNN critic.
template <gan_config Cfg>
struct dibigan {
  template <class T = float, class B = host>
  using generator = cnn_generator<Cfg, cnn_conditioning::adain, T, B>;
  template <class T = float, class B = host>
  using critic = cnn_critic<Cfg, T, B>;
  static constexpr gan_config config = Cfg;
  /// static_asserts that engine E produces what the config expects.
  template <class E>
  static constexpr bool accepts = detail::engine_fits<Cfg, E>();
};

/// DAB-GAN (Vec2Face-v2): attention generator with cross-attention injection and the
/// multi-scale transformer critic.
template <gan_config Cfg>
struct dabgan {
  template <class T = float, class B = host>
  using generator = dabgan_generator<Cfg, T, B>;
  template <class T = float, class B = host>
  using critic = transformer_critic<Cfg, T, B>;
  static constexpr gan_config config = Cfg;
  template <class E>
  static constexpr bool accepts = detail::engine_fits<Cfg, E>();
};

/// PO-GAN (the baseline of Table II A–C): the generator sees only F(x); CNN critic.
template <gan_config Cfg>
struct po_gan {
  template <class T = float, class B = host>
  using generator = cnn_generator<Cfg, cnn_conditioning::input, T, B>;
  template <class T = float, class B = host>
  using critic = cnn_critic<Cfg, T, B>;
  static constexpr gan_config config = Cfg;
  template <class E>
  static constexpr bool accepts = detail::engine_fits<Cfg, E>();
};

}  // namespace bijgan::models
