// as_xtensor: an xtensor expression over a host tensor's memory (no copy), for N-d indexing,
// views and inspection with xtensor's API. Hot loops should stay on the backend kernels:
// xtensor broadcasting is ~30x slower than them here (toolchain.md).
#pragma once

#include <vector>

#include "bijgan/tensor/tensor.hpp"

BIJGAN_THIRD_PARTY_BEGIN
#include <xtensor/xadapt.hpp>
BIJGAN_THIRD_PARTY_END

namespace bijgan {

/// A writable xtensor adaptor over t's storage with t's shape (host tensors only).
template <class T>
auto as_xtensor(const tensor<T, host>& t) {
  std::vector<std::size_t> s(t.shape().begin(), t.shape().end());
  return xt::adapt(t.data(), static_cast<std::size_t>(t.numel()), xt::no_ownership(), s);
}

}  // namespace bijgan
