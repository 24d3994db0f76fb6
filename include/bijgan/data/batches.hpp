// Mini-batch pipelines with range-v3: a seeded shuffle of the example indices, cut into
// batches, each gathered into a tensor. range-v3 does not compile under nvcc (toolchain.md):
// this header is host-only and the umbrella header skips it in CUDA translation units.
#pragma once

#if defined(__CUDACC__)
#error "bijgan/data/batches.hpp uses range-v3, which nvcc cannot compile; include it from host code only"
#endif

#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include <range/v3/algorithm/shuffle.hpp>
#include <memory>

#include <range/v3/view/chunk.hpp>
#include <range/v3/view/iota.hpp>
#include <range/v3/view/transform.hpp>

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
    std::memcpy(out.data() + static_cast<index_t>(i) * row, t.data() + rows[i] * row, static_cast<std::size_t>(row) * sizeof(T));
  }
  return out;
}

/// A host float batch as tensor<T, B> (converted to T, moved to backend B).
template <class T, class B>
tensor<T, B> as_batch(const tensor<float, host>& x) {
  if constexpr (std::is_same_v<T, float>) return to<B>(x);
  else {
    const auto v = x.to_vector();
    return tensor<T, B>::from(std::vector<T>(v.begin(), v.end()), x.shape());
  }
}

/// The indices 0..n-1 shuffled with a seeded engine, in batches of batch_size (the last one
/// may be smaller). A range of std::vector<index_t>.
inline auto shuffled_batches(index_t n, index_t batch_size, std::uint64_t seed) {
  if (batch_size < 1) fail<value_error>("shuffled_batches", "batch size ", batch_size);
  std::vector<index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), index_t{0});
  std::mt19937_64 engine(seed);
  ranges::shuffle(order, engine);
  std::vector<std::vector<index_t>> out;
  for (auto chunk : order | ranges::views::chunk(batch_size)) out.emplace_back(chunk.begin(), chunk.end());
  return out;
}

/// One mini-batch of a labelled image set.
struct labelled_batch {
  tensor<float, host> images;
  std::vector<int> labels;
};

/// A lazy range-v3 pipeline over a labelled set: the indices shuffled with `seed`, cut into
/// batches, each mapped to its (images, labels) when the loop reaches it. The range owns what
/// it needs (the set's tensor is shared, not copied).
inline auto labelled_batches(const tensor<float, host>& images, std::vector<int> labels, index_t batch_size, std::uint64_t seed) {
  if (static_cast<index_t>(labels.size()) != images.size(0))
    fail<shape_error>("labelled_batches", images.size(0), " images but ", labels.size(), " labels");
  auto order = std::make_shared<const std::vector<std::vector<index_t>>>(shuffled_batches(images.size(0), batch_size, seed));
  auto all_labels = std::make_shared<const std::vector<int>>(std::move(labels));
  return ranges::views::iota(std::size_t{0}, order->size()) |
         ranges::views::transform([order, all_labels, images](std::size_t b) {
           const auto& rows = (*order)[b];
           labelled_batch out{gather_rows(images, rows), {}};
           for (index_t r : rows) out.labels.push_back((*all_labels)[static_cast<std::size_t>(r)]);
           return out;
         });
}

}  // namespace bijgan::data
