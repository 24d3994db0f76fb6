// Model configurations as constexpr aggregates (design.md: experiments checked at compile
// time). One gan_config serves DiBiGAN, DAB-GAN and PO-GAN; what must hold for each is
// static_asserted by the model with a message that says what to change.
#pragma once

#include <array>
#include <bit>

#include "bijgan/backend/shape.hpp"

namespace bijgan::models {

/// The shape of a feature-conditional GAN. Used as a template argument
/// (`models::dibigan<cfg>`), so every field is a compile-time constant.
struct gan_config {
  index_t channels = 1;           ///< image channels (1 Fashion-MNIST, 3 faces)
  index_t resolution = 32;        ///< full output size, 4·2^k (stages 4x4, 8x8, …, resolution)
  index_t feature_dim = 1024;     ///< the engine's feature size F(x)
  index_t noise_dim = 32;         ///< the background vector v (DiBiGAN, DAB-GAN)
  index_t width = 64;             ///< CNN: feature maps of every block (paper: 64)
  index_t mapping_layers = 8;     ///< DiBiGAN: FC layers of the mapping network F(x) → w
  index_t style_dim = 256;        ///< DiBiGAN: width of w
  index_t embed = 64;             ///< DAB-GAN: token width at 4x4 (÷ 4 at every pixel-shuffle upsampling)
  index_t heads = 4;              ///< DAB-GAN: attention heads
  index_t depth = 1;              ///< DAB-GAN: conditioned blocks per stage
  index_t condition_tokens = 16;  ///< DAB-GAN: tokens of [F(x); v] (>= 16, method.md §6)
  index_t window = 16;            ///< DAB-GAN: grid-attention window for token maps larger than window²
  index_t bicubic_stages = 2;     ///< DAB-GAN: upsamplings by bicubic before switching to pixel-shuffle
  /// DAB-GAN: upsample the running sum of the stages' to-RGB outputs bilinearly between stages
  /// (false: nearest, which leaves each coarse stage's pixels as flat blocks in the image)
  bool bilinear_rgb = false;
  index_t critic_patch = 4;   ///< DAB-GAN critic: smallest patch size P (scales P, 2P, 4P)
  index_t critic_embed = 64;  ///< DAB-GAN critic: token width at the finest scale
};

namespace detail {
/// True when r = 4·2^k for some k >= 0.
constexpr bool is_progressive_resolution(index_t r) {
  return r >= 4 && r % 4 == 0 && std::has_single_bit(static_cast<unsigned long long>(r / 4));
}
/// Number of progressive stages of resolution r: 4x4 is stage 1.
constexpr int stage_count(index_t r) { return std::bit_width(static_cast<unsigned long long>(r / 4)); }
/// Output size of stage s (1-based).
constexpr index_t stage_resolution(int s) { return index_t{4} << (s - 1); }
}  // namespace detail

}  // namespace bijgan::models
