// The attention models of DAB-GAN (method.md §6, TransGAN reading). Generator: [F(x); v] →
// one linear map to the 4x4 token map, then per stage `depth` conditioned blocks (pre-norm
// self-attention — grid attention in window² windows on large maps — cross-attention to the
// condition expanded into >= 16 tokens, MLP), learned positional embeddings per stage,
// upsampling ×2 by bicubic for the first `bicubic_stages` and by pixel-shuffle after (token
// width ÷ 4), and a to-RGB per stage whose outputs are summed after upsampling. Critic: the
// multi-scale transformer of TransGAN — patch tokens at P, 2P, 4P by strided convs, each stage's
// tokens average-pooled 2x2 and concatenated with the next scale's, a CLS token, a final block,
// layer norm and a linear score.
#pragma once

#include <array>
#include <vector>

#include "bijgan/concepts/model.hpp"
#include "bijgan/models/cnn.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/nn/transformer.hpp"

namespace bijgan::models {

namespace detail {
/// Token width of DAB-GAN's generator at stage s (1-based).
constexpr index_t dabgan_width(const gan_config& c, int s) {
  index_t d = c.embed;
  for (int k = 2; k <= s; ++k)
    if (k - 1 > c.bicubic_stages) d /= 4;
  return d;
}
/// Token map (N, r·r, d) ↔ image-like map (N, d, r, r).
template <class T, class B>
var<T, B> tokens_to_map(const var<T, B>& x, index_t r) {
  return reshape(permute(x, {0, 2, 1}), shape{x.size(0), x.size(2), r, r});
}
template <class T, class B>
var<T, B> map_to_tokens(const var<T, B>& m) {
  return permute(reshape(m, shape{m.size(0), m.size(1), m.size(2) * m.size(3)}), {0, 2, 1});
}
}  // namespace detail

/// DAB-GAN's attention generator at cfg's resolution.
template <gan_config Cfg, class T = float, class B = host>
struct dabgan_generator {
  static_assert(detail::is_progressive_resolution(Cfg.resolution),
                "gan_config::resolution must be 4·2^k (4, 8, 16, 32, 64, ...)");
  static_assert(Cfg.noise_dim >= 1, "DAB-GAN takes v: set gan_config::noise_dim >= 1");
  static_assert(Cfg.condition_tokens >= 16,
                "gan_config::condition_tokens must be >= 16: with few keys cross-attention degenerates into a bias");
  static_assert(detail::dabgan_width(Cfg, detail::stage_count(Cfg.resolution)) >= Cfg.heads &&
                    detail::dabgan_width(Cfg, detail::stage_count(Cfg.resolution)) % Cfg.heads == 0,
                "DAB-GAN's last stage is too narrow for its heads: every pixel-shuffle divides the token width by 4; "
                "raise gan_config::embed or bicubic_stages, or lower heads");
  using value_type = T;
  using backend_type = B;
  using V = var<T, B>;
  static constexpr index_t feature_dim = Cfg.feature_dim;
  static constexpr index_t noise_dim = Cfg.noise_dim;
  static constexpr std::array<index_t, 3> image_shape{Cfg.channels, Cfg.resolution, Cfg.resolution};
  static constexpr int max_stage = detail::stage_count(Cfg.resolution);

  struct stage_layers {
    using value_type = T;
    using backend_type = B;
    nn::positional_embedding<T, B> position;
    std::vector<nn::conditioned_block<T, B>> blocks;
    nn::linear<T, B> to_rgb;
    stage_layers(int s, rng& g)
        : position({.tokens = detail::stage_resolution(s) * detail::stage_resolution(s),
                    .dim = detail::dabgan_width(Cfg, s)},
                   g),
          to_rgb({.in = detail::dabgan_width(Cfg, s), .out = Cfg.channels}, g) {
      const index_t r = detail::stage_resolution(s);
      for (index_t k = 0; k < Cfg.depth; ++k)
        blocks.emplace_back(nn::conditioned_block_options{.dim = detail::dabgan_width(Cfg, s),
                                                          .heads = Cfg.heads,
                                                          .window = r > Cfg.window ? Cfg.window : 0,
                                                          .context_dim = Cfg.embed},
                            g);
    }
    template <class F>
    void visit(F&& f) {
      f("position", position);
      f("blocks", blocks);
      f("to_rgb", to_rgb);
    }
  };

