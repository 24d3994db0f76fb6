// The blackbox_engine concept: a recognition engine F seen only through its outputs. Plain
// tensors in and out, so no gradient can flow through it by construction.
#pragma once

#include <concepts>

#include "bijgan/tensor/tensor.hpp"

namespace bijgan {

/// E maps images (N, C, H, W) in [0, 1] to features (N, feature_dim):
///   E::feature_dim   the feature size (static constexpr)
///   E::image_shape   the (C, H, W) the engine takes (static constexpr std::array)
///   e.features(images) -> tensor
template <class E>
concept blackbox_engine = requires(const E& e, const tensor<float, host>& images) {
  { E::feature_dim } -> std::convertible_to<index_t>;
  { E::image_shape[0] } -> std::convertible_to<index_t>;
  { e.features(images) } -> std::same_as<tensor<float, host>>;
};

}  // namespace bijgan
