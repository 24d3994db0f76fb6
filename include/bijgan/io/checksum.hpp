// FNV-1a (64-bit), the checksum engines and feature caches key their files with: cheap, and
// stable across machines and runs, which is all a cache key needs (it is not a defence
// against a file made to collide).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace bijgan::io {

/// 64-bit FNV-1a over bytes fed in any number of pieces; the value after feeding a, then b
/// equals that of a and b fed as one. fnv1a{}.update("a", 1).value() == 0xaf63dc4c8601ec8c.
class fnv1a {
 public:
  fnv1a& update(const void* data, std::size_t n) noexcept {
    const auto* b = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h_ = (h_ ^ b[i]) * prime;
    return *this;
  }
  fnv1a& update(std::span<const unsigned char> bytes) noexcept { return update(bytes.data(), bytes.size()); }
  [[nodiscard]] std::uint64_t value() const noexcept { return h_; }

 private:
  static constexpr std::uint64_t offset_basis = 14695981039346656037ULL;
  static constexpr std::uint64_t prime = 1099511628211ULL;
  std::uint64_t h_ = offset_basis;
};

/// FNV-1a of one buffer.
[[nodiscard]] inline std::uint64_t fnv1a_of(std::span<const unsigned char> bytes) noexcept {
  return fnv1a{}.update(bytes).value();
}

}  // namespace bijgan::io
