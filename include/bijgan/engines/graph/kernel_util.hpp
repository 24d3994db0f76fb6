// Helpers every file format's kernels share: typed access to a kernel's inputs with errors
// naming the node, axis normalisation, and the elementwise maximum/minimum of two broadcasting
// vars (TF's Maximum, ONNX's Max) as a differentiable select.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "bijgan/engines/graph/value.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan::engines::graph::detail {

template <class T, class B>
using input_list = std::vector<const value<T, B>*>;

/// 1 where a >= b (or a <= b), else 0.
struct at_least {
  template <class U>
  BIJGAN_HD U operator()(U a, U b) const {
    return a >= b ? U(1) : U(0);
  }
};
struct at_most {
  template <class U>
  BIJGAN_HD U operator()(U a, U b) const {
    return a <= b ? U(1) : U(0);
  }
};

template <class T, class B>
const var<T, B>& float_in(const input_list<T, B>& in, std::size_t k, const std::string& where) {
  if (k >= in.size() || !in[k]) fail<shape_error>("graph", where, ": input ", k, " is missing");
  if (in[k]->is_int) fail<shape_error>("graph", where, ": input ", k, " must be a float tensor, got an integer one");
  return in[k]->f;
}
template <class T, class B>
const value<T, B>& int_in(const input_list<T, B>& in, std::size_t k, const std::string& where) {
  if (k >= in.size() || !in[k]) fail<shape_error>("graph", where, ": input ", k, " is missing");
  if (!in[k]->is_int)
    fail<shape_error>("graph", where, ": input ", k, " must be an integer tensor (shape, axes, indices)");
  return *in[k];
}
/// Input k of either kind; shape_error naming the node when it is missing or omitted.
template <class T, class B>
const value<T, B>& any_in(const input_list<T, B>& in, std::size_t k, const std::string& where) {
  if (k >= in.size() || !in[k]) fail<shape_error>("graph", where, ": input ", k, " is missing");
  return *in[k];
}
template <class T, class B>
bool given(const input_list<T, B>& in, std::size_t k) {
  return k < in.size() && in[k] != nullptr;
}
/// A float input that must be one number.
template <class T, class B>
T scalar_in(const input_list<T, B>& in, std::size_t k, const std::string& where) {
  const auto& v = float_in(in, k, where);
  if (v.value().numel() != 1) fail<shape_error>("graph", where, ": input ", k, " must hold one value, got ", v.shape());
  return to<host>(v.value()).item();
}
inline index_t axis_of(std::int64_t a, std::size_t rank, const std::string& where, const char* what = "axis") {
  const auto r = static_cast<std::int64_t>(rank);
  const auto n = a < 0 ? a + r : a;
  if (n < 0 || n >= r) fail<shape_error>("graph", where, ": ", what, " ", a, " is out of range for rank ", rank);
  return static_cast<index_t>(n);
}
template <class T, class B>
std::vector<value<T, B>> one(var<T, B> v) {
  return {value<T, B>::of(std::move(v))};
}
inline shape to_shape(const std::vector<index_t>& d, const std::string& where) {
  if (d.size() > shape::max_rank) fail<shape_error>("graph", where, ": rank ", d.size(), " exceeds ", shape::max_rank);
  return shape(std::span<const index_t>(d));
}
/// Elementwise max (or min) of broadcasting a and b, differentiable (ties go to a).
template <class T, class B>
var<T, B> extreme_of(const var<T, B>& a, const var<T, B>& b, bool is_max) {
  // Against one constant number (ReLU6 spelled Minimum(6) then Maximum(0)): a clamp, one pass.
  if (b.value().numel() == 1 && b.shape().rank() <= a.shape().rank() && !b.requires_grad()) {
    const T c = to<host>(b.value()).item(), inf = std::numeric_limits<T>::infinity();
    return is_max ? clamp(a, c, inf) : clamp(a, -inf, c);
  }
  const auto s = broadcast_shapes(a.shape(), b.shape(), is_max ? "Maximum" : "Minimum");
  const auto x = a.shape() == s ? a : broadcast_to(a, s), y = b.shape() == s ? b : broadcast_to(b, s);
  const auto pick = is_max ? apply(at_least{}, x.value(), y.value()) : apply(at_most{}, x.value(), y.value());
  return bijgan::where(pick, x, y);
}

}  // namespace bijgan::engines::graph::detail
