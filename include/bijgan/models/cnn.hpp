// The CNN models (method.md §6, ProGAN/StyleGAN reading): the feature-conditional generator of
// DiBiGAN — F(x) → mapping network (8 FC, LeakyReLU 0.2, pixel-normed input) → w, injected by
// AdaIN after every conv; v → dense → 4x4 input — and PO-GAN's generator, which takes F(x) as
// its 4x4 input and nothing else; the progressive critic (from-RGB per resolution, blocks of two
// convs + 2x2 average pooling, minibatch-stddev in the last block). Every layer has equalised
// lr; both grow by stages with a faded-in to-RGB / from-RGB. Generators emit images in [0, 1]
// as ½(tanh(o) + 1) of their RGB output o.
#pragma once

#include <array>
#include <vector>

#include "bijgan/concepts/model.hpp"
#include "bijgan/models/config.hpp"
#include "bijgan/nn/conv.hpp"
#include "bijgan/nn/layers.hpp"
#include "bijgan/nn/linear.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/nn/norm.hpp"
#include "bijgan/ops/conv.hpp"
#include "bijgan/ops/resample.hpp"

namespace bijgan::models {

/// How a CNN generator receives the engine feature.
enum class cnn_conditioning {
  adain,  ///< DiBiGAN: F(x) through the mapping network into AdaIN at every conv; v is the 4x4 input
  input   ///< PO-GAN: F(x) is the 4x4 input; no v, no AdaIN
};

namespace detail {
inline constexpr nn::equalized_lr equalized{.on = true};

/// Progressive state shared by the generators and critics: the active stage and the fade-in.
struct stage_state {
  int stage = 1;
  double alpha = 1;
  void set(int s, double a, int max_stage, const char* op) {
    if (s < 1 || s > max_stage || !(a >= 0 && a <= 1))
      fail<value_error>(op, "stage ", s, " must lie in [1, ", max_stage, "] and alpha ", a, " in [0, 1]");
    stage = s, alpha = a;
  }
};

/// a·(1 − t) + b·t.
template <class T, class B>
var<T, B> blend(const var<T, B>& a, const var<T, B>& b, double t) {
  return a * static_cast<T>(1 - t) + b * static_cast<T>(t);
}

/// Output of a progressive generator: the newest stage's RGB, faded in over the previous one's
/// (upsampled) while alpha < 1, then mapped to [0, 1].
template <class T, class B>
var<T, B> progressive_rgb(const var<T, B>& newest, const var<T, B>* previous, double alpha) {
  const auto o = previous != nullptr && alpha < 1 ? blend(upsample(*previous, 2), newest, alpha) : newest;
  return (tanh(o) + T(1)) * T(0.5);
}
}  // namespace detail

/// The CNN generator of DiBiGAN (Mode = adain) and PO-GAN (Mode = input) at cfg's resolution.
template <gan_config Cfg, cnn_conditioning Mode, class T = float, class B = host>
struct cnn_generator {
  static_assert(detail::is_progressive_resolution(Cfg.resolution),
                "gan_config::resolution must be 4·2^k (4, 8, 16, 32, 64, ...)");
  static_assert(Cfg.channels >= 1 && Cfg.width >= 1 && Cfg.feature_dim >= 1,
                "gan_config: channels, width and feature_dim must be >= 1");
  static_assert(Mode == cnn_conditioning::input ||
                    (Cfg.noise_dim >= 1 && Cfg.mapping_layers >= 1 && Cfg.style_dim >= 1),
                "DiBiGAN needs gan_config::noise_dim, mapping_layers and style_dim >= 1 (set noise_dim for v)");
  using value_type = T;
  using backend_type = B;
  using V = var<T, B>;
  static constexpr index_t feature_dim = Cfg.feature_dim;
  static constexpr index_t noise_dim = Mode == cnn_conditioning::adain ? Cfg.noise_dim : 0;
  static constexpr std::array<index_t, 3> image_shape{Cfg.channels, Cfg.resolution, Cfg.resolution};
  static constexpr int max_stage = detail::stage_count(Cfg.resolution);

  /// One resolution: (×2 nearest upsampling) conv3x3 – LReLU – pixel norm (– AdaIN), twice; to-RGB.
  struct block {
    using value_type = T;
    using backend_type = B;
    nn::conv2d<T, B> conv1, conv2, to_rgb;
    std::vector<nn::adain<T, B>> styles;  ///< two with AdaIN conditioning, none otherwise

