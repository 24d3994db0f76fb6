// A model graph compiled for execution, whatever file format it came from: the format layer
// (engines/onnx, engines/tfjs) turns each node into a kernel of our var ops and hands over the
// nodes, the constants and the declared inputs and outputs; the program sorts the nodes by
// their data dependencies (a cycle or a read of an undefined value is an io_error naming the
// node), evaluates every node whose inputs are all constants once (constant folding), and runs
// the rest per call, releasing each intermediate after its last reader. Subnormal constants
// are set to zero at load (real weight files hold them: fr_feature.onnx of arcface512 8,938 of
// 1.19 M floats) and every call runs with denormals flushed on the host threads
// (scoped_flush_denormal): x86 cores take the slow path on each subnormal operand, and
// fr_feature.onnx ran 94.5 ms per image with both off, 23.6 with the weights zeroed, 9.3 with
// both (1 thread). Running it records var ops, so outputs can be differentiated (whitebox use
// of a file engine).
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bijgan/engines/graph/value.hpp"

namespace bijgan::engines::graph {

/// A node handed to program::build: its kernel, the values it reads and writes ("" for an
/// omitted optional input or an unused output), its op type and the text errors cite.
template <class T, class B>
struct node {
  std::string where, op;
  std::vector<std::string> inputs, outputs;
  kernel<T, B> run;
};

template <class T, class B>
class program {
 public:
  using value_type = value<T, B>;

