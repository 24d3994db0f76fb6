// The host backend's memory: blocks >= 64 KiB come from a block cache (segments split and
// merged, best fit: detail/block_cache.hpp), so steady-state training never returns pages to
// the kernel and never page-faults them back in (that cost 2-4x on medium tensors); smaller
// blocks go to malloc. Segments are 2 MiB aligned and, on Linux, marked for transparent huge
// pages: streaming kernels then take one TLB entry per 2 MiB instead of per 4 KiB.
#pragma once

#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "bijgan/detail/block_cache.hpp"

namespace bijgan {

namespace detail {
/// 64-byte aligned host memory.
struct host_memory {
  static constexpr std::size_t min_cached = std::size_t{64} << 10;
  /// Requests under 192 MiB share 384 MiB segments: malloc'd address space, committed page by
  /// page as it is touched, so sharing costs little memory and most of a step's blocks can merge
  /// (faces_bench: peak RSS 2,028 MB with 20 MiB segments, 1,932 MB with these; 1 GiB segments
  /// gave 1,783 MB, but a 1 GiB malloc is a finding for the fuzz targets, which stop at 512 MB).
  static constexpr std::size_t large_segment = std::size_t{384} << 20;
  static constexpr std::size_t huge_page = std::size_t{2} << 20;
  /// Whether segments ask for transparent huge pages: yes unless BIJGAN_HUGE_PAGES=off (read
  /// once). A same-shape add of two 16 MB tensors at 1 thread: 2.5-3.0 ms on 4 KiB pages,
  /// 1.4-2.1 ms on huge pages (libtorch 1.13: 2.6-3.0 ms). Where the kernel's THP mode is
  /// `never` the advice is ignored; where it is `always` it changes nothing.
  static bool huge_pages() {
    static const bool on = [] {
      const char* e = std::getenv("BIJGAN_HUGE_PAGES");
      return !(e && (std::strcmp(e, "off") == 0 || std::strcmp(e, "0") == 0));
    }();
    return on;
  }
  /// Segments (multiples of 2 MiB) are 2 MiB aligned and advised MADV_HUGEPAGE; the blocks
  /// that bypass the cache are 64-byte aligned.
  static void* allocate(std::size_t bytes) {
    if (bytes < huge_page || bytes % huge_page != 0) return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    void* p = std::aligned_alloc(huge_page, bytes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p && huge_pages()) (void)::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
    return p;
  }
  static void free(void* p) noexcept { std::free(p); }
  [[noreturn]] static void out_of_memory(std::size_t) { throw std::bad_alloc(); }
};
}  // namespace detail

/// The process-wide host block cache: `host_block_cache::get()` for statistics
/// (bytes_in_use, bytes_cached, bytes_reserved, peak_bytes_in_use, peak_bytes_reserved) and
/// controls (set_limit, release).
struct host_block_cache {
  static detail::block_cache<detail::host_memory>& get() {
    static auto* c = new detail::block_cache<detail::host_memory>;  // never destroyed: buffers may outlive statics
    return *c;
  }
};

}  // namespace bijgan
