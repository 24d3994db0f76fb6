// The host backend's cache of large blocks (>= 64 KiB). Freed blocks are kept in size classes
// and handed out again, so steady-state training never returns pages to the kernel and never
// page-faults them back in (that cost 2-4x on medium tensors). Small blocks go to malloc.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace bijgan {

/// Process-wide statistics and controls of the host block cache.
class host_block_cache {
 public:
  static constexpr std::size_t min_cached = std::size_t{64} << 10;

  static host_block_cache& instance() {
    static auto* c = new host_block_cache;  // never destroyed: buffers may outlive statics
    return *c;
  }

  /// 64-byte aligned storage of at least `bytes`; large requests are rounded to a size class
  /// (at most 1/8 waste) and reuse a cached block when one is free.
  void* allocate(std::size_t bytes) {
    if (bytes < min_cached) return raw(bytes);
    const std::size_t size = size_class(bytes);
    {
      std::lock_guard lock(mutex_);
      auto& list = free_[size];
      if (!list.empty()) {
        void* p = list.back();
        list.pop_back();
        cached_ -= size;
        in_use_ += size;
        peak_ = std::max(peak_, in_use_);
        return p;
      }
    }
    void* p = raw(size);
    std::lock_guard lock(mutex_);
    in_use_ += size;
    peak_ = std::max(peak_, in_use_);
    return p;
  }

  void deallocate(void* p, std::size_t bytes) noexcept {
    if (!p) return;
    if (bytes < min_cached) {
      std::free(p);
      return;
    }
    const std::size_t size = size_class(bytes);
    std::lock_guard lock(mutex_);
    in_use_ -= size;
    if (cached_ + size > limit_) {
      std::free(p);
      return;
    }
    free_[size].push_back(p);
    cached_ += size;
  }

  /// Frees every cached block.
  void release() {
    std::lock_guard lock(mutex_);
    for (auto& [size, list] : free_) {
      for (void* p : list) std::free(p);
      list.clear();
    }
    cached_ = 0;
  }
  /// Most bytes kept cached (default 4 GiB); 0 disables caching.
  void set_limit(std::size_t bytes) {
    {
      std::lock_guard lock(mutex_);
      limit_ = bytes;
    }
    if (cached_ > bytes) release();
  }
  [[nodiscard]] std::size_t bytes_in_use() const { return in_use_; }
  [[nodiscard]] std::size_t bytes_cached() const { return cached_; }
  /// Highest bytes_in_use() seen (large blocks only).
  [[nodiscard]] std::size_t peak_bytes_in_use() const { return peak_; }

 private:
  static std::size_t size_class(std::size_t bytes) {
    const std::size_t top = std::bit_ceil(bytes), step = std::max<std::size_t>(top / 8, 64);
    return (bytes + step - 1) / step * step;
  }
  static void* raw(std::size_t bytes) {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return p;
  }
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t in_use_ = 0, cached_ = 0, peak_ = 0, limit_ = std::size_t{4} << 30;
};

}  // namespace bijgan
