// A TF.js graph model (model.json: modelTopology.node + weightsManifest, the shards beside it)
// compiled for execution with bijgan's ops. Const nodes take their values from the weights
// (float32, float16- or uint8/uint16-quantised, int32), Placeholders are the inputs, and the
// signature's outputs (or, without one, the nodes nothing reads) are the outputs. Sorting,
// cycle and undefined-value checks and constant folding are engines::graph::program's.
#pragma once

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bijgan/engines/tfjs/ops.hpp"
#include "bijgan/io/tfjs.hpp"

namespace bijgan::engines::tfjs {

template <class T = float, class B = host>
class graph : public engines::graph::program<T, B> {
  using base = engines::graph::program<T, B>;

 public:
  /// Reads model.json and its weight shards and compiles the graph. io_error naming the file
  /// and the node on any defect: not a graph model, a Const without weights, an unsupported op
  /// or attribute, an undefined input, a cycle.
  static graph load(const std::filesystem::path& model_json) {
    // Each file is read once; the checksum covers model.json, then the shards in manifest order.
    const auto text = io::read_file(model_json);
    const std::string source = model_json.string();
    io::fnv1a checksum;
    checksum.update(text);
    const auto doc = io::parse_json_bytes(text, model_json);
    const auto dir = model_json.parent_path();
    const auto* manifest = doc.find("weightsManifest");
    if (!manifest) fail<io_error>("tfjs", source, ": no weightsManifest (not a TF.js model)");
    const auto weights = io::decode_tfjs_weights(*manifest, io::read_shards_in(dir, &checksum), source);
    graph g(compile(doc, weights, source));
    g.checksum_ = checksum.value();
    return g;
  }

  /// Compiles a parsed model.json with its decoded weights (see load).
  static base compile(const io::json& doc, const std::map<std::string, tensor<float, host>>& weights,
                      const std::string& source) {
    if (const auto* f = doc.find("format"); f && f->is_string() && f->string() != "graph-model")
      fail<io_error>("tfjs", source, ": format \"", f->string(), "\" is not a graph model");
    const auto* topo = doc.find("modelTopology");
    const auto* nodes_json = topo ? topo->find("node") : nullptr;
    if (!nodes_json) fail<io_error>("tfjs", source, ": no modelTopology.node (not a TF.js graph model)");
    std::vector<engines::graph::node<T, B>> nodes;
    std::map<std::string, value<T, B>> constants;
    std::vector<engines::graph::port> inputs, outputs;
    std::set<std::string> read, produced;
    std::vector<std::string> order;
    try {
      for (const auto& nj : nodes_json->items("node")) {
        const auto& name = nj.at("name").string("node name");
        const auto& op = nj.at("op").string("node op");
        const std::string where = source + ": node \"" + name + "\" (" + op + ")";
        const io::json* attrs = nj.find("attr");
        std::vector<std::string> ins;
        if (const auto* i = nj.find("input"))
          for (const auto& x : i->items("input")) {
            std::string s = x.string("input");
            if (!s.empty() && s[0] == '^') continue;  // control dependency
            if (s.size() > 2 && s.compare(s.size() - 2, 2, ":0") == 0) s.resize(s.size() - 2);
            ins.push_back(s);
            read.insert(s);
          }
        order.push_back(name);
        if (op == "Const") {
          const auto it = weights.find(name);
          if (it == weights.end()) fail<io_error>("tfjs", where, ": no tensor of that name in the weights");
          const node_view v(op, attrs, 0, where);
          std::string dtype = "DT_FLOAT";
          if (attrs)
            if (const auto* d = attrs->find("dtype"); d && d->find("type")) dtype = d->at("type").string("dtype");
          const auto& t = it->second;
          const auto s = t.shape();
          std::vector<index_t> dims(s.begin(), s.end());
          if (dtype == "DT_INT32" || dtype == "DT_INT64") {
            std::vector<std::int64_t> ints;
            for (float x : t.to_vector()) {
              if (!(std::abs(x) <= 16777216.0f) || x != std::floor(x))
                fail<io_error>("tfjs", where, ": integer constant holds ", x, " (not an integer of at most 2^24)");
              ints.push_back(static_cast<std::int64_t>(x));
            }
            constants.emplace(name, value<T, B>::of_ints(std::move(ints), dims));
          } else if (dtype == "DT_FLOAT") {
            constants.emplace(name, value<T, B>::of_floats(t.to_vector(), dims, where));
          } else {
            fail<io_error>("tfjs", where, ": Const of dtype ", dtype, " is not supported");
          }
          produced.insert(name);
          continue;
        }
        if (op == "Placeholder") {
          engines::graph::port p{name, {}};
          if (attrs)
            if (const auto* sh = attrs->find("shape"); sh && sh->find("shape"))
              if (const auto* dim = sh->at("shape").find("dim"))
                for (const auto& d : dim->items("dim"))
                  p.dims.push_back(d.find("size") ? static_cast<index_t>(detail::tf_int(d.at("size"), where)) : -1);
          for (auto& d : p.dims) d = d < 0 ? -1 : d;
          inputs.push_back(p);
          produced.insert(name);
          continue;
        }
        engines::graph::kernel<T, B> helper;
        const node_view v(op, attrs, ins.size(), where);
        auto k = compile_op<T, B>(v, &helper);
        if (helper) {  // the filter, rearranged once at load (its input is a constant)
          const std::string oihw = name + "/bijgan_filter_oihw";
          nodes.push_back({where, "bijgan:filter_layout", {ins.at(1)}, {oihw}, std::move(helper)});
          ins[1] = oihw;
        }
        nodes.push_back({where, op, ins, {name}, std::move(k)});
        produced.insert(name);
      }
      if (const auto* sig = doc.find("signature"); sig && sig->find("outputs")) {
        for (const auto& [key, o] : sig->at("outputs").members("signature outputs")) {
          std::string n = o.find("name") ? o.at("name").string("output name") : key;
          if (n.size() > 2 && n.compare(n.size() - 2, 2, ":0") == 0) n.resize(n.size() - 2);
          engines::graph::port p{n, {}};
          if (const auto* ts = o.find("tensorShape"); ts && ts->find("dim"))
            for (const auto& d : ts->at("dim").items("dim"))
              p.dims.push_back(d.find("size")
                                   ? std::max<index_t>(-1, static_cast<index_t>(detail::tf_int(d.at("size"), source)))
                                   : -1);
          outputs.push_back(p);
        }
      } else {
        for (const auto& n : order)
          if (!read.count(n) && !constants.count(n)) outputs.push_back({n, {}});
      }
    } catch (const io_error&) {
      throw;
    } catch (const error& e) {
      fail<io_error>("tfjs", source, ": ", e.what());
    }
    return base::build(source, std::move(nodes), std::move(constants), std::move(inputs), std::move(outputs));
  }

  /// FNV-1a of model.json and its shards (0 for a graph compiled from memory).
  [[nodiscard]] std::uint64_t checksum() const noexcept { return checksum_; }

 private:
  explicit graph(base b) : base(std::move(b)) {}
  std::uint64_t checksum_ = 0;
};

}  // namespace bijgan::engines::tfjs
