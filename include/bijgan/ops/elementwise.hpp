// Differentiable elementwise ops on var: arithmetic with broadcasting and scalars, and the
// unary math functions. Forward passes run one fused kernel; backward rules are written with
// these same ops, so every gradient is differentiable again (gradients of gradients).
#pragma once

#include <numbers>

#include "bijgan/autodiff/var.hpp"
#include "bijgan/config/instances.hpp"

namespace bijgan {

template <class T, class B>
var<T, B> sum_to(const var<T, B>& x, const shape& s);

namespace detail {
/// Records a unary op: value f(x), one input, the given rule.
template <class F, class T, class B, class Rule>
var<T, B> unary(const char* name, F f, const var<T, B>& x, Rule rule) {
  return var<T, B>::make(apply(f, x.value()), name, {x}, std::move(rule));
}
/// Records a broadcasting binary op.
template <class F, class T, class B, class Rule>
var<T, B> binary(const char* name, F f, const var<T, B>& a, const var<T, B>& b, Rule rule) {
  return var<T, B>::make(apply(f, a.value(), b.value(), name), name, {a, b}, std::move(rule));
}
/// A constant var computed from x's value (masks and signs in backward rules).
template <class F, class T, class B>
var<T, B> constant_of(F f, const var<T, B>& x) {
  return constant(apply(f, x.value()));
}
}  // namespace detail

// ---- arithmetic --------------------------------------------------------------------------

template <class T, class B>
var<T, B> operator+(const var<T, B>& a, const var<T, B>& b) {
  return detail::binary("add", fn::add{}, a, b, [](const auto& out, const auto& g, auto gr) {
    const auto& in = out.inputs();
    gr[0] = sum_to(g, in[0].shape());
    gr[1] = sum_to(g, in[1].shape());
  });
}
template <class T, class B>
var<T, B> operator-(const var<T, B>& a, const var<T, B>& b) {
  return detail::binary("sub", fn::sub{}, a, b, [](const auto& out, const auto& g, auto gr) {
    const auto& in = out.inputs();
    gr[0] = sum_to(g, in[0].shape());
    gr[1] = sum_to(-g, in[1].shape());
  });
}
template <class T, class B>
var<T, B> operator*(const var<T, B>& a, const var<T, B>& b) {
  return detail::binary("mul", fn::mul{}, a, b, [](const auto& out, const auto& g, auto gr) {
    const auto& in = out.inputs();
    if (gr.wanted(0)) gr[0] = sum_to(g * in[1], in[0].shape());
    if (gr.wanted(1)) gr[1] = sum_to(g * in[0], in[1].shape());
  });
}
template <class T, class B>
var<T, B> operator/(const var<T, B>& a, const var<T, B>& b) {
  return detail::binary("div", fn::div{}, a, b, [](const auto& out, const auto& g, auto gr) {
    const auto& in = out.inputs();
    if (gr.wanted(0)) gr[0] = sum_to(g / in[1], in[0].shape());
    if (gr.wanted(1)) gr[1] = sum_to(-(g * out) / in[1], in[1].shape());
  });
}
template <class T, class B>
var<T, B> operator-(const var<T, B>& x) {
  return detail::unary("neg", fn::neg{}, x, [](const auto&, const auto& g, auto gr) { gr[0] = -g; });
}

template <class T, class B>
var<T, B> operator+(const var<T, B>& x, T s) {
  return detail::unary("add_scalar", fn::add_scalar<T>{s}, x, [](const auto&, const auto& g, auto gr) { gr[0] = g; });
}
template <class T, class B>
var<T, B> operator+(T s, const var<T, B>& x) {
  return x + s;
}
template <class T, class B>
var<T, B> operator-(const var<T, B>& x, T s) {
  return x + (-s);
}
template <class T, class B>
var<T, B> operator-(T s, const var<T, B>& x) {
  return detail::unary("rsub_scalar", fn::rsub_scalar<T>{s}, x,
                       [](const auto&, const auto& g, auto gr) { gr[0] = -g; });
}
template <class T, class B>
var<T, B> operator*(const var<T, B>& x, T s) {
  return detail::unary("mul_scalar", fn::mul_scalar<T>{s}, x,
                       [s](const auto&, const auto& g, auto gr) { gr[0] = g * s; });
}
template <class T, class B>
var<T, B> operator*(T s, const var<T, B>& x) {
  return x * s;
}
template <class T, class B>
var<T, B> operator/(const var<T, B>& x, T s) {
  return x * (T(1) / s);
}
template <class T, class B>
var<T, B> operator/(T s, const var<T, B>& x) {
  return detail::unary("rdiv_scalar", fn::rdiv_scalar<T>{s}, x,
                       [](const auto& out, const auto& g, auto gr) { gr[0] = -(g * out) / out.inputs()[0]; });
}

// ---- unary math --------------------------------------------------------------------------

template <class T, class B>
var<T, B> exp(const var<T, B>& x) {
  return detail::unary("exp", fn::exp{}, x, [](const auto& out, const auto& g, auto gr) { gr[0] = g * out; });
}
/// Natural logarithm; x must be positive (NaN otherwise, caught by detect_anomaly).
template <class T, class B>
var<T, B> log(const var<T, B>& x) {
  return detail::unary("log", fn::log{}, x,
                       [](const auto& out, const auto& g, auto gr) { gr[0] = g / out.inputs()[0]; });
}
template <class T, class B>
var<T, B> log1p(const var<T, B>& x) {
  return detail::unary("log1p", fn::log1p{}, x,
                       [](const auto& out, const auto& g, auto gr) { gr[0] = g / (out.inputs()[0] + T(1)); });
}
template <class T, class B>
var<T, B> sqrt(const var<T, B>& x) {
  return detail::unary("sqrt", fn::sqrt{}, x,
                       [](const auto& out, const auto& g, auto gr) { gr[0] = (g * T(0.5)) / out; });
}
/// 1 / sqrt(x).
template <class T, class B>
var<T, B> rsqrt(const var<T, B>& x) {
  return detail::unary("rsqrt", fn::rsqrt{}, x,
                       [](const auto& out, const auto& g, auto gr) { gr[0] = g * (out * out * out) * T(-0.5); });
}
template <class T, class B>
var<T, B> square(const var<T, B>& x) {
  return detail::unary("square", fn::square{}, x,
                       [](const auto& out, const auto& g, auto gr) { gr[0] = g * out.inputs()[0] * T(2); });
}
/// x^p for a scalar exponent p.
template <class T, class B>
var<T, B> pow(const var<T, B>& x, T p) {
  return detail::unary("pow_scalar", fn::pow_scalar<T>{p}, x, [p](const auto& out, const auto& g, auto gr) {
    gr[0] = g * pow(out.inputs()[0], p - T(1)) * p;
  });
}
/// a^b elementwise with broadcasting; a must be positive where b's gradient is needed.
template <class T, class B>
var<T, B> pow(const var<T, B>& a, const var<T, B>& b) {
  return detail::binary("pow", fn::pow{}, a, b, [](const auto& out, const auto& g, auto gr) {
    const auto& in = out.inputs();
    if (gr.wanted(0)) gr[0] = sum_to(g * in[1] * pow(in[0], in[1] - T(1)), in[0].shape());
    if (gr.wanted(1)) gr[1] = sum_to(g * out * log(in[0]), in[1].shape());
  });
}
/// |x|; the gradient at 0 is 0.
template <class T, class B>
var<T, B> abs(const var<T, B>& x) {
  return detail::unary("abs", fn::abs{}, x, [](const auto& out, const auto& g, auto gr) {
    gr[0] = g * detail::constant_of(fn::sign{}, out.inputs()[0]);
  });
}
template <class T, class B>
var<T, B> erf(const var<T, B>& x) {
  return detail::unary("erf", fn::erf{}, x, [](const auto& out, const auto& g, auto gr) {
    const auto& in = out.inputs()[0];
    gr[0] = g * exp(-square(in)) * (T(2) * std::numbers::inv_sqrtpi_v<T>);
  });
}
template <class T, class B>
var<T, B> tanh(const var<T, B>& x) {
  return detail::unary("tanh", fn::tanh{}, x,
                       [](const auto& out, const auto& g, auto gr) { gr[0] = g * (T(1) - square(out)); });
}
template <class T, class B>
var<T, B> sigmoid(const var<T, B>& x) {
  return detail::unary("sigmoid", fn::sigmoid{}, x,
                       [](const auto& out, const auto& g, auto gr) { gr[0] = g * out * (T(1) - out); });
}
/// max(x, 0); the gradient at 0 is 0.
template <class T, class B>
var<T, B> relu(const var<T, B>& x) {
  return detail::unary("relu", fn::relu{}, x, [](const auto& out, const auto& g, auto gr) {
    gr[0] = g * detail::constant_of(fn::step{}, out.inputs()[0]);
  });
}
template <class T, class B>
var<T, B> leaky_relu(const var<T, B>& x, T slope = T(0.01)) {
  return detail::unary("leaky_relu", fn::leaky_relu<T>{slope}, x, [slope](const auto& out, const auto& g, auto gr) {
    gr[0] = g * detail::constant_of(fn::leaky_step<T>{slope}, out.inputs()[0]);
  });
}
/// PReLU: x where x > 0, slope * x elsewhere; slope broadcasts to x (one per channel of NCHW
/// images: shape (C, 1, 1)). One fused pass forward; the gradients (to x: 1 or slope; to the
/// slope: the negative part of x, summed over the broadcast) are var ops, so differentiable again.
template <class T, class B>
var<T, B> prelu(const var<T, B>& x, const var<T, B>& slope) {
  return detail::binary("prelu", fn::prelu{}, x, slope, [](const auto& out, const auto& g, auto gr) {
    const auto& in = out.inputs();
    const auto positive = detail::constant_of(fn::step{}, in[0]);
    if (gr.wanted(0)) gr[0] = sum_to(g * (positive + (T(1) - positive) * in[1]), in[0].shape());
    if (gr.wanted(1)) gr[1] = sum_to(g * (in[0] - positive * in[0]), in[1].shape());
  });
}
/// log(1 + e^x), computed without overflow.
template <class T, class B>
var<T, B> softplus(const var<T, B>& x) {
  return detail::unary("softplus", fn::softplus{}, x,
                       [](const auto& out, const auto& g, auto gr) { gr[0] = g * sigmoid(out.inputs()[0]); });
}
/// Exact GELU, x * Phi(x) with the Gaussian CDF through erf.
template <class T, class B>
var<T, B> gelu(const var<T, B>& x) {
  return detail::unary("gelu", fn::gelu{}, x, [](const auto& out, const auto& g, auto gr) {
    const auto& in = out.inputs()[0];
    const T inv_sqrt2 = T(1) / std::numbers::sqrt2_v<T>;
    const T inv_sqrt_2pi = inv_sqrt2 * std::numbers::inv_sqrtpi_v<T>;
    const auto cdf = (erf(in * inv_sqrt2) + T(1)) * T(0.5);
    const auto pdf = exp(square(in) * T(-0.5)) * inv_sqrt_2pi;
    gr[0] = g * (cdf + in * pdf);
  });
}
/// Clamps to [lo, hi]; the gradient is 0 outside (lo, hi).
template <class T, class B>
var<T, B> clamp(const var<T, B>& x, T lo, T hi) {
  if (lo > hi) fail<value_error>("clamp", "lo ", lo, " > hi ", hi);
  return detail::unary("clamp", fn::clamp<T>{lo, hi}, x, [lo, hi](const auto& out, const auto& g, auto gr) {
    gr[0] = g * detail::constant_of(fn::inside<T>{lo, hi}, out.inputs()[0]);
  });
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_ELEMENTWISE_INSTANCES(X, T, B)                \
  X var<T, B> operator+(const var<T, B>&, const var<T, B>&); \
  X var<T, B> operator-(const var<T, B>&, const var<T, B>&); \
  X var<T, B> operator*(const var<T, B>&, const var<T, B>&); \
  X var<T, B> operator/(const var<T, B>&, const var<T, B>&); \
  X var<T, B> operator-(const var<T, B>&);                   \
  X var<T, B> operator+(const var<T, B>&, T);                \
  X var<T, B> operator+(T, const var<T, B>&);                \
  X var<T, B> operator-(const var<T, B>&, T);                \
  X var<T, B> operator-(T, const var<T, B>&);                \
  X var<T, B> operator*(const var<T, B>&, T);                \
  X var<T, B> operator*(T, const var<T, B>&);                \
  X var<T, B> operator/(const var<T, B>&, T);                \
  X var<T, B> operator/(T, const var<T, B>&);                \
  X var<T, B> exp(const var<T, B>&);                         \
  X var<T, B> log(const var<T, B>&);                         \
  X var<T, B> log1p(const var<T, B>&);                       \
  X var<T, B> sqrt(const var<T, B>&);                        \
  X var<T, B> rsqrt(const var<T, B>&);                       \
  X var<T, B> square(const var<T, B>&);                      \
  X var<T, B> abs(const var<T, B>&);                         \
  X var<T, B> erf(const var<T, B>&);                         \
  X var<T, B> tanh(const var<T, B>&);                        \
  X var<T, B> sigmoid(const var<T, B>&);                     \
  X var<T, B> relu(const var<T, B>&);                        \
  X var<T, B> softplus(const var<T, B>&);                    \
  X var<T, B> gelu(const var<T, B>&);                        \
  X var<T, B> pow(const var<T, B>&, T);                      \
  X var<T, B> pow(const var<T, B>&, const var<T, B>&);       \
  X var<T, B> leaky_relu(const var<T, B>&, T);               \
  X var<T, B> prelu(const var<T, B>&, const var<T, B>&);     \
  X var<T, B> clamp(const var<T, B>&, T, T);
BIJGAN_EXTERN_INSTANCES(BIJGAN_ELEMENTWISE_INSTANCES)

}  // namespace bijgan
