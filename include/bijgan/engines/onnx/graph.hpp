// An ONNX graph compiled for execution with bijgan's ops: nodes sorted by their data
// dependencies (a cycle or a read of an undefined value is an io_error at load), every node
// compiled once into a kernel (an unsupported op or attribute is an io_error naming the node),
// and every node whose inputs are all constants evaluated at load (constant folding: the
// shape sub-graphs of exported models, Constant nodes). Running it records our var ops, so the
// outputs can be differentiated with respect to the inputs (whitebox use of a file engine).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bijgan/engines/onnx/ops.hpp"

namespace bijgan::engines::onnx {

template <class T = float, class B = host>
class graph {
 public:
  using value_type = value<T, B>;

  /// Reads and compiles an ONNX file (see compile). io_error naming the file on any defect.
  static graph load(const std::filesystem::path& file) {
    const auto bytes = io::read_file(file);
    auto g = compile(io::parse_onnx(bytes, file.string()));
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ULL;
    g.checksum_ = h;
    return g;
  }

  /// Compiles a parsed model: sorts, validates and folds it. Throws io_error naming the model's
  /// source and the node when a value is defined twice or read before any definition, the
  /// nodes form a cycle, an op or attribute is unsupported, or a constant sub-graph fails.
  static graph compile(const io::onnx_model& m) {
    graph g;
    g.source_ = m.source;
    g.opset_ = m.opset;
    g.inputs_ = m.inputs;
    g.outputs_ = m.outputs;
    auto define = [&](const std::string& name, const std::string& by) {
      if (name.empty()) return -1;
      if (!g.ids_.emplace(name, static_cast<int>(g.ids_.size())).second)
        fail<io_error>("onnx", m.source, ": value \"", name, "\" is defined twice (again by ", by, ")");
      g.constants_.emplace_back();
      return g.ids_.at(name);
    };
    for (const auto& t : m.initializers) {
      const int id = define(t.name, "an initializer");
      g.constants_[static_cast<std::size_t>(id)] = value_type::of(t, m.source);
    }
    for (const auto& i : m.inputs) g.input_ids_.push_back(define(i.name, "a graph input"));
    std::vector<int> producer;  // value id -> node index (-1: initializer or input)
    producer.assign(g.ids_.size(), -1);
    for (std::size_t k = 0; k < m.nodes.size(); ++k)
      for (const auto& o : m.nodes[k].outputs) {
        const int id = define(o, describe(m, k));
        if (id >= 0) producer.push_back(static_cast<int>(k));
      }
    // Kahn's algorithm, stable in file order.
    const std::size_t n = m.nodes.size();
    std::vector<std::vector<std::size_t>> readers(n);
    std::vector<std::size_t> waiting(n, 0);
    for (std::size_t k = 0; k < n; ++k)
      for (const auto& in : m.nodes[k].inputs) {
        if (in.empty()) continue;
        const auto it = g.ids_.find(in);
        if (it == g.ids_.end())
          fail<io_error>("onnx", describe(m, k), ": reads \"", in,
                         "\", which no node, initializer or graph input defines");
        const int p = producer[static_cast<std::size_t>(it->second)];
        if (p >= 0) {
          readers[static_cast<std::size_t>(p)].push_back(k);
          ++waiting[k];
        }
      }
    std::set<std::size_t> ready;
    for (std::size_t k = 0; k < n; ++k)
      if (waiting[k] == 0) ready.insert(k);
    std::vector<std::size_t> order;
    while (!ready.empty()) {
      const auto k = *ready.begin();
      ready.erase(ready.begin());
      order.push_back(k);
      for (auto r : readers[k])
        if (--waiting[r] == 0) ready.insert(r);
    }
    if (order.size() != n) {
      for (std::size_t k = 0; k < n; ++k)
        if (waiting[k] > 0) fail<io_error>("onnx", describe(m, k), ": the graph has a cycle through this node");
    }
    // Compile, folding what depends on constants only.
    for (auto k : order) {
      const auto& node = m.nodes[k];
      const node_view view(node, m.opset, describe(m, k));
      step s{compile_op<T, B>(view), {}, {}, node.op_type, view.where()};
      ++g.histogram_[node.op_type];
      bool constant_inputs = true;
      for (const auto& in : node.inputs) {
        s.in.push_back(in.empty() ? -1 : g.ids_.at(in));
        if (!in.empty() && !g.constants_[static_cast<std::size_t>(g.ids_.at(in))]) constant_inputs = false;
      }
      for (const auto& o : node.outputs) s.out.push_back(o.empty() ? -1 : g.ids_.at(o));
      if (constant_inputs) {
        std::vector<std::optional<value_type>> scratch;
        try {
          no_grad ng;
          const auto outs = s.run_on(g.constants_);
          for (std::size_t j = 0; j < s.out.size(); ++j)
            if (s.out[j] >= 0) g.constants_[static_cast<std::size_t>(s.out[j])] = outs[j];
        } catch (const io_error&) {
          throw;
        } catch (const error& e) {
          fail<io_error>("onnx", view.where(), ": evaluating this constant node failed: ", e.what());
        }
        ++g.folded_;
        continue;
      }
      g.steps_.push_back(std::move(s));
    }
    for (const auto& o : m.outputs) {
      const auto it = g.ids_.find(o.name);
      if (it == g.ids_.end()) fail<io_error>("onnx", m.source, ": graph output \"", o.name, "\" is never computed");
      g.output_ids_.push_back(it->second);
    }
    if (g.input_ids_.empty()) fail<io_error>("onnx", m.source, ": the graph has no inputs");
    // Last reader of each value, so intermediates are released as soon as they are used up.
    g.last_use_.assign(g.ids_.size(), -1);
    for (std::size_t k = 0; k < g.steps_.size(); ++k)
      for (int id : g.steps_[k].in)
        if (id >= 0) g.last_use_[static_cast<std::size_t>(id)] = static_cast<int>(k);
    for (int id : g.output_ids_) g.last_use_[static_cast<std::size_t>(id)] = static_cast<int>(g.steps_.size());
    return g;
  }

