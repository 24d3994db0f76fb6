// The values a model graph from a file (ONNX, TF.js) passes between its nodes when bijgan
// executes it: float tensors as differentiable vars on the backend, integer tensors (shapes,
// axes, indices) as small host vectors, since exported graphs compute shapes inside the graph
// (Shape -> Gather -> Concat -> Reshape) and name axes with integer constants.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bijgan/ops/ops.hpp"

namespace bijgan::engines::graph {

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
  /// A float constant on backend B from host data; shape_error when the rank exceeds shape's.
  static value of_floats(const std::vector<float>& data, const std::vector<index_t>& d, const std::string& where) {
    if (d.size() > shape::max_rank)
      fail<shape_error>("graph", where, ": rank ", d.size(), " exceeds ", shape::max_rank);
    std::vector<T> v(data.begin(), data.end());
    return of(constant(to<B>(tensor<T, host>::from(v, shape(std::span<const index_t>(d))))));
  }

  /// The extents, whichever kind.
  [[nodiscard]] std::vector<index_t> extents() const {
    if (is_int) return dims;
    const auto s = f.shape();
    return std::vector<index_t>(s.begin(), s.end());
  }
  [[nodiscard]] std::size_t rank() const { return is_int ? dims.size() : f.rank(); }
};

/// A compiled node: the program hands it its inputs (nullptr for an omitted optional one) and
/// takes back one value per output.
template <class T, class B>
using kernel = std::function<std::vector<value<T, B>>(const std::vector<const value<T, B>*>&)>;

/// A graph input or output as the file declares it: extents, -1 where unknown or symbolic.
struct port {
  std::string name;
  std::vector<index_t> dims;
};

}  // namespace bijgan::engines::graph
