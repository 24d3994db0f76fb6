// The blackbox_engine concept: a recognition engine F seen only through its outputs. Plain
// tensors in and out, so no gradient can flow through it by construction.
#pragma once

#include <algorithm>
#include <concepts>
#include <span>
#include <vector>

#include "bijgan/tensor/ops.hpp"
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

/// Runs f on consecutive slices of at most `batch` images and concatenates the results along
/// axis 0 (how engines compute features of large sets); `empty` is returned for no images.
template <class T, class B, class F>
tensor<T, B> in_batches(const tensor<T, B>& images, index_t batch, const tensor<T, B>& empty, F f) {
  if (batch < 1) fail<value_error>("in_batches", "batch size ", batch, " must be >= 1");
  std::vector<tensor<T, B>> parts;
  for (index_t s = 0; s < images.size(0); s += batch)
    parts.push_back(f(images.slice_rows(s, std::min(images.size(0), s + batch))));
  if (parts.empty()) return empty;
  return parts.size() == 1 ? parts[0] : concat(std::span<const tensor<T, B>>(parts), 0);
}

}  // namespace bijgan
