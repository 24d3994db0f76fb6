// The CUDA caching allocator: device blocks in 512-byte size classes, kept in free lists and
// reused, so ops never call cudaMalloc in steady state. On out-of-memory the cache is released
// and the allocation retried once; a second failure throws backend_error.
#pragma once

#include "bijgan/backend/cuda/error.hpp"
#include "bijgan/detail/block_cache.hpp"

namespace bijgan::cuda_detail {

struct device_memory {
  static constexpr std::size_t min_cached = 0;
  static void* allocate(std::size_t bytes) {
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
      (void)cudaGetLastError();
      return nullptr;
    }
    return p;
  }
  static void free(void* p) noexcept { cudaFree(p); }
  static std::size_t size_class(std::size_t bytes) { return (bytes + 511) / 512 * 512; }
  [[noreturn]] static void out_of_memory(std::size_t bytes) {
    fail<backend_error>("cuda", "cudaMalloc of ", bytes, " bytes failed (out of device memory, cache released)");
  }
};

/// The process-wide device block cache.
struct caching_allocator {
  static detail::block_cache<device_memory>& get() {
    static auto* c = new detail::block_cache<device_memory>;  // never destroyed: buffers may outlive statics
    return *c;
  }
};

}  // namespace bijgan::cuda_detail