    explicit block(rng& g)
        : conv1({.in = Cfg.width, .out = Cfg.width, .kernel = 3, .padding = 1, .equalized = detail::equalized}, g),
          conv2({.in = Cfg.width, .out = Cfg.width, .kernel = 3, .padding = 1, .equalized = detail::equalized}, g),
          to_rgb({.in = Cfg.width, .out = Cfg.channels, .kernel = 1, .equalized = {.on = true, .gain = 1}}, g) {
      if constexpr (Mode == cnn_conditioning::adain)
        for (int i = 0; i < 2; ++i)
          styles.emplace_back(nn::adain_options{.channels = Cfg.width, .style_dim = Cfg.style_dim}, g);
    }
    V operator()(V h, const V* w) const {
      const nn::module_scope scope_(this);
      h = nn::pixel_norm(leaky_relu(conv1(h), T(0.2)));
      if (w != nullptr) h = styles[0](h, *w);
      h = nn::pixel_norm(leaky_relu(conv2(h), T(0.2)));
      if (w != nullptr) h = styles[1](h, *w);
      return h;
    }
    template <class F>
    void visit(F&& f) {
      f("conv1", conv1);
      f("conv2", conv2);
      f("to_rgb", to_rgb);
      f("styles", styles);
    }
  };

  std::vector<nn::linear<T, B>> mapping;  ///< F(x) → w (AdaIN conditioning only)
  nn::linear<T, B> input;                 ///< v (or F(x) for PO-GAN) → width·4·4
  std::vector<block> blocks;              ///< one per stage: 4x4, 8x8, …

  explicit cnn_generator(rng& g = nn::default_rng())
      : input({.in = Mode == cnn_conditioning::adain ? Cfg.noise_dim : Cfg.feature_dim,
               .out = Cfg.width * 16,
               .equalized = {.on = true, .gain = 0.35355339059327373}},  // √2/4 (ProGAN's dense input)
              g) {
    if constexpr (Mode == cnn_conditioning::adain)
      for (index_t i = 0; i < Cfg.mapping_layers; ++i)
        mapping.emplace_back(nn::linear_options{.in = i == 0 ? Cfg.feature_dim : Cfg.style_dim,
                                                .out = Cfg.style_dim,
                                                .equalized = {.on = true, .lr_multiplier = 0.01}},
                             g);
    for (int s = 0; s < max_stage; ++s) blocks.emplace_back(g);
  }

  /// features (N, feature_dim), noise (N, noise_dim; (N, 0) or any for PO-GAN) → images
  /// (N, C, r, r) in [0, 1], r the active stage's resolution.
  V operator()(const V& features, const V& noise) const {
    const nn::module_scope scope_(this);
    if (features.rank() != 2 || features.size(1) != feature_dim)
      fail<shape_error>("models::cnn_generator", "features ", features.shape(), " must be (N, ", feature_dim, ")");
    const index_t n = features.size(0);
    V h;
    V w;
    if constexpr (Mode == cnn_conditioning::adain) {
      if (noise.rank() != 2 || noise.size(0) != n || noise.size(1) != noise_dim)
        fail<shape_error>("models::dibigan generator", "noise ", noise.shape(), " must be (", n, ", ", noise_dim, ")");
      w = nn::pixel_norm(features);
      for (const auto& layer : mapping) w = leaky_relu(layer(w), T(0.2));
      h = input(nn::pixel_norm(noise));
    } else {
      h = input(nn::pixel_norm(features));
    }
    h = nn::pixel_norm(leaky_relu(reshape(h, shape{n, Cfg.width, 4, 4}), T(0.2)));
    const V* wp = Mode == cnn_conditioning::adain ? &w : nullptr;
    V previous;
    for (int s = 0; s < state.stage; ++s) {
      if (s > 0) {
        if (s == state.stage - 1 && state.alpha < 1) previous = blocks[static_cast<std::size_t>(s - 1)].to_rgb(h);
        h = upsample(h, 2);
      }
      h = blocks[static_cast<std::size_t>(s)](h, wp);
    }
    const auto rgb = blocks[static_cast<std::size_t>(state.stage - 1)].to_rgb(h);
    return detail::progressive_rgb(rgb, previous.defined() ? &previous : nullptr, state.alpha);
  }

  /// Stage s (1 = 4x4) active, its block faded in by alpha.
  void set_stage(int s, double alpha) { state.set(s, alpha, max_stage, "models::cnn_generator::set_stage"); }
  [[nodiscard]] int stages() const { return max_stage; }
  [[nodiscard]] int stage() const { return state.stage; }
  /// The fade-in of the active stage (1: faded in).
  [[nodiscard]] double alpha() const { return state.alpha; }

