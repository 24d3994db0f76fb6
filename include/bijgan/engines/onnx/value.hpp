// The values an ONNX graph passes between nodes when bijgan executes it: float tensors as
// differentiable vars on the backend, integer tensors (shapes, indices, axes) as small host
// vectors, since ONNX computes shapes inside the graph (Shape -> Gather -> Concat -> Reshape).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bijgan/autodiff/autodiff.hpp"
#include "bijgan/io/onnx.hpp"

namespace bijgan::engines::onnx {

/// One value of a running graph: either a float var or an int64 host tensor.
template <class T, class B>
struct value {
  bool is_int = false;
  var<T, B> f;                     ///< the data when !is_int
  std::vector<std::int64_t> ints;  ///< the data when is_int, row-major
  std::vector<index_t> dims;       ///< the extents when is_int

  static value of(var<T, B> v) {
    value r;
    r.f = std::move(v);
    return r;
  }
  static value of_ints(std::vector<std::int64_t> data, std::vector<index_t> d) {
    value r;
    r.is_int = true;
    r.ints = std::move(data);
    r.dims = std::move(d);
    return r;
  }
  /// A 1-D integer vector.
  static value of_ints(std::vector<std::int64_t> data) {
    const auto n = static_cast<index_t>(data.size());
    return of_ints(std::move(data), {n});
  }
  /// From a decoded file tensor (an initializer or a Constant's value), on backend B.
  static value of(const io::onnx_tensor& t, const std::string& where) {
    if (!t.is_float) return of_ints(t.ints, t.dims);
    if (t.dims.size() > shape::max_rank)
      fail<io_error>("onnx", where, ": tensor \"", t.name, "\" has rank ", t.dims.size(), ", above ", shape::max_rank);
    std::vector<T> data(t.floats.begin(), t.floats.end());
    return of(constant(to<B>(tensor<T, host>::from(data, shape(std::span<const index_t>(t.dims))))));
  }

  /// The extents, whichever kind.
  [[nodiscard]] std::vector<index_t> extents() const {
    if (is_int) return dims;
    const auto s = f.shape();
    return std::vector<index_t>(s.begin(), s.end());
  }
  [[nodiscard]] std::size_t rank() const { return is_int ? dims.size() : f.rank(); }
};

}  // namespace bijgan::engines::onnx
