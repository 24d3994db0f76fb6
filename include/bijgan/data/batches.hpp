// Mini-batch pipelines with range-v3: a seeded shuffle of the example indices, cut into
// batches, each gathered into a tensor. range-v3 does not compile under nvcc (toolchain.md):
// this header is host-only and the umbrella header skips it in CUDA translation units; the
// trainers use data/rows.hpp (the same shuffle and gathers without range-v3).
#pragma once

#if defined(__CUDACC__)
#error "bijgan/data/batches.hpp uses range-v3, which nvcc cannot compile; include it from host code only"
#endif

#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include <memory>

#include <range/v3/view/chunk.hpp>
#include <range/v3/view/iota.hpp>
#include <range/v3/view/transform.hpp>

#include "bijgan/data/rows.hpp"

namespace bijgan::data {

/// One mini-batch of a labelled image set.
struct labelled_batch {
  tensor<float, host> images;
  std::vector<int> labels;
};

/// A lazy range-v3 pipeline over a labelled set: the indices shuffled with `seed`, cut into
/// batches, each mapped to its (images, labels) when the loop reaches it. The range owns what
/// it needs (the set's tensor is shared, not copied).
inline auto labelled_batches(const tensor<float, host>& images, std::vector<int> labels, index_t batch_size,
                             std::uint64_t seed) {
  if (static_cast<index_t>(labels.size()) != images.size(0))
    fail<shape_error>("labelled_batches", images.size(0), " images but ", labels.size(), " labels");
  auto order =
      std::make_shared<const std::vector<std::vector<index_t>>>(shuffled_batches(images.size(0), batch_size, seed));
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
