// Argument types of the primitive kernels every backend implements (see backend/concept.hpp).
#pragma once

#include <array>
#include <cstdint>

#include "bijgan/backend/shape.hpp"

namespace bijgan {

/// A read operand of a strided kernel: base pointer and per-axis strides (0 = broadcast).
template <class T>
struct strided_in {
  const T* data;
  std::array<index_t, shape::max_rank> strides;
};

/// Reductions a backend provides over the middle axis of an (outer, n, inner) layout.
enum class reduce_kind : std::uint8_t { sum, max, min };

/// One (batched) GEMM: C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b], all row-major.
/// op(A) is m x k, op(B) is k x n; lda/ldb/ldc are row strides of the stored matrices;
/// stride_* are element strides between batch items (0 broadcasts one matrix over the batch).
template <class T>
struct gemm_args {
  bool trans_a = false, trans_b = false;
  index_t m = 0, n = 0, k = 0;
  T alpha = 1, beta = 0;
  const T* a = nullptr;
  index_t lda = 0, stride_a = 0;
  const T* b = nullptr;
  index_t ldb = 0, stride_b = 0;
  T* c = nullptr;
  index_t ldc = 0, stride_c = 0;
  index_t batch = 1;
};

}  // namespace bijgan
