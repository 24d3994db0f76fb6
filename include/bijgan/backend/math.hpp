// Scalar math usable on host and device (BIJGAN_HD): one spelling for float and double that maps
// to the C library on the host and to CUDA's intrinsics under nvcc.
#pragma once

#include <cmath>

#include "bijgan/config/config.hpp"

namespace bijgan::math {

#define BIJGAN_MATH_UNARY(name)                                 \
  BIJGAN_HD inline float name(float x) { return ::name##f(x); } \
  BIJGAN_HD inline double name(double x) { return ::name(x); }

BIJGAN_MATH_UNARY(exp)
BIJGAN_MATH_UNARY(log)
BIJGAN_MATH_UNARY(log1p)
BIJGAN_MATH_UNARY(expm1)
BIJGAN_MATH_UNARY(sqrt)
BIJGAN_MATH_UNARY(tanh)
BIJGAN_MATH_UNARY(erf)
BIJGAN_MATH_UNARY(fabs)
BIJGAN_MATH_UNARY(cos)
BIJGAN_MATH_UNARY(sin)
#undef BIJGAN_MATH_UNARY

BIJGAN_HD inline float pow(float x, float y) { return ::powf(x, y); }
BIJGAN_HD inline double pow(double x, double y) { return ::pow(x, y); }

template <class T>
BIJGAN_HD inline bool isfinite(T x) {
  return x - x == x - x;  // false for NaN and +-Inf, without relying on fast-math-sensitive calls
}

/// Inverse error function: a rational first guess refined by two Newton steps on erf.
template <class T>
BIJGAN_HD inline T erfinv(T y) {
  if (y <= T(-1)) return -T(INFINITY);
  if (y >= T(1)) return T(INFINITY);
  // Giles (2010) single-precision approximation as the starting point.
  const double w0 = -::log((1.0 - double(y)) * (1.0 + double(y)));
  double x;
  if (w0 < 5.0) {
    const double w = w0 - 2.5;
    double p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
    x = p * double(y);
  } else {
    const double w = ::sqrt(w0) - 3.0;
    double p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
    x = p * double(y);
  }
  const double two_over_sqrt_pi = 1.1283791670955126;
  for (int i = 0; i < 2; ++i) {
    const double err = ::erf(x) - double(y);
    x -= err / (two_over_sqrt_pi * ::exp(-x * x));
  }
  return T(x);
}

}  // namespace bijgan::math
