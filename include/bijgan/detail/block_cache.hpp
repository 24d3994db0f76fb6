// A caching allocator over any raw memory source (host or device). Memory comes from the source in
// segments; a request is served by the smallest free block that fits (best fit), split when the
// rest is worth keeping, and a freed block merges with its free neighbours, so one freed 100 MB
// activation can serve the next 60 MB and 40 MB gradients. Requests under half the Source's
// large_segment share segments of that size; on the host those are 384 MiB of address space whose
// pages cost memory only once touched, so most of the working set coalesces. (The first version
// kept exact size classes: each class held its own peak, and the faces step's RSS sat 0.6 GB above
// the bytes in use.) Segments go back to the source only whole: on release(), over the cache
// limit, or when the source fails. The host block cache and the CUDA caching allocator are both
// this type with their own Source.
#pragma once

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <set>
#include <unordered_map>

namespace bijgan::detail {

/// Source requirements: `static void* allocate(std::size_t)` (nullptr on failure),
/// `static void free(void*)`, `static constexpr std::size_t min_cached` (smaller blocks bypass
/// the cache), `static constexpr std::size_t large_segment` (a multiple of 2 MiB),
/// `[[noreturn]] static void out_of_memory(std::size_t)`. Segments are multiples of 2 MiB and
/// blocks start at multiples of 512 bytes from a segment's start, so the source's alignment
/// (64 bytes on the host, 256 for cudaMalloc) is kept.
template <class Source>
class block_cache {
 public:
  static constexpr std::size_t granule = 512;                       // block sizes and offsets
  static constexpr std::size_t small_limit = std::size_t{1} << 20;  // small pool: <= 1 MiB
  static constexpr std::size_t small_segment = std::size_t{2} << 20;
  static constexpr std::size_t shared_limit = Source::large_segment / 2;  // smaller requests share segments
  static_assert(Source::large_segment % small_segment == 0 && shared_limit > small_limit);

  block_cache() = default;
  block_cache(const block_cache&) = delete;
  block_cache& operator=(const block_cache&) = delete;
  ~block_cache() {
    std::lock_guard lock(mutex_);
    release_locked();
  }

  /// At least `bytes` bytes: the best-fitting free block of its pool, split when the rest is
  /// large enough to keep (512 bytes in the small pool, 1 MiB in the large), or a new segment.
  /// When the source fails, every free segment is released and the allocation retried once.
  void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    if (bypasses(bytes)) return raw(bytes);
    const std::size_t size = round_up(bytes, granule);
    const bool small = size <= small_limit;
    std::lock_guard lock(mutex_);
    block* b = best_fit(small, size);
    if (b) {
      free_of(small).erase(b);
      cached_ -= b->size;
      if (!b->prev && !b->next) --free_segments_;
    } else {
      b = new_segment(small, size);
    }
    if (b->size - size >= (small ? granule : small_limit)) split(b, size);
    b->free = false;
    live_.emplace(b->ptr, b);
    in_use_ += b->size;
    peak_ = std::max(peak_, in_use_);
    peak_reserved_ = std::max(peak_reserved_, in_use_ + cached_);
    return b->ptr;
  }

  /// Returns a block obtained from allocate(bytes) with the same `bytes`.
  void deallocate(void* p, std::size_t bytes) noexcept {
    if (!p) return;
    if (bypasses(bytes)) {
      Source::free(p);
      return;
    }
    std::lock_guard lock(mutex_);
    const auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours: nothing sane to do in a noexcept path
    block* b = it->second;
    live_.erase(it);
    in_use_ -= b->size;
    b->free = true;
    b = merge(b);
    free_of(b->small).insert(b);
    cached_ += b->size;
    if (!b->prev && !b->next) ++free_segments_;
    if (cached_ > limit_ && free_segments_ > 0) release_locked();
  }

  /// Gives every wholly free segment back to the source.
  void release() {
    std::lock_guard lock(mutex_);
    release_locked();
  }
  /// Most free bytes kept in segments; over it, wholly free segments go back to the source (0:
  /// a segment is returned as soon as nothing in it is in use; a segment that still holds a
  /// block in use stays).
  void set_limit(std::size_t bytes) {
    std::lock_guard lock(mutex_);
    limit_ = bytes;
    if (cached_ > limit_) release_locked();
  }
  [[nodiscard]] std::size_t bytes_in_use() const { return locked(in_use_); }
  /// Free bytes inside the segments held (reusable without asking the source; on the host, pages
  /// of them never touched take no memory).
  [[nodiscard]] std::size_t bytes_cached() const { return locked(cached_); }
  /// Bytes held from the source: in use plus cached (address space on the host: see
  /// bytes_cached).
  [[nodiscard]] std::size_t bytes_reserved() const {
    std::lock_guard lock(mutex_);
    return in_use_ + cached_;
  }
  /// Highest bytes_in_use() seen (cached blocks only).
  [[nodiscard]] std::size_t peak_bytes_in_use() const { return locked(peak_); }
  /// Highest bytes_reserved() seen: what the cache cost at most.
  [[nodiscard]] std::size_t peak_bytes_reserved() const { return locked(peak_reserved_); }
  /// Segments obtained from the source so far (cudaMalloc calls for the device cache): constant
  /// across repeated steps of the same shapes once the cache is warm.
  [[nodiscard]] std::size_t source_allocations() const { return locked(sourced_); }

