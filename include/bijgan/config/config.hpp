// Build configuration: feature macros and the host/device function qualifier.
#pragma once

#include "bijgan/config/version.hpp"

// BIJGAN_WITH_CUDA is defined (to 1) by the CMake target bijgan::cuda. CUDA kernels are only
// compiled when the translation unit is compiled by nvcc (__CUDACC__).
#if defined(__CUDACC__)
#define BIJGAN_HD __host__ __device__
#define BIJGAN_NVCC 1
#ifndef EIGEN_NO_CUDA
#define EIGEN_NO_CUDA
#endif
#else
#define BIJGAN_HD
#endif

/// Silences gcc's false positives from Eigen's AVX-512 GEMM and SVD kernels (toolchain.md);
/// used only around third-party includes.
#if defined(__GNUC__) && !defined(__clang__)
#define BIJGAN_THIRD_PARTY_BEGIN                                                             \
  _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"") \
      _Pragma("GCC diagnostic ignored \"-Wuninitialized\"") _Pragma("GCC diagnostic ignored \"-Warray-bounds\"")
#define BIJGAN_THIRD_PARTY_END _Pragma("GCC diagnostic pop")
#else
#define BIJGAN_THIRD_PARTY_BEGIN
#define BIJGAN_THIRD_PARTY_END
#endif
