// Parameter initialisers (seeded): uniform, normal, truncated normal, Xavier/Glorot and
// Kaiming/He in both forms, zeros. Fans follow PyTorch: fan_in = size(1) * receptive field,
// fan_out = size(0) * receptive field, so (out, in) linear and (out, in, kh, kw) conv weights
// get the usual scales.
#pragma once

#include <cmath>
#include <cstdint>

#include "bijgan/tensor/tensor.hpp"

namespace bijgan::nn {

/// The generator modules draw their initial parameters from when none is passed (one per
/// thread, seed 0 until manual_seed).
inline rng& default_rng() {
  thread_local rng g(0);
  return g;
}
/// Restarts the default generator at seed s (reproducible module construction).
inline void manual_seed(std::uint64_t s) { default_rng() = rng(s); }

namespace init {

struct fans {
  index_t in = 1, out = 1;
};
/// fan_in and fan_out of a weight of shape s (rank >= 2; rank 1 counts as fan_in = fan_out = n).
inline fans fans_of(const shape& s) {
  if (s.rank() == 0) fail<shape_error>("init::fans_of", "needs rank >= 1, got ", s);
  if (s.rank() == 1) return {s[0], s[0]};
  index_t receptive = 1;
  for (std::size_t i = 2; i < s.rank(); ++i) receptive *= s[i];
  return {s[1] * receptive, s[0] * receptive};
}

/// Gain for a following nonlinearity with negative slope a (0: relu -> sqrt 2; 1: linear -> 1).
inline double leaky_gain(double a) { return std::sqrt(2.0 / (1 + a * a)); }

template <class T = float, class B = host>
tensor<T, B> uniform(const shape& s, double lo, double hi, rng& g = default_rng()) {
  return tensor<T, B>::random(s, g, {distribution::uniform, static_cast<T>(lo), static_cast<T>(hi)});
}
template <class T = float, class B = host>
tensor<T, B> normal(const shape& s, double mean, double std, rng& g = default_rng()) {
  return tensor<T, B>::random(s, g, {distribution::normal, static_cast<T>(mean), static_cast<T>(std)});
}
/// Normal(mean, std) truncated to [mean + lo*std, mean + hi*std].
template <class T = float, class B = host>
tensor<T, B> truncated_normal(const shape& s, double mean, double std, rng& g = default_rng(), double lo = -2,
                              double hi = 2) {
  return tensor<T, B>::random(s, g,
                              {distribution::truncated_normal, static_cast<T>(mean), static_cast<T>(std),
                               static_cast<T>(lo), static_cast<T>(hi)});
}
template <class T = float, class B = host>
tensor<T, B> zeros(const shape& s) {
  return tensor<T, B>::zeros(s);
}
/// Glorot: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).
template <class T = float, class B = host>
tensor<T, B> xavier_uniform(const shape& s, rng& g = default_rng(), double gain = 1) {
  const auto f = fans_of(s);
  const double a = gain * std::sqrt(6.0 / static_cast<double>(f.in + f.out));
  return uniform<T, B>(s, -a, a, g);
}
/// Glorot: N(0, gain^2 * 2 / (fan_in + fan_out)).
template <class T = float, class B = host>
tensor<T, B> xavier_normal(const shape& s, rng& g = default_rng(), double gain = 1) {
  const auto f = fans_of(s);
  return normal<T, B>(s, 0, gain * std::sqrt(2.0 / static_cast<double>(f.in + f.out)), g);
}
/// He: U(-b, b), b = leaky_gain(a) * sqrt(3 / fan_in). a = sqrt(5) gives PyTorch's default
/// for linear and conv weights.
template <class T = float, class B = host>
tensor<T, B> kaiming_uniform(const shape& s, rng& g = default_rng(), double a = 0) {
  const double b = leaky_gain(a) * std::sqrt(3.0 / static_cast<double>(fans_of(s).in));
  return uniform<T, B>(s, -b, b, g);
}
/// He: N(0, leaky_gain(a)^2 / fan_in).
template <class T = float, class B = host>
tensor<T, B> kaiming_normal(const shape& s, rng& g = default_rng(), double a = 0) {
  return normal<T, B>(s, 0, leaky_gain(a) / std::sqrt(static_cast<double>(fans_of(s).in)), g);
}

}  // namespace init
}  // namespace bijgan::nn
