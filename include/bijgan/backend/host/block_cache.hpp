// The host backend's memory: blocks >= 64 KiB come from a block cache (size classes with at
// most 1/8 waste), so steady-state training never returns pages to the kernel and never
// page-faults them back in (that cost 2-4x on medium tensors); smaller blocks go to malloc.
#pragma once

#include <bit>
#include <cstdlib>
#include <new>

#include "bijgan/detail/block_cache.hpp"

namespace bijgan {

namespace detail {
/// 64-byte aligned host memory.
struct host_memory {
  static constexpr std::size_t min_cached = std::size_t{64} << 10;
  static void* allocate(std::size_t bytes) { return std::aligned_alloc(64, (bytes + 63) / 64 * 64); }
  static void free(void* p) noexcept { std::free(p); }
  static std::size_t size_class(std::size_t bytes) {
    const std::size_t step = std::max<std::size_t>(std::bit_ceil(bytes) / 8, 64);
    return (bytes + step - 1) / step * step;
  }
  [[noreturn]] static void out_of_memory(std::size_t) { throw std::bad_alloc(); }
};
}  // namespace detail

/// The process-wide host block cache: `host_block_cache::get()` for statistics
/// (bytes_in_use, bytes_cached, peak_bytes_in_use) and controls (set_limit, release).
struct host_block_cache {
  static detail::block_cache<detail::host_memory>& get() {
    static auto* c = new detail::block_cache<detail::host_memory>;  // never destroyed: buffers may outlive statics
    return *c;
  }
};

}  // namespace bijgan