  /// Sorts, checks and folds. Throws io_error naming `source` and the node when a value is
  /// defined twice or read before any definition, the nodes form a cycle, a graph output is
  /// never computed, or a constant node fails.
  static program build(std::string source, std::vector<node<T, B>> nodes, std::map<std::string, value_type> constants,
                       std::vector<port> inputs, std::vector<port> outputs) {
    program p;
    p.source_ = std::move(source);
    p.inputs_ = std::move(inputs);
    p.outputs_ = std::move(outputs);
    auto define = [&](const std::string& name, const std::string& by) {
      if (name.empty()) return -1;
      if (!p.ids_.emplace(name, static_cast<int>(p.ids_.size())).second)
        fail<io_error>("graph", p.source_, ": value \"", name, "\" is defined twice (again by ", by, ")");
      p.constants_.emplace_back();
      p.names_.push_back(name);
      return p.ids_.at(name);
    };
    for (auto& [name, v] : constants) {
      if (name.empty()) fail<io_error>("graph", p.source_, ": a constant (initializer) has no name");
      p.constants_[static_cast<std::size_t>(define(name, "a constant"))] = std::move(v);
    }
    for (const auto& i : p.inputs_) {
      if (i.name.empty()) fail<io_error>("graph", p.source_, ": a graph input has no name");
      p.input_ids_.push_back(define(i.name, "a graph input"));
    }
    std::vector<int> producer(p.ids_.size(), -1);  // value id -> node index (-1: constant or input)
    for (std::size_t k = 0; k < nodes.size(); ++k)
      for (const auto& o : nodes[k].outputs)
        if (define(o, nodes[k].where) >= 0) producer.push_back(static_cast<int>(k));
    // Kahn's algorithm, stable in file order.
    const std::size_t n = nodes.size();
    std::vector<std::vector<std::size_t>> readers(n);
    std::vector<std::size_t> waiting(n, 0);
    for (std::size_t k = 0; k < n; ++k)
      for (const auto& in : nodes[k].inputs) {
        if (in.empty()) continue;
        const auto it = p.ids_.find(in);
        if (it == p.ids_.end())
          fail<io_error>("graph", nodes[k].where, ": reads \"", in,
                         "\", which no node, initializer or graph input defines");
        const int pr = producer[static_cast<std::size_t>(it->second)];
        if (pr >= 0) {
          readers[static_cast<std::size_t>(pr)].push_back(k);
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
    if (order.size() != n)
      for (std::size_t k = 0; k < n; ++k)
        if (waiting[k] > 0) fail<io_error>("graph", nodes[k].where, ": the graph has a cycle through this node");
    for (auto k : order) {
      auto& nd = nodes[k];
      if (nd.op.rfind("bijgan:", 0) != 0) ++p.histogram_[nd.op];  // helper nodes of a format layer are not the file's
      step s{std::move(nd.run), {}, {}, nd.where};
      bool constant_inputs = true;
      for (const auto& in : nd.inputs) {
        s.in.push_back(in.empty() ? -1 : p.ids_.at(in));
        if (!in.empty() && !p.constants_[static_cast<std::size_t>(p.ids_.at(in))]) constant_inputs = false;
      }
      for (const auto& o : nd.outputs) s.out.push_back(o.empty() ? -1 : p.ids_.at(o));
      if (constant_inputs) {
        try {
          no_grad ng;
          const auto outs = s.run_on(p.constants_);
          for (std::size_t j = 0; j < s.out.size(); ++j)
            if (s.out[j] >= 0) p.constants_[static_cast<std::size_t>(s.out[j])] = outs[j];
        } catch (const io_error&) {
          throw;
        } catch (const error& e) {
          fail<io_error>("graph", nd.where, ": evaluating this constant node failed: ", e.what());
        }
        ++p.folded_;
        continue;
      }
      p.steps_.push_back(std::move(s));
    }
    for (auto& c : p.constants_)
      if (c && !c->is_int) p.flushed_ += flush_subnormals(*c);
    for (const auto& o : p.outputs_) {
      const auto it = p.ids_.find(o.name);
      if (it == p.ids_.end()) fail<io_error>("graph", p.source_, ": graph output \"", o.name, "\" is never computed");
      p.output_ids_.push_back(it->second);
    }
    if (p.input_ids_.empty()) fail<io_error>("graph", p.source_, ": the graph has no inputs");
    p.last_use_.assign(p.ids_.size(), -1);
    for (std::size_t k = 0; k < p.steps_.size(); ++k)
      for (int id : p.steps_[k].in)
        if (id >= 0) p.last_use_[static_cast<std::size_t>(id)] = static_cast<int>(k);
    return p;
  }

  /// Runs on the graph inputs in the order of inputs(); returns the outputs in the order of
  /// outputs(). Each input must match the file's declared extents (unknown ones match
  /// anything): shape_error naming the input otherwise.
  std::vector<var<T, B>> operator()(const std::vector<var<T, B>>& inputs) const {
    const auto all = run(inputs, {});
    std::vector<var<T, B>> out;
    for (int id : output_ids_) out.push_back(as_float(all.at(static_cast<std::size_t>(id)), id));
    return out;
  }
  /// The graph's outputs and the named intermediate values, by name; value_error for a name
  /// the graph does not have.
  std::map<std::string, var<T, B>> outputs_and(const std::vector<var<T, B>>& inputs,
                                               const std::vector<std::string>& fetch) const {
    std::set<int> keep;
    for (const auto& f : fetch) {
      const auto it = ids_.find(f);
      if (it == ids_.end()) fail<value_error>("graph", source_, ": no value named \"", f, "\"");
      keep.insert(it->second);
    }
    const auto all = run(inputs, keep);
    std::map<std::string, var<T, B>> out;
    for (const auto& f : fetch) out.emplace(f, as_float(all.at(static_cast<std::size_t>(ids_.at(f))), ids_.at(f)));
    for (std::size_t k = 0; k < outputs_.size(); ++k)
      out.emplace(outputs_[k].name, as_float(all.at(static_cast<std::size_t>(output_ids_[k])), output_ids_[k]));
    return out;
  }

  [[nodiscard]] const std::vector<port>& inputs() const noexcept { return inputs_; }
  [[nodiscard]] const std::vector<port>& outputs() const noexcept { return outputs_; }
  /// Op type -> node count, as in the file (folded nodes included).
  [[nodiscard]] const std::map<std::string, std::size_t>& op_histogram() const noexcept { return histogram_; }
  /// Nodes evaluated at load because they depend on constants only.
  [[nodiscard]] std::size_t folded_nodes() const noexcept { return folded_; }
  /// Subnormal constant elements set to zero at load (after folding); they differ from zero
  /// by less than numeric_limits<T>::min().
  [[nodiscard]] std::size_t flushed_subnormals() const noexcept { return flushed_; }
  /// Nodes run per call.
  [[nodiscard]] std::size_t run_nodes() const noexcept { return steps_.size(); }
  [[nodiscard]] const std::string& source() const noexcept { return source_; }

 private:
  using input_list = std::vector<const value_type*>;

  /// Sets v's subnormal elements to zero; how many there were.
  static std::size_t flush_subnormals(value_type& v) {
    auto data = v.f.value().to_vector();
    std::size_t n = 0;
    for (auto& x : data)
      if (std::fpclassify(x) == FP_SUBNORMAL) {
        x = T(0);
        ++n;
      }
    if (n > 0) v = value_type::of(constant(to<B>(tensor<T, host>::from(data, v.f.shape()))));
    return n;
  }
  struct step {
    kernel<T, B> k;
    std::vector<int> in, out;
    std::string where;
    template <class Store>
    std::vector<value_type> run_on(const Store& values) const {
      input_list args;
      for (int id : in)
        args.push_back(id < 0 || !values[static_cast<std::size_t>(id)] ? nullptr
                                                                       : &*values[static_cast<std::size_t>(id)]);
      std::vector<value_type> outs;
      try {
        outs = k(args);
      } catch (const shape_error& e) {  // an op's own error gets the node it happened in
        if (std::string_view(e.what()).find(where) != std::string_view::npos) throw;
        fail<shape_error>("graph", where, ": ", e.what());
      } catch (const value_error& e) {
        if (std::string_view(e.what()).find(where) != std::string_view::npos) throw;
        fail<value_error>("graph", where, ": ", e.what());
      }
      if (outs.size() < out.size())
        fail<io_error>("graph", where, ": produced ", outs.size(), " outputs, the node names ", out.size());
      return outs;
    }
  };

  var<T, B> as_float(const std::optional<value_type>& v, int id) const {
    const auto& name = names_[static_cast<std::size_t>(id)];
    if (!v) fail<value_error>("graph", source_, ": value \"", name, "\" was not computed");
    if (v->is_int) fail<value_error>("graph", source_, ": value \"", name, "\" is an integer tensor, not a float one");
    return v->f;
  }

  std::vector<std::optional<value_type>> run(const std::vector<var<T, B>>& inputs, const std::set<int>& keep) const {
    const scoped_flush_denormal ftz;  // host kernels on subnormal activations are ~100x slower
    if (inputs.size() != input_ids_.size())
      fail<shape_error>("graph", source_, ": the graph takes ", input_ids_.size(), " inputs, got ", inputs.size());
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
        fail<shape_error>("graph", source_, ": input \"", inputs_[k].name, "\" of shape ", s,
                          " where the file declares ", w, "]");
      }
      values[static_cast<std::size_t>(input_ids_[k])] = value_type::of(inputs[k]);
    }
    std::set<int> outputs(output_ids_.begin(), output_ids_.end());
    for (std::size_t k = 0; k < steps_.size(); ++k) {
      const auto& s = steps_[k];
      auto outs = s.run_on(values);
      for (std::size_t j = 0; j < s.out.size(); ++j)
        if (s.out[j] >= 0) values[static_cast<std::size_t>(s.out[j])] = std::move(outs[j]);
      for (int id : s.in)
        if (id >= 0 && last_use_[static_cast<std::size_t>(id)] == static_cast<int>(k) && !keep.count(id) &&
            !outputs.count(id) && !constants_[static_cast<std::size_t>(id)])
          values[static_cast<std::size_t>(id)].reset();
    }
    return values;
  }

  std::string source_;
  std::vector<port> inputs_, outputs_;
  std::map<std::string, int> ids_;
  std::vector<std::string> names_;
  std::vector<std::optional<value_type>> constants_;
  std::vector<int> input_ids_, output_ids_, last_use_;
  std::vector<step> steps_;
  std::map<std::string, std::size_t> histogram_;
  std::size_t folded_ = 0, flushed_ = 0;
};

}  // namespace bijgan::engines::graph
