// The CUDA caching allocator: device segments split into 512-byte-granular blocks and merged
// again when freed (detail/block_cache.hpp), so ops never call cudaMalloc in steady state. On out-of-memory the cache
// is released and the allocation retried once; a second failure throws backend_error.
#pragma once

#include "bijgan/backend/cuda/error.hpp"
#include "bijgan/detail/block_cache.hpp"

namespace bijgan::cuda_detail {

struct device_memory {
  static constexpr std::size_t min_cached = 0;
  /// Device memory is committed at cudaMalloc: requests under 10 MiB share 20 MiB segments.
  static constexpr std::size_t large_segment = std::size_t{20} << 20;
  static void* allocate(std::size_t bytes) {
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
      (void)cudaGetLastError();
      return nullptr;
    }
    return p;
  }
  static void free(void* p) noexcept { cudaFree(p); }
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