 private:
  /// A run of bytes inside a segment; prev/next are its neighbours in the same segment.
  struct block {
    std::byte* ptr = nullptr;
    std::size_t size = 0;
    bool small = false, free = true;
    block *prev = nullptr, *next = nullptr;
  };
  struct by_size {
    bool operator()(const block* a, const block* b) const {
      return a->size != b->size ? a->size < b->size : a->ptr < b->ptr;
    }
  };
  using free_set = std::set<block*, by_size>;

  static std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }
  static bool bypasses(std::size_t bytes) {
    if constexpr (Source::min_cached > 0) return bytes < Source::min_cached;
    return false;
  }
  std::size_t locked(const std::size_t& field) const {
    std::lock_guard lock(mutex_);
    return field;
  }
  free_set& free_of(bool small) { return small ? free_small_ : free_large_; }

  block* best_fit(bool small, std::size_t size) {
    auto& set = free_of(small);
    block probe;
    probe.size = size;
    const auto it = set.lower_bound(&probe);
    return it == set.end() ? nullptr : *it;
  }
  /// A new segment for a request of `size` (the lock is held), as one block not in any set.
  block* new_segment(bool small, std::size_t size) {
    std::size_t bytes = small                 ? small_segment
                        : size < shared_limit ? Source::large_segment
                                              : round_up(size, small_segment);
    void* p = Source::allocate(bytes);
    if (!p) {
      release_locked();
      p = Source::allocate(bytes);
    }
    if (!p && !small && bytes > round_up(size, small_segment)) {  // no room for a shared segment
      bytes = round_up(size, small_segment);
      p = Source::allocate(bytes);
    }
    if (!p) Source::out_of_memory(bytes);
    ++sourced_;
    return new block{static_cast<std::byte*>(p), bytes, small, true, nullptr, nullptr};
  }
  /// Cuts b to `size` bytes; the rest becomes a free block after it.
  void split(block* b, std::size_t size) {
    auto* rest = new block{b->ptr + size, b->size - size, b->small, true, b, b->next};
    if (b->next) b->next->prev = rest;
    b->next = rest;
    b->size = size;
    free_of(b->small).insert(rest);
    cached_ += rest->size;
  }
  /// Joins the freed block b with its free neighbours (taking them out of their set).
  block* merge(block* b) {
    if (b->prev && b->prev->free) b = absorb(take(b->prev), b);
    if (b->next && b->next->free) b = absorb(b, take(b->next));
    return b;
  }
  /// Takes the free block x out of its set.
  block* take(block* x) {
    free_of(x->small).erase(x);
    cached_ -= x->size;
    return x;
  }
  /// Joins `right` onto its left neighbour `left`; returns left.
  static block* absorb(block* left, block* right) {
    left->size += right->size;
    left->next = right->next;
    if (right->next) right->next->prev = left;
    delete right;
    return left;
  }
  void* raw(std::size_t bytes) {
    void* p = Source::allocate(bytes);
    if (!p) {
      release();
      p = Source::allocate(bytes);
    }
    if (!p) Source::out_of_memory(bytes);
    return p;
  }
  void release_locked() {
    for (free_set* set : {&free_small_, &free_large_})
      for (auto it = set->begin(); it != set->end();) {
        block* b = *it;
        if (b->prev || b->next) {
          ++it;
          continue;
        }
        it = set->erase(it);
        cached_ -= b->size;
        --free_segments_;
        Source::free(b->ptr);
        delete b;
      }
  }

  mutable std::mutex mutex_;
  free_set free_small_, free_large_;
  std::unordered_map<void*, block*> live_;
  std::size_t in_use_ = 0, cached_ = 0, peak_ = 0, peak_reserved_ = 0, sourced_ = 0;
  std::size_t free_segments_ = 0;  // segments with nothing in use
  std::size_t limit_ = std::size_t{4} << 30;
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
