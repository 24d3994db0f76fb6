// A caching allocator over any raw memory source (host or device): freed blocks are kept in
// per-size-class free lists and handed out again, with a cap on the cached bytes. The host
// block cache and the CUDA caching allocator are both this type with their own Source.
#pragma once

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace bijgan::detail {

/// Source requirements: `static void* allocate(std::size_t)` (nullptr on failure),
/// `static void free(void*)`, `static std::size_t size_class(std::size_t)` (>= its argument),
/// `static constexpr std::size_t min_cached` (smaller blocks bypass the cache),
/// `[[noreturn]] static void out_of_memory(std::size_t)`.
template <class Source>
class block_cache {
 public:
  /// At least `bytes` bytes; reuses a cached block of the same size class when one is free.
  /// When the source fails, every cached block is released and the allocation retried once.
  void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    if (bypasses(bytes)) return raw(bytes);
    const std::size_t size = Source::size_class(bytes);
    {
      std::lock_guard lock(mutex_);
      auto& list = free_[size];
      if (!list.empty()) {
        void* p = list.back();
        list.pop_back();
        cached_ -= size;
        count_in_use(size);
        return p;
      }
    }
    void* p = raw(size);
    std::lock_guard lock(mutex_);
    count_in_use(size);
    return p;
  }

  /// Returns a block obtained from allocate(bytes) with the same `bytes`.
  void deallocate(void* p, std::size_t bytes) noexcept {
    if (!p) return;
    if (bypasses(bytes)) {
      Source::free(p);
      return;
    }
    const std::size_t size = Source::size_class(bytes);
    std::lock_guard lock(mutex_);
    in_use_ -= size;
    if (cached_ + size > limit_) {
      Source::free(p);
      return;
    }
    free_[size].push_back(p);
    cached_ += size;
  }

  /// Gives every cached block back to the source.
  void release() {
    std::lock_guard lock(mutex_);
    release_locked();
  }
  /// Most bytes kept cached; 0 disables caching (blocks go back to the source at once).
  void set_limit(std::size_t bytes) {
    std::lock_guard lock(mutex_);
    limit_ = bytes;
    if (cached_ > limit_) release_locked();
  }
  [[nodiscard]] std::size_t bytes_in_use() const { return locked(in_use_); }
  [[nodiscard]] std::size_t bytes_cached() const { return locked(cached_); }
  /// Highest bytes_in_use() seen (cached size classes only).
  [[nodiscard]] std::size_t peak_bytes_in_use() const { return locked(peak_); }
  /// Blocks obtained from the source so far (cudaMalloc calls for the device cache): constant
  /// across repeated steps of the same shapes once the cache is warm.
  [[nodiscard]] std::size_t source_allocations() const { return locked(sourced_); }

 private:
  std::size_t locked(const std::size_t& field) const {
    std::lock_guard lock(mutex_);
    return field;
  }
  static bool bypasses(std::size_t bytes) {
    if constexpr (Source::min_cached > 0) return bytes < Source::min_cached;
    return false;
  }
  void* raw(std::size_t bytes) {
    void* p = Source::allocate(bytes);
    if (!p) {
      release();
      p = Source::allocate(bytes);
    }
    if (!p) Source::out_of_memory(bytes);
    std::lock_guard lock(mutex_);
    ++sourced_;
    return p;
  }
  void count_in_use(std::size_t size) {
    in_use_ += size;
    peak_ = std::max(peak_, in_use_);
  }
  void release_locked() {
    for (auto& [size, list] : free_) {
      for (void* p : list) Source::free(p);
      list.clear();
    }
    cached_ = 0;
  }
  mutable std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t in_use_ = 0, cached_ = 0, peak_ = 0, sourced_ = 0, limit_ = std::size_t{4} << 30;
};

/// Storage of n elements of T from a block cache: the `buffer<T>` of a backend.
template <class T, class Cache>
class cached_buffer {
 public:
  explicit cached_buffer(std::size_t n) : p_(static_cast<T*>(Cache::get().allocate(n * sizeof(T)))), n_(n) {}
  ~cached_buffer() { Cache::get().deallocate(p_, n_ * sizeof(T)); }
  cached_buffer(const cached_buffer&) = delete;
  cached_buffer& operator=(const cached_buffer&) = delete;
  T* data() noexcept { return p_; }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }

 private:
  T* p_;
  std::size_t n_;
};

}  // namespace bijgan::detail
