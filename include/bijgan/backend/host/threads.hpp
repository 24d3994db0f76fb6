// Thread control for the host backend: one call sets OpenMP, Eigen and OpenBLAS together.
#pragma once

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "bijgan/config/config.hpp"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

BIJGAN_THIRD_PARTY_BEGIN
#include <Eigen/Core>
BIJGAN_THIRD_PARTY_END

#if defined(BIJGAN_HAVE_OPENBLAS)
extern "C" void openblas_set_num_threads(int num_threads);
#endif

namespace bijgan {

/// Sets the number of threads used by host kernels, Eigen GEMM and (when linked) OpenBLAS.
inline void set_num_threads(int n) {
  if (n < 1) n = 1;
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
  Eigen::setNbThreads(n);
#if defined(BIJGAN_HAVE_OPENBLAS)
  openblas_set_num_threads(n);
#endif
}

/// Threads host kernels use now.
inline int num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// Flushes denormal floats to zero (FTZ + DAZ) on the calling thread and on every OpenMP
/// worker, or restores IEEE behaviour with `false`. Long trainings drift into denormal
/// territory (tiny activations, gradients and Adam moments) where x86 arithmetic is ~100×
/// slower; flushing costs nothing measurable in accuracy for ML work. Threads started later
/// inherit the setting of the thread that starts them. Returns false where the CPU offers no
/// such mode (nothing is changed).
inline bool set_flush_denormal(bool on) {
#if defined(__SSE__)
  constexpr unsigned mask = 0x8040u;  // FTZ (bit 15) | DAZ (bit 6) of MXCSR
  const auto apply = [&] { _mm_setcsr(on ? (_mm_getcsr() | mask) : (_mm_getcsr() & ~mask)); };
  apply();
#if defined(_OPENMP)
#pragma omp parallel
  apply();
#endif
  return true;
#else
  (void)on;
  return false;
#endif
}

/// Which GEMM the host backend calls: "openblas" (EIGEN_USE_BLAS) or "eigen".
inline const char* host_gemm_provider() {
#if defined(EIGEN_USE_BLAS)
  return "openblas";
#else
  return "eigen";
#endif
}

/// What runs host float convolutions: "onednn" (BIJGAN_HAVE_DNNL) or "im2col+gemm" (doubles
/// always take im2col + GEMM).
inline const char* host_conv_provider() {
#if defined(BIJGAN_HAVE_DNNL)
  return "onednn";
#else
  return "im2col+gemm";
#endif
}

}  // namespace bijgan