  template <class F>
  void visit(F&& f) {
    f("mapping", mapping);
    f("input", input);
    f("blocks", blocks);
  }

  detail::stage_state state{max_stage, 1};
};

/// The progressive CNN critic (DiBiGAN's and PO-GAN's): from-RGB (1x1) at the active
/// resolution, blocks of conv3x3 – LReLU – conv3x3 – LReLU – avg-pool 2 down to 4x4, then
/// minibatch-stddev – conv3x3 – LReLU – dense – LReLU – dense → one score per image. The batch
/// must be divisible by min(4, N) (minibatch-stddev groups).
template <gan_config Cfg, class T = float, class B = host>
struct cnn_critic {
  static_assert(detail::is_progressive_resolution(Cfg.resolution),
                "gan_config::resolution must be 4·2^k (4, 8, 16, 32, 64, ...)");
  using value_type = T;
  using backend_type = B;
  using V = var<T, B>;
  static constexpr int max_stage = detail::stage_count(Cfg.resolution);

  struct block {
    using value_type = T;
    using backend_type = B;
    nn::conv2d<T, B> from_rgb, conv1, conv2;
    explicit block(rng& g, bool last)
        : from_rgb({.in = Cfg.channels, .out = Cfg.width, .kernel = 1, .equalized = detail::equalized}, g),
          conv1({.in = Cfg.width + (last ? 1 : 0),
                 .out = Cfg.width,
                 .kernel = 3,
                 .padding = 1,
                 .equalized = detail::equalized},
                g),
          conv2({.in = Cfg.width, .out = Cfg.width, .kernel = 3, .padding = 1, .equalized = detail::equalized}, g) {}
    template <class F>
    void visit(F&& f) {
      f("from_rgb", from_rgb);
      f("conv1", conv1);
      f("conv2", conv2);
    }
  };

  std::vector<block> blocks;  ///< blocks[0] works at 4x4 (the last block), blocks[s-1] at stage s
  nn::minibatch_stddev<T, B> stddev;
  nn::linear<T, B> dense, score;

  explicit cnn_critic(rng& g = nn::default_rng())
      : dense({.in = Cfg.width * 16, .out = Cfg.width, .equalized = detail::equalized}, g),
        score({.in = Cfg.width, .out = 1, .equalized = {.on = true, .gain = 1}}, g) {
    for (int s = 0; s < max_stage; ++s) blocks.emplace_back(g, s == 0);
  }

  /// images (N, C, r, r) at the active stage's resolution → scores (N, 1).
  V operator()(const V& x) const {
    const nn::module_scope scope_(this);
    const index_t r = detail::stage_resolution(state.stage);
    if (x.rank() != 4 || x.size(1) != Cfg.channels || x.size(2) != r || x.size(3) != r)
      fail<shape_error>("models::cnn_critic", "images ", x.shape(), " must be (N, ", Cfg.channels, ", ", r, ", ", r,
                        ") at stage ", state.stage);
    const auto lrelu = [](const V& v) { return leaky_relu(v, T(0.2)); };
    V h = lrelu(blocks[static_cast<std::size_t>(state.stage - 1)].from_rgb(x));
    for (int s = state.stage - 1; s >= 1; --s) {
      const auto& b = blocks[static_cast<std::size_t>(s)];
      h = avg_pool2d(lrelu(b.conv2(lrelu(b.conv1(h)))), {.kernel = 2});
      if (s == state.stage - 1 && state.alpha < 1)
        h = detail::blend(lrelu(blocks[static_cast<std::size_t>(s - 1)].from_rgb(avg_pool2d(x, {.kernel = 2}))), h,
                          state.alpha);
    }
    const auto& last = blocks[0];
    h = lrelu(last.conv2(lrelu(last.conv1(stddev(h)))));
    return score(lrelu(dense(flatten(h, 1, -1))));
  }

  void set_stage(int s, double alpha) { state.set(s, alpha, max_stage, "models::cnn_critic::set_stage"); }
  [[nodiscard]] int stages() const { return max_stage; }
  [[nodiscard]] int stage() const { return state.stage; }
  /// The fade-in of the active stage (1: faded in).
  [[nodiscard]] double alpha() const { return state.alpha; }

  template <class F>
  void visit(F&& f) {
    f("blocks", blocks);
    f("stddev", stddev);
    f("dense", dense);
    f("score", score);
  }

  detail::stage_state state{max_stage, 1};
};

}  // namespace bijgan::models
