// The tiny model configuration the trainer tests share (test_gan's fit_gan cases and
// test_dist's data-parallel ones): 8x8 single-channel images, 6-D features, a few hundred
// parameters per layer, so a fit_gan step takes milliseconds.
#pragma once

#include <bijgan/models/config.hpp>

namespace test_support {

constexpr bijgan::models::gan_config tiny_gan{.channels = 1,
                                              .resolution = 8,
                                              .feature_dim = 6,
                                              .noise_dim = 3,
                                              .width = 4,
                                              .mapping_layers = 2,
                                              .style_dim = 4,
                                              .embed = 16,
                                              .heads = 2,
                                              .depth = 1,
                                              .condition_tokens = 16,
                                              .window = 16,
                                              .bicubic_stages = 1,
                                              .critic_patch = 2,
                                              .critic_embed = 16};

}  // namespace test_support