  nn::linear<T, B> input;                ///< [F(x); v] → 16 tokens of width embed (the 4x4 map)
  nn::condition_tokens<T, B> condition;  ///< [F(x); v] → condition_tokens tokens of width embed
  std::vector<stage_layers> stages_;     ///< one per stage: 4x4, 8x8, …

  explicit dabgan_generator(rng& g = nn::default_rng())
      : input({.in = Cfg.feature_dim + Cfg.noise_dim, .out = 16 * Cfg.embed}, g),
        condition({.in = Cfg.feature_dim + Cfg.noise_dim, .tokens = Cfg.condition_tokens, .dim = Cfg.embed}, g) {
    for (int s = 1; s <= max_stage; ++s) stages_.emplace_back(s, g);
  }

  /// features (N, feature_dim), noise (N, noise_dim) → images (N, C, r, r) in [0, 1].
  V operator()(const V& features, const V& noise) const {
    const nn::module_scope scope_(this);
    if (features.rank() != 2 || features.size(1) != feature_dim || noise.rank() != 2 || noise.size(1) != noise_dim ||
        noise.size(0) != features.size(0))
      fail<shape_error>("models::dabgan_generator", "features ", features.shape(), " and noise ", noise.shape(),
                        " must be (N, ", feature_dim, ") and (N, ", noise_dim, ")");
    const index_t n = features.size(0);
    const auto c = concat(std::vector<V>{nn::pixel_norm(features), nn::pixel_norm(noise)}, 1);
    const auto context = condition(c);
    V x = reshape(input(c), shape{n, 16, Cfg.embed});
    V rgb, previous;  // the running sum of to-RGB outputs, and the sum before the newest stage
    for (int s = 1; s <= state.stage; ++s) {
      const index_t r = detail::stage_resolution(s);
      if (s > 1) {
        const auto m = detail::tokens_to_map(x, r / 2);
        x = detail::map_to_tokens(s - 1 <= Cfg.bicubic_stages ? upsample(m, 2, interpolation::bicubic)
                                                              : pixel_shuffle(m, 2));
        rgb = upsample(rgb, 2, Cfg.bilinear_rgb ? interpolation::bilinear : interpolation::nearest);
      }
      const auto& st = stages_[static_cast<std::size_t>(s - 1)];
      x = st.position(x);
      for (const auto& b : st.blocks) x = b(x, context, r, r);
      const auto out = detail::tokens_to_map(st.to_rgb(x), r);
      if (s == state.stage && s > 1 && state.alpha < 1) previous = rgb;
      rgb = s == 1 ? out : rgb + out;
    }
    // Fade-in: the newest stage's to-RGB enters with weight alpha.
    if (previous.defined()) rgb = previous + (rgb - previous) * static_cast<T>(state.alpha);
    return (tanh(rgb) + T(1)) * T(0.5);
  }

  void set_stage(int s, double alpha) { state.set(s, alpha, max_stage, "models::dabgan_generator::set_stage"); }
  [[nodiscard]] int stages() const { return max_stage; }
  [[nodiscard]] int stage() const { return state.stage; }
  /// The fade-in of the active stage (1: faded in).
  [[nodiscard]] double alpha() const { return state.alpha; }

  template <class F>
  void visit(F&& f) {
    f("input", input);
    f("condition", condition);
    f("stages", stages_);
  }

  detail::stage_state state{max_stage, 1};
};

/// TransGAN's multi-scale transformer critic at cfg's full resolution (not progressive: the
/// trainer feeds it images upsampled to full resolution during the early stages).
template <gan_config Cfg, class T = float, class B = host>
struct transformer_critic {
  static constexpr index_t scales = 3;
  static_assert(Cfg.resolution % (Cfg.critic_patch << (scales - 1)) == 0,
                "gan_config::critic_patch·4 must divide the resolution (the critic tokenises at P, 2P and 4P)");
  static_assert(Cfg.critic_embed % (4 * Cfg.heads) == 0, "gan_config::critic_embed must be divisible by 4·heads");
  using value_type = T;
  using backend_type = B;
  using V = var<T, B>;
  static constexpr index_t grid = Cfg.resolution / Cfg.critic_patch;  ///< tokens per side at the finest scale