  /// Runs the graph on its inputs, in the order of inputs(); returns its outputs in the order
  /// of outputs(). Each input must be a float tensor matching the file's declared extents
  /// (symbolic ones match anything): shape_error naming the input otherwise.
  std::vector<var<T, B>> operator()(const std::vector<var<T, B>>& inputs) const {
    const auto all = run(inputs, {});
    std::vector<var<T, B>> out;
    for (int id : output_ids_) out.push_back(as_float(all.at(static_cast<std::size_t>(id)), id));
    return out;
  }
  /// The graph's outputs and the named intermediate values, by name.
  std::map<std::string, var<T, B>> outputs_and(const std::vector<var<T, B>>& inputs,
                                               const std::vector<std::string>& fetch) const {
    std::set<int> keep;
    for (const auto& f : fetch) {
      const auto it = ids_.find(f);
      if (it == ids_.end()) fail<value_error>("onnx", source_, ": no value named \"", f, "\"");
      keep.insert(it->second);
    }
    const auto all = run(inputs, keep);
    std::map<std::string, var<T, B>> out;
    for (const auto& f : fetch) out.emplace(f, as_float(all.at(static_cast<std::size_t>(ids_.at(f))), ids_.at(f)));
    for (std::size_t k = 0; k < outputs_.size(); ++k)
      out.emplace(outputs_[k].name, as_float(all.at(static_cast<std::size_t>(output_ids_[k])), output_ids_[k]));
    return out;
  }

  [[nodiscard]] const std::vector<io::onnx_value_info>& inputs() const noexcept { return inputs_; }
  [[nodiscard]] const std::vector<io::onnx_value_info>& outputs() const noexcept { return outputs_; }
  /// Op type -> node count, as in the file (folded nodes included).
  [[nodiscard]] const std::map<std::string, std::size_t>& op_histogram() const noexcept { return histogram_; }
  /// Nodes evaluated at load because they depend on constants only.
  [[nodiscard]] std::size_t folded_nodes() const noexcept { return folded_; }
  [[nodiscard]] std::size_t run_nodes() const noexcept { return steps_.size(); }
  [[nodiscard]] std::int64_t opset() const noexcept { return opset_; }
  [[nodiscard]] const std::string& source() const noexcept { return source_; }
  /// FNV-1a of the file's bytes (0 for a model compiled from memory).
  [[nodiscard]] std::uint64_t checksum() const noexcept { return checksum_; }

