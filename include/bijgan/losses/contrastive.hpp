// The large-margin contrastive loss (Eq. 11, Hadsell et al. reading of method.md §4): a
// distance d for pairs of one identity, max(0, m − d) for pairs of different identities.
#pragma once

#include <vector>

#include "bijgan/config/instances.hpp"
#include "bijgan/ops/reduce.hpp"

namespace bijgan::losses {

/// Mean over pairs of same·d + (1 − same)·max(0, margin − d). d and same (1 for one identity,
/// 0 otherwise) have one shape.
template <class T, class B>
var<T, B> large_margin_contrastive(const var<T, B>& d, const tensor<T, B>& same, T margin) {
  if (d.shape() != same.shape())
    fail<shape_error>("large_margin_contrastive", "distances ", d.shape(), " and labels ", same.shape(), " differ");
  const auto s = constant(same);
  return mean(s * d + (T(1) - s) * relu(margin - d));
}

/// The contrastive loss over all pairs i < j of a batch: distances (n, n) (only the upper
/// triangle is read) and one identity label per item.
template <class T, class B>
var<T, B> pairwise_contrastive(const var<T, B>& distances, const std::vector<int>& labels, T margin) {
  const auto n = static_cast<index_t>(labels.size());
  if (distances.shape() != shape{n, n})
    fail<shape_error>("pairwise_contrastive", "distances ", distances.shape(), " for ", n, " labels");
  if (n < 2) fail<shape_error>("pairwise_contrastive", "needs at least 2 items");
  std::vector<T> same(static_cast<std::size_t>(n * n), T(0)), upper(static_cast<std::size_t>(n * n), T(0));
  for (index_t i = 0; i < n; ++i)
    for (index_t j = i + 1; j < n; ++j) {
      upper[static_cast<std::size_t>(i * n + j)] = T(1);
      same[static_cast<std::size_t>(i * n + j)] =
          labels[static_cast<std::size_t>(i)] == labels[static_cast<std::size_t>(j)] ? T(1) : T(0);
    }
  const auto s = constant(tensor<T, B>::from(same, shape{n, n})), u = constant(tensor<T, B>::from(upper, shape{n, n}));
  const T pairs = static_cast<T>(n * (n - 1) / 2);
  return sum(u * (s * distances + (T(1) - s) * relu(margin - distances))) / pairs;
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_CONTRASTIVE_INSTANCES(X, T, B)                                     \
  X var<T, B> large_margin_contrastive(const var<T, B>&, const tensor<T, B>&, T); \
  X var<T, B> pairwise_contrastive(const var<T, B>&, const std::vector<int>&, T);
BIJGAN_EXTERN_INSTANCES(BIJGAN_CONTRASTIVE_INSTANCES)

}  // namespace bijgan::losses
