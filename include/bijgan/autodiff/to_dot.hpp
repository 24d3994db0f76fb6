// to_dot: writes the graph behind a var in Graphviz dot format (one box per node: op name and
// shape; leaves that require grad are highlighted).
#pragma once

#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

#include "bijgan/autodiff/var.hpp"

namespace bijgan {

/// Writes `digraph bijgan { ... }` for the graph that produced root.
template <class T, class B>
void to_dot(const var<T, B>& root, std::ostream& os) {
  std::unordered_map<const void*, std::size_t> ids;
  std::vector<var<T, B>> stack{root};
  os << "digraph bijgan {\n  node [shape=box, fontname=\"monospace\"];\n";
  ids[root.id()] = 0;
  while (!stack.empty()) {
    const var<T, B> v = stack.back();
    stack.pop_back();
    const auto me = ids.at(v.id());
    os << "  n" << me << " [label=\"" << v.op() << "\\n"
       << v.shape() << "\"" << (v.is_leaf() && v.requires_grad() ? ", style=filled, fillcolor=lightblue" : "")
       << "];\n";
    for (const auto& in : v.inputs()) {
      auto [it, fresh] = ids.emplace(in.id(), ids.size());
      if (fresh) stack.push_back(in);
      os << "  n" << it->second << " -> n" << me << ";\n";
    }
  }
  os << "}\n";
}

}  // namespace bijgan
