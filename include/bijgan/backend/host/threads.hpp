// Thread control for the host backend: one call sets OpenMP, Eigen and OpenBLAS together.
#pragma once

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "bijgan/config/config.hpp"

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

/// Which GEMM the host backend calls: "openblas" (EIGEN_USE_BLAS) or "eigen".
inline const char* host_gemm_provider() {
#if defined(EIGEN_USE_BLAS)
  return "openblas";
#else
  return "eigen";
#endif
}

}  // namespace bijgan
