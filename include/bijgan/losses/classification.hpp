// Classification loss: softmax cross-entropy of logits against integer labels (used by the
// engines' training, the hybrid flow objective and the student's optional head).
#pragma once

#include <vector>

#include "bijgan/config/instances.hpp"
#include "bijgan/ops/reduce.hpp"

namespace bijgan::losses {

/// Mean over the batch of −log softmax(logits)[label], logits (N, C), labels in [0, C).
template <class T, class B>
var<T, B> cross_entropy(const var<T, B>& logits, const std::vector<int>& labels) {
  if (logits.rank() != 2 || logits.shape()[0] != static_cast<index_t>(labels.size()))
    fail<shape_error>("losses::cross_entropy", "logits ", logits.shape(), " must be (N, C) with N = ", labels.size(),
                      " labels");
  const index_t n = logits.shape()[0], c = logits.shape()[1];
  std::vector<T> one_hot(static_cast<std::size_t>(n * c), T(0));
  for (index_t i = 0; i < n; ++i) {
    const int l = labels[static_cast<std::size_t>(i)];
    if (l < 0 || l >= c)
      fail<value_error>("losses::cross_entropy", "label ", l, " of sample ", i, " is outside [0, ", c, ")");
    one_hot[static_cast<std::size_t>(i * c + l)] = T(1);
  }
  return -mean(sum(constant(tensor<T, B>::from(one_hot, shape{n, c})) * log_softmax(logits, 1), {1}));
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_CLASSIFICATION_INSTANCES(X, T, B) X var<T, B> cross_entropy(const var<T, B>&, const std::vector<int>&);
BIJGAN_EXTERN_INSTANCES(BIJGAN_CLASSIFICATION_INSTANCES)

}  // namespace bijgan::losses
