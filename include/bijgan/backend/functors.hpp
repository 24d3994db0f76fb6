// Elementwise functors shared by every backend. Each is a plain struct with a BIJGAN_HD call
// operator so that the host loops and the CUDA kernels run the very same arithmetic.
#pragma once

#include "bijgan/backend/math.hpp"

namespace bijgan::fn {

// The functors read as a table, one per line; clang-format would break each over five.
// clang-format off
// ---- unary -------------------------------------------------------------------------------
struct identity { template <class T> BIJGAN_HD T operator()(T x) const { return x; } };
struct neg { template <class T> BIJGAN_HD T operator()(T x) const { return -x; } };
struct exp { template <class T> BIJGAN_HD T operator()(T x) const { return math::exp(x); } };
struct log { template <class T> BIJGAN_HD T operator()(T x) const { return math::log(x); } };
struct log1p { template <class T> BIJGAN_HD T operator()(T x) const { return math::log1p(x); } };
struct sqrt { template <class T> BIJGAN_HD T operator()(T x) const { return math::sqrt(x); } };
struct rsqrt { template <class T> BIJGAN_HD T operator()(T x) const { return T(1) / math::sqrt(x); } };
struct abs { template <class T> BIJGAN_HD T operator()(T x) const { return math::fabs(x); } };
struct square { template <class T> BIJGAN_HD T operator()(T x) const { return x * x; } };
struct reciprocal { template <class T> BIJGAN_HD T operator()(T x) const { return T(1) / x; } };
struct tanh { template <class T> BIJGAN_HD T operator()(T x) const { return math::tanh(x); } };
struct erf { template <class T> BIJGAN_HD T operator()(T x) const { return math::erf(x); } };
struct sign {
  template <class T> BIJGAN_HD T operator()(T x) const { return T((x > T(0)) - (x < T(0))); }
};
struct sigmoid {
  template <class T> BIJGAN_HD T operator()(T x) const {
    // Split on the sign so exp never overflows.
    if (x >= T(0)) return T(1) / (T(1) + math::exp(-x));
    const T e = math::exp(x);
    return e / (T(1) + e);
  }
};
struct relu { template <class T> BIJGAN_HD T operator()(T x) const { return x > T(0) ? x : T(0); } };
/// 1 where x > 0, else 0: the derivative of relu (0 at the kink).
struct step { template <class T> BIJGAN_HD T operator()(T x) const { return x > T(0) ? T(1) : T(0); } };
struct softplus {
  template <class T> BIJGAN_HD T operator()(T x) const {
    return x > T(0) ? x + math::log1p(math::exp(-x)) : math::log1p(math::exp(x));
  }
};
/// Exact GELU: x * Phi(x).
struct gelu {
  template <class T> BIJGAN_HD T operator()(T x) const {
    return T(0.5) * x * (T(1) + math::erf(x * T(0.70710678118654752440)));
  }
};
/// 1 where x is NaN or +-Inf, else 0.
struct nonfinite { template <class T> BIJGAN_HD T operator()(T x) const { return math::isfinite(x) ? T(0) : T(1); } };

// ---- unary with a scalar parameter -------------------------------------------------------
template <class T> struct add_scalar { T s; BIJGAN_HD T operator()(T x) const { return x + s; } };
template <class T> struct mul_scalar { T s; BIJGAN_HD T operator()(T x) const { return x * s; } };
template <class T> struct rsub_scalar { T s; BIJGAN_HD T operator()(T x) const { return s - x; } };
template <class T> struct rdiv_scalar { T s; BIJGAN_HD T operator()(T x) const { return s / x; } };
template <class T> struct pow_scalar { T p; BIJGAN_HD T operator()(T x) const { return math::pow(x, p); } };
template <class T> struct leaky_relu {
  T slope;
  BIJGAN_HD T operator()(T x) const {  // branch-free, as prelu
    const T pos = x > T(0) ? x : T(0);
    const T neg = x > T(0) ? T(0) : x;
    return pos + slope * neg;
  }
};
/// Derivative of leaky_relu: 1 for x > 0, slope otherwise.
template <class T> struct leaky_step {
  T slope;
  BIJGAN_HD T operator()(T x) const { return x > T(0) ? T(1) : slope; }
};
/// PReLU with a per-element slope operand: x for x > 0, slope * x otherwise.
/// Written as max(x, 0) + slope * min(x, 0): the selects pick values, never the result of a
/// multiply, so GCC vectorises it (a multiply in one branch of a select is not speculated
/// under -ftrapping-math, and the loop stays scalar).
struct prelu {
  template <class T> BIJGAN_HD T operator()(T x, T slope) const {
    const T pos = x > T(0) ? x : T(0);
    const T neg = x > T(0) ? T(0) : x;
    return pos + slope * neg;
  }
};
template <class T> struct clamp {
  T lo, hi;
  BIJGAN_HD T operator()(T x) const { return x < lo ? lo : (x > hi ? hi : x); }
};
/// 1 strictly inside (lo, hi), else 0: the derivative of clamp.
template <class T> struct inside {
  T lo, hi;
  BIJGAN_HD T operator()(T x) const { return (x > lo && x < hi) ? T(1) : T(0); }
};

// ---- binary ------------------------------------------------------------------------------
struct add { template <class T> BIJGAN_HD T operator()(T a, T b) const { return a + b; } };
struct sub { template <class T> BIJGAN_HD T operator()(T a, T b) const { return a - b; } };
struct mul { template <class T> BIJGAN_HD T operator()(T a, T b) const { return a * b; } };
struct div { template <class T> BIJGAN_HD T operator()(T a, T b) const { return a / b; } };
struct pow { template <class T> BIJGAN_HD T operator()(T a, T b) const { return math::pow(a, b); } };
struct maximum { template <class T> BIJGAN_HD T operator()(T a, T b) const { return a > b ? a : b; } };
struct minimum { template <class T> BIJGAN_HD T operator()(T a, T b) const { return a < b ? a : b; } };
/// 1 where a == b, else 0 (used to route the gradient of max/min reductions).
struct equal { template <class T> BIJGAN_HD T operator()(T a, T b) const { return a == b ? T(1) : T(0); } };
/// a / b, and 0 where b == 0 (attention rows with no finite score).
struct div_or_zero { template <class T> BIJGAN_HD T operator()(T a, T b) const { return b == T(0) ? T(0) : a / b; } };
/// Safe x*log(y): 0 where x == 0.
struct xlogy {
  template <class T> BIJGAN_HD T operator()(T x, T y) const { return x == T(0) ? T(0) : x * math::log(y); }
};
/// a + t * (b - a): exponential moving averages (running statistics, weight EMA).
template <class T> struct lerp { T t; BIJGAN_HD T operator()(T a, T b) const { return a + t * (b - a); } };

// ---- ternary -----------------------------------------------------------------------------
/// mask != 0 ? a : b. NaN or Inf in the branch not taken does not leak (unlike m*a + (1-m)*b).
struct select { template <class T> BIJGAN_HD T operator()(T m, T a, T b) const { return m != T(0) ? a : b; } };
/// x, or 0 where x is -inf: a row maximum made safe to subtract (-inf - -inf would be NaN).
struct zero_if_neg_inf { template <class T> BIJGAN_HD T operator()(T x) const { return x == -T(INFINITY) ? T(0) : x; } };
/// p * (a - b): the softmax backward p * (dp - sum(dp * p)) with the row sum given.
struct mul_diff { template <class T> BIJGAN_HD T operator()(T p, T a, T b) const { return p * (a - b); } };

// clang-format on
}  // namespace bijgan::fn
