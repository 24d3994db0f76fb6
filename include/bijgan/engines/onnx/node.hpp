// What an ONNX op implementation sees of its node while the graph is compiled: typed
// attribute access that refuses a wrong type or a missing required attribute with an io_error
// naming the file, the node and the attribute, and the kernel signature the ops compile to.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bijgan/engines/graph/value.hpp"
#include "bijgan/io/onnx.hpp"

namespace bijgan::engines::onnx {

using engines::graph::kernel;
using engines::graph::value;

/// A decoded file tensor (an initializer or a Constant's value) as a value on backend B.
template <class T, class B>
value<T, B> value_of(const io::onnx_tensor& t, const std::string& where) {
  if (!t.is_float) return value<T, B>::of_ints(t.ints, t.dims);
  return value<T, B>::of_floats(t.floats, t.dims, where + ": tensor \"" + t.name + "\"");
}

/// A node being compiled: its attributes and the text errors cite ("file: node \"n\" (Op)").
class node_view {
 public:
  node_view(const io::onnx_node& n, std::int64_t opset, std::string where)
      : node_(n), opset_(opset), where_(std::move(where)) {}

  [[nodiscard]] const io::onnx_node& node() const noexcept { return node_; }
  [[nodiscard]] std::int64_t opset() const noexcept { return opset_; }
  [[nodiscard]] const std::string& where() const noexcept { return where_; }
  [[nodiscard]] bool has(const std::string& name) const { return node_.attributes.count(name) != 0; }
  /// Number of inputs given (trailing omitted ones included as "").
  [[nodiscard]] std::size_t inputs() const noexcept { return node_.inputs.size(); }
  [[nodiscard]] bool has_input(std::size_t k) const { return k < node_.inputs.size() && !node_.inputs[k].empty(); }

  [[nodiscard]] std::int64_t i(const std::string& name, std::int64_t fallback) const {
    return has(name) ? get(name, io::onnx_attribute::kind::i, "an int").i : fallback;
  }
  [[nodiscard]] float f(const std::string& name, float fallback) const {
    return has(name) ? get(name, io::onnx_attribute::kind::f, "a float").f : fallback;
  }
  [[nodiscard]] std::string s(const std::string& name, const std::string& fallback) const {
    return has(name) ? get(name, io::onnx_attribute::kind::s, "a string").s : fallback;
  }
  [[nodiscard]] std::vector<std::int64_t> ints(const std::string& name, std::vector<std::int64_t> fallback = {}) const {
    return has(name) ? get(name, io::onnx_attribute::kind::ints, "a list of ints").ints : fallback;
  }
  [[nodiscard]] std::vector<float> floats(const std::string& name) const {
    return has(name) ? get(name, io::onnx_attribute::kind::floats, "a list of floats").floats : std::vector<float>{};
  }
  [[nodiscard]] const io::onnx_tensor& tensor(const std::string& name) const {
    return get(name, io::onnx_attribute::kind::t, "a tensor").t;
  }
  /// Refuses the node at load with a reason.
  template <class... Parts>
  [[noreturn]] void refuse(const Parts&... why) const {
    fail<io_error>("onnx", where_, ": ", why...);
  }

 private:
  const io::onnx_attribute& get(const std::string& name, io::onnx_attribute::kind k, const char* what) const {
    const auto it = node_.attributes.find(name);
    if (it == node_.attributes.end()) refuse("needs the attribute \"", name, "\"");
    if (it->second.type != k) refuse("attribute \"", name, "\" must be ", what);
    return it->second;
  }

  const io::onnx_node& node_;
  std::int64_t opset_;
  std::string where_;
};

}  // namespace bijgan::engines::onnx
