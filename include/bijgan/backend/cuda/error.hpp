// CUDA and cuBLAS status codes turned into bijgan::backend_error naming the call and the code.
#pragma once

#if !defined(__CUDACC__)
#error "bijgan/backend/cuda is compiled by nvcc only: build this translation unit as CUDA (link bijgan::cuda)"
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "bijgan/config/errors.hpp"

namespace bijgan::cuda_detail {

inline void check(cudaError_t status, const char* call) {
  if (status != cudaSuccess)
    fail<backend_error>("cuda", call, " failed: ", cudaGetErrorName(status), " (", static_cast<int>(status),
                        "): ", cudaGetErrorString(status));
}

inline void check(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    fail<backend_error>("cublas", call, " failed: ", cublasGetStatusName(status), " (", static_cast<int>(status), ")");
}

}  // namespace bijgan::cuda_detail

/// Checks a CUDA runtime or cuBLAS call, throwing backend_error with the call's text.
#define BIJGAN_CUDA_CHECK(call) ::bijgan::cuda_detail::check((call), #call)
