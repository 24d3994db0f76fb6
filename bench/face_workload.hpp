// The 64x64 faces workload shared by faces_bench (host) and cuda_bench (device vs host): the
// DAB-GAN and student configurations of examples/faces_lfw, H (logit | 4-scale RealNVP), and a
// random set of 64 identities x 4 images with 128-D descriptors.
#pragma once

#include <bijgan/bijgan.hpp>
#include <bijgan/flows/flows.hpp>
#include <bijgan/models/models.hpp>
#include <bijgan/train/adversarial.hpp>

#include <vector>

namespace bench {

inline constexpr bijgan::models::gan_config face_cfg{.channels = 3,
                                                     .resolution = 64,
                                                     .feature_dim = 128,
                                                     .noise_dim = 32,
                                                     .embed = 64,
                                                     .heads = 4,
                                                     .depth = 1,
                                                     .bicubic_stages = 3,
                                                     .critic_patch = 8,
                                                     .critic_embed = 64};
inline constexpr bijgan::models::student_config student_cfg{
    .channels = 3, .resolution = 32, .feature_dim = 128, .width = 32, .stages = 3};  // as faces_lfw

/// H of the faces example: logit | RealNVP with 4 scales of 32 maps on 64x64x3, each coupling
/// recomputed in the backward pass (as faces_lfw; recompute = false keeps H's graph).
inline auto face_flow(bool recompute = true) {
  return bijgan::flows::logit_transform<float>{} | bijgan::flows::realnvp_multiscale<float>({.channels = 3,
                                                                                             .height = 64,
                                                                                             .width = 64,
                                                                                             .scales = 4,
                                                                                             .blocks = 1,
                                                                                             .features = 32,
                                                                                             .recompute = recompute});
}

/// 64 identities x 4 random 64x64 faces with random 128-D descriptors.
inline bijgan::train::gan_data face_data(bijgan::rng& gen) {
  using namespace bijgan;
  const index_t n = 256;
  std::vector<int> labels;
  for (index_t i = 0; i < n; ++i) labels.push_back(static_cast<int>(i / 4));
  return {tensor<float>::random({n, 3, 64, 64}, gen, {distribution::uniform, 0.02, 0.98}),
          tensor<float>::random({n, 128}, gen, {distribution::normal, 0, 1}), labels};
}

}  // namespace bench
