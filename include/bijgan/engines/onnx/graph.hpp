// An ONNX graph compiled for execution with bijgan's ops: every node compiled once into a
// kernel (an unsupported op or attribute is an io_error naming the node), the initializers as
// constants, then engines::graph::program's sorting (cycle and undefined-value checks) and
// constant folding (the shape sub-graphs of exported models, Constant nodes).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "bijgan/engines/graph/program.hpp"
#include "bijgan/engines/onnx/ops.hpp"
#include "bijgan/io/checksum.hpp"

namespace bijgan::engines::onnx {

template <class T = float, class B = host>
class graph : public engines::graph::program<T, B> {
  using base = engines::graph::program<T, B>;

 public:
  /// Reads and compiles an ONNX file (see compile). io_error naming the file on any defect.
  static graph load(const std::filesystem::path& file) {
    const auto bytes = io::read_file(file);
    auto g = compile(io::parse_onnx(bytes, file.string()));
    g.checksum_ = io::fnv1a_of(bytes);
    return g;
  }

  /// Compiles a parsed model: each node's kernel, then sorting, checks and folding. Throws
  /// io_error naming the model's source and the node when a value is defined twice or read
  /// before any definition, the nodes form a cycle, an op or attribute is unsupported, or a
  /// constant sub-graph fails.
  static graph compile(const io::onnx_model& m) {
    std::map<std::string, value<T, B>> constants;
    for (const auto& t : m.initializers)
      if (!constants.emplace(t.name, value_of<T, B>(t, m.source)).second)
        fail<io_error>("onnx", m.source, ": initializer \"", t.name, "\" is defined twice");
    std::vector<engines::graph::node<T, B>> nodes;
    for (std::size_t k = 0; k < m.nodes.size(); ++k) {
      const auto& n = m.nodes[k];
      const std::string where =
          m.source + ": node \"" + (n.name.empty() ? "#" + std::to_string(k) : n.name) + "\" (" + n.op_type + ")";
      const node_view view(n, m.opset, where);
      nodes.push_back({where, n.op_type, n.inputs, n.outputs, compile_op<T, B>(view)});
    }
    auto ports = [](const std::vector<io::onnx_value_info>& v) {
      std::vector<engines::graph::port> out;
      for (const auto& i : v) out.push_back({i.name, i.dims});
      return out;
    };
    graph g(base::build(m.source, std::move(nodes), std::move(constants), ports(m.inputs), ports(m.outputs)));
    g.opset_ = m.opset;
    return g;
  }

  /// The default domain's opset the file imports.
  [[nodiscard]] std::int64_t opset() const noexcept { return opset_; }
  /// FNV-1a of the file's bytes (0 for a model compiled from memory).
  [[nodiscard]] std::uint64_t checksum() const noexcept { return checksum_; }

 private:
  explicit graph(base b) : base(std::move(b)) {}
  std::int64_t opset_ = 0;
  std::uint64_t checksum_ = 0;
};

}  // namespace bijgan::engines::onnx