  /// Scale k: patch tokens at P·2^k (width embed at k = 0, embed/2 after, the other half
  /// being the pooled tokens of the scale before, as TransGAN splits it), then a block.
  struct scale_layers {
    using value_type = T;
    using backend_type = B;
    nn::conv2d<T, B> patch;
    nn::positional_embedding<T, B> position;
    nn::transformer_block<T, B> block;
    scale_layers(index_t k, rng& g)
        : patch({.in = Cfg.channels,
                 .out = patch_width(k),
                 .kernel = Cfg.critic_patch << k,
                 .stride = Cfg.critic_patch << k},
                g),
          position({.tokens = (grid >> k) * (grid >> k), .dim = Cfg.critic_embed}, g),
          block({.dim = Cfg.critic_embed, .heads = Cfg.heads, .window = (grid >> k) > Cfg.window ? Cfg.window : 0}, g) {
    }
    static constexpr index_t patch_width(index_t k) { return k == 0 ? Cfg.critic_embed : Cfg.critic_embed / 2; }
    template <class F>
    void visit(F&& f) {
      f("patch", patch);
      f("position", position);
      f("block", block);
    }
  };

  std::vector<scale_layers> levels;
  std::vector<nn::linear<T, B>> pooled;  ///< pooled tokens of scale k−1 → embed/2 (k = 1, 2)
  var<T, B> cls;
  nn::transformer_block<T, B> last;
  nn::layer_norm<T, B> norm;
  nn::linear<T, B> score;

  explicit transformer_critic(rng& g = nn::default_rng())
      : cls(parameter(nn::init::truncated_normal<T, B>(shape{1, 1, Cfg.critic_embed}, 0, 0.02, g))),
        last({.dim = Cfg.critic_embed, .heads = Cfg.heads}, g),
        norm({.features = Cfg.critic_embed}, g),
        score({.in = Cfg.critic_embed, .out = 1}, g) {
    for (index_t k = 0; k < scales; ++k) levels.emplace_back(k, g);
    for (index_t k = 1; k < scales; ++k)
      pooled.emplace_back(nn::linear_options{.in = Cfg.critic_embed, .out = Cfg.critic_embed / 2}, g);
  }

  /// images (N, C, resolution, resolution) → scores (N, 1).
  V operator()(const V& x) const {
    const nn::module_scope scope_(this);
    if (x.rank() != 4 || x.size(1) != Cfg.channels || x.size(2) != Cfg.resolution || x.size(3) != Cfg.resolution)
      fail<shape_error>("models::transformer_critic", "images ", x.shape(), " must be (N, ", Cfg.channels, ", ",
                        Cfg.resolution, ", ", Cfg.resolution, ")");
    const index_t n = x.size(0);
    V h;
    for (index_t k = 0; k < scales; ++k) {
      const auto& l = levels[static_cast<std::size_t>(k)];
      auto t = detail::map_to_tokens(l.patch(x));
      if (k > 0) {
        const index_t side = grid >> (k - 1);
        const auto down = detail::map_to_tokens(avg_pool2d(detail::tokens_to_map(h, side), {.kernel = 2}));
        t = concat(std::vector<V>{t, pooled[static_cast<std::size_t>(k - 1)](down)}, 2);
      }
      const index_t side = grid >> k;
      h = l.block(l.position(t), side, side);
    }
    const auto tokens = concat(std::vector<V>{broadcast_to(cls, shape{n, 1, Cfg.critic_embed}), h}, 1);
    const auto out = norm(last(tokens));
    return score(reshape(slice(out, 1, 0, 1), shape{n, Cfg.critic_embed}));
  }

  template <class F>
  void visit(F&& f) {
    f("levels", levels);
    f("pooled", pooled);
    f("cls", cls);
    f("last", last);
    f("norm", norm);
    f("score", score);
  }
};

}  // namespace bijgan::models
