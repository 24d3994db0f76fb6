// The host backend's memory: blocks >= 64 KiB come from a block cache (segments split and
// merged, best fit: detail/block_cache.hpp), so steady-state training never returns pages to
// the kernel and never page-faults them back in (that cost 2-4x on medium tensors); smaller
// blocks go to malloc.
#pragma once

#include <cstdlib>
#include <new>

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
  static void* allocate(std::size_t bytes) { return std::aligned_alloc(64, (bytes + 63) / 64 * 64); }
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
