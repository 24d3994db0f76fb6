// The device context: one stream and one cuBLAS handle per process (device 0 unless set), and
// device discovery that reports "no device" instead of throwing where no driver is present.
#pragma once

#include "bijgan/backend/cuda/error.hpp"

namespace bijgan::cuda_detail {

class context {
 public:
  static context& get() {
    static auto* c = new context;  // never destroyed: the runtime may be gone at exit
    return *c;
  }
  [[nodiscard]] cudaStream_t stream() const noexcept { return stream_; }
  [[nodiscard]] cublasHandle_t blas() const noexcept { return blas_; }
  context(const context&) = delete;
  context& operator=(const context&) = delete;

 private:
  context() {
    BIJGAN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    BIJGAN_CUDA_CHECK(cublasCreate(&blas_));
    BIJGAN_CUDA_CHECK(cublasSetStream(blas_, stream_));
  }
  cudaStream_t stream_{};
  cublasHandle_t blas_{};
};

}  // namespace bijgan::cuda_detail
