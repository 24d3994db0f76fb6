// Row gathers and seeded index batches: what the trainers need from data/, without range-v3,
// so CUDA translation units (nvcc) can include the trainers. data/batches.hpp builds its lazy
// range-v3 pipelines on these.
#pragma once

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "bijgan/tensor/tensor.hpp"

namespace bijgan::data {

/// Rows `rows` of t (along axis 0) copied into a new tensor, in that order.
template <class T>
tensor<T, host> gather_rows(const tensor<T, host>& t, const std::vector<index_t>& rows) {
  shape s = t.shape();
  s[0] = static_cast<index_t>(rows.size());
  tensor<T, host> out(s);
  const index_t row = t.size(0) == 0 ? 0 : t.numel() / t.size(0);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= t.size(0)) fail<shape_error>("gather_rows", "row ", rows[i], " of ", t.shape());
    std::memcpy(out.data() + static_cast<index_t>(i) * row, t.data() + rows[i] * row,
                static_cast<std::size_t>(row) * sizeof(T));
  }
  return out;
}

/// Flips the images (N, C, H, W) whose flip[i] is set left-right (along W), in place: a mirror
/// augmentation.
template <class T>
void mirror_images(tensor<T, host>& images, const std::vector<bool>& flip) {
  if (images.rank() != 4 || static_cast<index_t>(flip.size()) != images.size(0))
    fail<shape_error>("data::mirror_images", "images ", images.shape(), " with ", flip.size(),
                      " flags: expected (N, C, H, W) and N flags");
  const index_t w = images.size(3), lines = images.size(1) * images.size(2);
  for (index_t i = 0; i < images.size(0); ++i) {
    if (!flip[static_cast<std::size_t>(i)]) continue;
    T* line = images.data() + i * lines * w;
    for (index_t l = 0; l < lines; ++l, line += w) std::reverse(line, line + w);
  }
}

/// A host float batch as tensor<T, B> (converted to T, moved to backend B).
template <class T, class B>
tensor<T, B> as_batch(const tensor<float, host>& x) {
  if constexpr (std::is_same_v<T, float>)
    return to<B>(x);
  else {
    const auto v = x.to_vector();
    return tensor<T, B>::from(std::vector<T>(v.begin(), v.end()), x.shape());
  }
}

/// The indices 0..n-1 shuffled with a seeded engine, in batches of batch_size (the last one
/// may be smaller).
inline auto shuffled_batches(index_t n, index_t batch_size, std::uint64_t seed) {
  if (batch_size < 1) fail<value_error>("shuffled_batches", "batch size ", batch_size);
  std::vector<index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), index_t{0});
  // Fisher-Yates as range-v3's shuffle draws it (one uniform_int_distribution draw per position,
  // position k swapped with k - i), so orders are the same as before this header existed.
  std::mt19937_64 engine(seed);
  std::uniform_int_distribution<std::ptrdiff_t> pick;
  using range = std::uniform_int_distribution<std::ptrdiff_t>::param_type;
  for (std::ptrdiff_t k = 1; k < static_cast<std::ptrdiff_t>(order.size()); ++k)
    if (const auto i = pick(engine, range{0, k}))
      std::swap(order[static_cast<std::size_t>(k - i)], order[static_cast<std::size_t>(k)]);
  std::vector<std::vector<index_t>> out;
  for (std::size_t b = 0; b < order.size(); b += static_cast<std::size_t>(batch_size))
    out.emplace_back(
        order.begin() + static_cast<std::ptrdiff_t>(b),
        order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), b + static_cast<std::size_t>(batch_size))));
  return out;
}

}  // namespace bijgan::data