 private:
  struct step {
    kernel<T, B> k;
    std::vector<int> in, out;
    std::string op, where;
    template <class Store>
    std::vector<value_type> run_on(const Store& values) const {
      input_list_t args;
      for (int id : in)
        args.push_back(id < 0 || !values[static_cast<std::size_t>(id)] ? nullptr
                                                                       : &*values[static_cast<std::size_t>(id)]);
      std::vector<value_type> outs;
      try {
        outs = k(args);
      } catch (const shape_error& e) {  // an op's own error gets the node it happened in
        if (std::string_view(e.what()).find(where) != std::string_view::npos) throw;
        fail<shape_error>("onnx", where, ": ", e.what());
      } catch (const value_error& e) {
        if (std::string_view(e.what()).find(where) != std::string_view::npos) throw;
        fail<value_error>("onnx", where, ": ", e.what());
      }
      if (outs.size() < out.size())
        fail<io_error>("onnx", where, ": produced ", outs.size(), " outputs, the node names ", out.size());
      return outs;
    }
  };
  using input_list_t = std::vector<const value_type*>;

  static std::string describe(const io::onnx_model& m, std::size_t k) {
    const auto& n = m.nodes[k];
    return bijgan::detail::cat(m.source, ": node \"", n.name.empty() ? "#" + std::to_string(k) : n.name, "\" (",
                               n.op_type, ")");
  }

  var<T, B> as_float(const std::optional<value_type>& v, int id) const {
    std::string name;
    for (const auto& [k, i] : ids_)
      if (i == id) name = k;
    if (!v) fail<value_error>("onnx", source_, ": value \"", name, "\" was not computed");
    if (v->is_int) fail<value_error>("onnx", source_, ": value \"", name, "\" is an integer tensor, not a float one");
    return v->f;
  }

  std::vector<std::optional<value_type>> run(const std::vector<var<T, B>>& inputs, const std::set<int>& keep) const {
    if (inputs.size() != input_ids_.size())
      fail<shape_error>("onnx", source_, ": the graph takes ", input_ids_.size(), " inputs, got ", inputs.size());
    auto values = constants_;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      const auto& want = inputs_[k].dims;
      const auto s = inputs[k].shape();
      bool fits = want.empty() || want.size() == s.rank();
      for (std::size_t d = 0; fits && d < want.size(); ++d) fits = want[d] < 0 || want[d] == s[d];
      if (!fits) {
        std::string w = "[";
        for (std::size_t d = 0; d < want.size(); ++d)
          w += (d ? ", " : "") + (want[d] < 0 ? std::string("?") : std::to_string(want[d]));
        fail<shape_error>("onnx", source_, ": input \"", inputs_[k].name, "\" of shape ", s,
                          " where the file declares ", w, "]");
      }
      values[static_cast<std::size_t>(input_ids_[k])] = value_type::of(inputs[k]);
    }
    for (std::size_t k = 0; k < steps_.size(); ++k) {
      const auto& s = steps_[k];
      auto outs = s.run_on(values);
      for (std::size_t j = 0; j < s.out.size(); ++j)
        if (s.out[j] >= 0) values[static_cast<std::size_t>(s.out[j])] = std::move(outs[j]);
      for (int id : s.in)
        if (id >= 0 && last_use_[static_cast<std::size_t>(id)] == static_cast<int>(k) && !keep.count(id) &&
            !constants_[static_cast<std::size_t>(id)])
          values[static_cast<std::size_t>(id)].reset();
    }
    return values;
  }

  std::string source_;
  std::int64_t opset_ = 0;
  std::uint64_t checksum_ = 0;
  std::vector<io::onnx_value_info> inputs_, outputs_;
  std::map<std::string, int> ids_;
  std::vector<std::optional<value_type>> constants_;
  std::vector<int> input_ids_, output_ids_, last_use_;
  std::vector<step> steps_;
  std::map<std::string, std::size_t> histogram_;
  std::size_t folded_ = 0;
};

}  // namespace bijgan::engines::onnx
