// The caching device allocator: freed blocks go to per-size free lists and are reused, so ops
// never call cudaMalloc in steady state. On out-of-memory the cache is released and the
// allocation retried once.
#pragma once

#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "bijgan/backend/cuda/error.hpp"

namespace bijgan::cuda_detail {

class caching_allocator {
 public:
  static caching_allocator& instance() {
    static auto* a = new caching_allocator;  // never destroyed: buffers may outlive statics
    return *a;
  }

  /// A block of at least `bytes` bytes (rounded up to 512).
  void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    const std::size_t size = round(bytes);
    std::lock_guard lock(mutex_);
    auto& list = free_[size];
    if (!list.empty()) {
      void* p = list.back();
      list.pop_back();
      cached_ -= size;
      in_use_ += size;
      return p;
    }
    void* p = nullptr;
    if (cudaMalloc(&p, size) != cudaSuccess) {
      (void)cudaGetLastError();
      release_locked();
      BIJGAN_CUDA_CHECK(cudaMalloc(&p, size));
    }
    sizes_[p] = size;
    in_use_ += size;
    return p;
  }

  void deallocate(void* p) noexcept {
    if (!p) return;
    std::lock_guard lock(mutex_);
    const std::size_t size = sizes_.at(p);
    free_[size].push_back(p);
    in_use_ -= size;
    cached_ += size;
  }

  /// Returns every cached block to the driver.
  void release() {
    std::lock_guard lock(mutex_);
    release_locked();
  }
  [[nodiscard]] std::size_t bytes_in_use() const { return in_use_; }
  [[nodiscard]] std::size_t bytes_cached() const { return cached_; }

 private:
  static std::size_t round(std::size_t b) { return (b + 511) / 512 * 512; }
  void release_locked() {
    for (auto& [size, list] : free_) {
      for (void* p : list) {
        cudaFree(p);
        sizes_.erase(p);
      }
      list.clear();
    }
    cached_ = 0;
  }
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::unordered_map<void*, std::size_t> sizes_;
  std::size_t in_use_ = 0, cached_ = 0;
};

}  // namespace bijgan::cuda_detail
