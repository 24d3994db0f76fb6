// Philox4x32-10 (Salmon et al., SC'11): a counter-based random generator. Element i of a draw
// is a pure function of (seed, offset + i), so the host and CUDA backends produce the same
// stream and a draw parallelises without shared state.
#pragma once

#include <cstdint>

#include "bijgan/backend/math.hpp"

namespace bijgan {

/// The distributions a backend can draw.
enum class distribution : std::uint8_t { uniform, normal, truncated_normal };

/// Parameters of one draw: uniform on [a, b); normal with mean a, stddev b; truncated normal
/// with mean a, stddev b, cut to [a + lo*b, a + hi*b].
template <class T>
struct draw_params {
  distribution kind = distribution::uniform;
  T a = 0, b = 1;
  T lo = -2, hi = 2;
};

namespace detail {

struct philox_block {
  std::uint32_t w[4];
};

BIJGAN_HD inline std::uint32_t mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  return static_cast<std::uint32_t>(p);
}

/// Ten Philox rounds on counter c with key k.
BIJGAN_HD inline philox_block philox4x32_10(std::uint64_t counter_lo, std::uint64_t counter_hi, std::uint64_t key) {
  std::uint32_t c0 = static_cast<std::uint32_t>(counter_lo), c1 = static_cast<std::uint32_t>(counter_lo >> 32);
  std::uint32_t c2 = static_cast<std::uint32_t>(counter_hi), c3 = static_cast<std::uint32_t>(counter_hi >> 32);
  std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
  for (int r = 0; r < 10; ++r) {
    std::uint32_t hi0, hi1;
    const std::uint32_t lo0 = mulhilo(0xD2511F53u, c0, hi0);
    const std::uint32_t lo1 = mulhilo(0xCD9E8D57u, c2, hi1);
    const std::uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

/// Uniform in (0, 1] from 32 bits (float) or from two words (double, 53 bits).
template <class T>
BIJGAN_HD inline T open_unit(std::uint32_t w0, std::uint32_t w1) {
  if constexpr (sizeof(T) == 4) {
    (void)w1;
    return (static_cast<float>(w0 >> 8) + 1.0f) * (1.0f / 16777216.0f);
  } else {
    const std::uint64_t bits = (static_cast<std::uint64_t>(w0) << 21) ^ (w1 >> 11);
    return (static_cast<double>(bits & ((1ull << 53) - 1)) + 1.0) * (1.0 / 9007199254740992.0);
  }
}

template <class T>
BIJGAN_HD inline T normal_cdf(T x) {
  return T(0.5) * (T(1) + math::erf(x * T(0.70710678118654752440)));
}

}  // namespace detail

/// Element functor: value of draw element i. Every backend maps it over the indices 0..n-1.
template <class T>
struct philox_draw {
  std::uint64_t seed;
  std::uint64_t offset;
  draw_params<T> p;

  BIJGAN_HD T operator()(std::uint64_t i) const {
    const auto blk = detail::philox4x32_10(offset + i, 0x62696A67616EULL /* "bijgan" */, seed);
    const T u1 = detail::open_unit<T>(blk.w[0], blk.w[1]);
    switch (p.kind) {
      case distribution::uniform:
        return p.a + (p.b - p.a) * (T(1) - u1);  // [a, b)
      case distribution::normal: {
        const T u2 = detail::open_unit<T>(blk.w[2], blk.w[3]);
        const T r = math::sqrt(T(-2) * math::log(u1));
        return p.a + p.b * r * math::cos(T(6.283185307179586477) * u2);
      }
      case distribution::truncated_normal: {
        const T cl = detail::normal_cdf(p.lo), ch = detail::normal_cdf(p.hi);
        const T q = cl + (ch - cl) * (T(1) - u1);
        T z = T(1.4142135623730950488) * math::erfinv(T(2) * q - T(1));
        z = z < p.lo ? p.lo : (z > p.hi ? p.hi : z);
        return p.a + p.b * z;
      }
    }
    return T(0);
  }
};

/// A seeded stream: each draw of n elements consumes counters [offset, offset + n).
class rng {
 public:
  explicit rng(std::uint64_t seed = 0x5EED) : seed_(seed) {}
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }
  [[nodiscard]] std::uint64_t offset() const noexcept { return offset_; }
  void set_offset(std::uint64_t o) noexcept { offset_ = o; }
  /// Reserves n counters and returns the element functor for them.
  template <class T>
  philox_draw<T> next(std::uint64_t n, draw_params<T> p) {
    philox_draw<T> d{seed_, offset_, p};
    offset_ += n;
    return d;
  }

 private:
  std::uint64_t seed_;
  std::uint64_t offset_ = 0;
};

}  // namespace bijgan
