// ONNX model files: parsed with the ONNX project's own protobuf schema (Debian libonnx-dev's
// onnx-ml.pb.h and libprotobuf) into plain structs that own their data, so nothing above io/
// sees protobuf. Tensors are decoded to float32 (float, float16, double) or int64 (every
// integer type and bool); every size is checked against the bytes before anything is
// allocated. Link bijgan::onnx (CMake) to use this header.
#pragma once

#if !__has_include(<onnx/onnx_pb.h>)
#error \
    "bijgan/io/onnx.hpp needs the ONNX protobuf schema: apt-get install libonnx-dev libprotobuf-dev, and link bijgan::onnx"
#endif

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "bijgan/backend/shape.hpp"
#include "bijgan/io/atomic_file.hpp"
#include "bijgan/io/half.hpp"

namespace bijgan::io {

/// A tensor of an ONNX file (initializer or Constant value), decoded. Floating types become
/// float32 in `floats`, integer types and bool become int64 in `ints`.
struct onnx_tensor {
  std::string name;
  std::vector<index_t> dims;  ///< any rank; empty for a scalar
  bool is_float = true;
  std::vector<float> floats;
  std::vector<std::int64_t> ints;
  /// Element count of dims (1 for a scalar).
  [[nodiscard]] index_t numel() const {
    index_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
};

/// A node attribute; `kind` says which member holds its value.
struct onnx_attribute {
  enum class kind { f, i, s, t, floats, ints, strings, unsupported };
  kind type = kind::unsupported;
  float f = 0;
  std::int64_t i = 0;
  std::string s;
  onnx_tensor t;
  std::vector<float> floats;
  std::vector<std::int64_t> ints;
  std::vector<std::string> strings;
};

/// One node: op_type in domain ("" is the default ONNX domain), named inputs ("" for an
/// omitted optional input) and outputs.
struct onnx_node {
  std::string name, op_type, domain;
  std::vector<std::string> inputs, outputs;
  std::map<std::string, onnx_attribute> attributes;
};

/// A graph input or output: its element type (TensorProto::DataType number) and dims, -1
/// where the file gives a symbolic or no extent.
struct onnx_value_info {
  std::string name;
  int elem_type = 0;
  std::vector<index_t> dims;
};

/// A whole model: the graph's nodes as stored, its initializers, the inputs that are not
/// initializers, its outputs, and the default domain's opset.
struct onnx_model {
  std::string source;  ///< the file (or caller's name) errors cite
  std::int64_t ir_version = 0, opset = 0;
  std::string producer;
  std::vector<onnx_node> nodes;
  std::vector<onnx_tensor> initializers;
  std::vector<onnx_value_info> inputs, outputs;
};

namespace detail {

/// Element count of dims with each extent checked non-negative and the product kept below
/// `limit`; io_error naming the tensor otherwise.
inline index_t checked_numel(const std::vector<index_t>& dims, index_t limit, const std::string& source,
                             const std::string& what) {
  index_t n = 1;
  for (auto d : dims) {
    if (d < 0) fail<located_io_error>("load_onnx", source, ": ", what, " has a negative extent ", d);
    if (d != 0 && n > limit / d)
      fail<located_io_error>("load_onnx", source, ": ", what, " has more than ", limit, " elements");
    n *= d;
  }
  return n;
}

inline onnx_tensor decode_onnx_tensor(const onnx::TensorProto& p, const std::string& source) {
  onnx_tensor t;
  t.name = p.name();
  const std::string what = "tensor \"" + p.name() + "\"";
  if (p.data_location() == onnx::TensorProto::EXTERNAL)
    fail<located_io_error>("load_onnx", source, ": ", what, " keeps its data in an external file (unsupported)");
  for (auto d : p.dims()) t.dims.push_back(static_cast<index_t>(d));
  const index_t n = checked_numel(t.dims, index_t{1} << 31, source, what);
  const auto& raw = p.raw_data();
  const auto need_raw = [&](std::size_t elem) {
    if (raw.size() != static_cast<std::size_t>(n) * elem)
      fail<located_io_error>("load_onnx", source, ": ", what, " holds ", raw.size(), " raw bytes, its dims ", n, " x ",
                             elem, " need ", static_cast<std::size_t>(n) * elem);
  };
  const auto need_count = [&](std::size_t have) {
    if (have != static_cast<std::size_t>(n))
      fail<located_io_error>("load_onnx", source, ": ", what, " holds ", have, " values, its dims need ", n);
  };
  auto raw_as = [&]<class S>(S) {
    need_raw(sizeof(S));
    std::vector<S> v(static_cast<std::size_t>(n));
    if (n > 0) std::memcpy(v.data(), raw.data(), raw.size());
    return v;
  };
  switch (p.data_type()) {
    case onnx::TensorProto::FLOAT:
      if (!raw.empty() || p.float_data_size() == 0) {
        t.floats = raw_as(float{});
      } else {
        need_count(static_cast<std::size_t>(p.float_data_size()));
        t.floats.assign(p.float_data().begin(), p.float_data().end());
      }
      break;
    case onnx::TensorProto::DOUBLE: {
      std::vector<double> d;
      if (!raw.empty() || p.double_data_size() == 0)
        d = raw_as(double{});
      else {
        need_count(static_cast<std::size_t>(p.double_data_size()));
        d.assign(p.double_data().begin(), p.double_data().end());
      }
      t.floats.assign(d.begin(), d.end());
      break;
    }
    case onnx::TensorProto::FLOAT16: {
      std::vector<std::uint16_t> h;
      if (!raw.empty() || p.int32_data_size() == 0)
        h = raw_as(std::uint16_t{});
      else {
        need_count(static_cast<std::size_t>(p.int32_data_size()));
        for (auto v : p.int32_data()) h.push_back(static_cast<std::uint16_t>(v));
      }
      for (auto v : h) t.floats.push_back(half_to_float(v));
      break;
    }
    case onnx::TensorProto::INT64:
      t.is_float = false;
      if (!raw.empty() || p.int64_data_size() == 0)
        t.ints = raw_as(std::int64_t{});
      else {
        need_count(static_cast<std::size_t>(p.int64_data_size()));
        t.ints.assign(p.int64_data().begin(), p.int64_data().end());
      }
      break;
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::UINT16:
    case onnx::TensorProto::BOOL: {
      t.is_float = false;
      const auto type = p.data_type();
      if (!raw.empty() || p.int32_data_size() == 0) {
        if (type == onnx::TensorProto::INT32)
          for (auto v : raw_as(std::int32_t{})) t.ints.push_back(v);
        else if (type == onnx::TensorProto::INT16)
          for (auto v : raw_as(std::int16_t{})) t.ints.push_back(v);
        else if (type == onnx::TensorProto::UINT16)
          for (auto v : raw_as(std::uint16_t{})) t.ints.push_back(v);
        else if (type == onnx::TensorProto::INT8)
          for (auto v : raw_as(std::int8_t{})) t.ints.push_back(v);
        else
          for (auto v : raw_as(std::uint8_t{})) t.ints.push_back(v);
      } else {
        need_count(static_cast<std::size_t>(p.int32_data_size()));
        t.ints.assign(p.int32_data().begin(), p.int32_data().end());
      }
      break;
    }
    default:
      fail<located_io_error>("load_onnx", source, ": ", what, " has element type ", p.data_type(),
                             " (supported: float, float16, double, integer types, bool)");
  }
  return t;
}

inline onnx_attribute decode_onnx_attribute(const onnx::AttributeProto& a, const std::string& source) {
  onnx_attribute r;
  switch (a.type()) {
    case onnx::AttributeProto::FLOAT:
      r.type = onnx_attribute::kind::f;
      r.f = a.f();
      break;
    case onnx::AttributeProto::INT:
      r.type = onnx_attribute::kind::i;
      r.i = a.i();
      break;
    case onnx::AttributeProto::STRING:
      r.type = onnx_attribute::kind::s;
      r.s = a.s();
      break;
    case onnx::AttributeProto::TENSOR:
      r.type = onnx_attribute::kind::t;
      r.t = decode_onnx_tensor(a.t(), source);
      break;
    case onnx::AttributeProto::FLOATS:
      r.type = onnx_attribute::kind::floats;
      r.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case onnx::AttributeProto::INTS:
      r.type = onnx_attribute::kind::ints;
      r.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case onnx::AttributeProto::STRINGS:
      r.type = onnx_attribute::kind::strings;
      r.strings.assign(a.strings().begin(), a.strings().end());
      break;
    default:
      r.type = onnx_attribute::kind::unsupported;
      break;  // graphs, sparse tensors: refused where used
  }
  return r;
}

inline onnx_value_info decode_onnx_value_info(const onnx::ValueInfoProto& v) {
  onnx_value_info r;
  r.name = v.name();
  if (v.type().has_tensor_type()) {
    r.elem_type = v.type().tensor_type().elem_type();
    for (const auto& d : v.type().tensor_type().shape().dim())
      r.dims.push_back(d.has_dim_value() && d.dim_value() >= 0 ? static_cast<index_t>(d.dim_value()) : -1);
  }
  return r;
}

}  // namespace detail

/// Parses the bytes of an ONNX model; `source` names it in errors. Throws io_error naming the
/// source and the tensor, node or field when the bytes are not a model, a tensor's data does
/// not match its dims or type, data is external, or the graph is empty.
inline onnx_model parse_onnx(std::span<const unsigned char> bytes, const std::string& source) {
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    fail<detail::located_io_error>("load_onnx", source, ": ", bytes.size(), " bytes is beyond protobuf's 2 GiB limit");
  onnx::ModelProto m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    fail<detail::located_io_error>("load_onnx", source,
                                   ": not an ONNX model (protobuf parse failed: truncated or corrupt)");
  if (!m.has_graph() || m.graph().node_size() == 0)
    fail<detail::located_io_error>("load_onnx", source, ": the model has no graph or no nodes");
  onnx_model r;
  r.source = source;
  r.ir_version = m.ir_version();
  r.producer = m.producer_name() + (m.producer_version().empty() ? "" : " " + m.producer_version());
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") r.opset = o.version();
  const auto& g = m.graph();
  for (const auto& t : g.initializer()) r.initializers.push_back(detail::decode_onnx_tensor(t, source));
  std::map<std::string, bool> is_initializer;
  for (const auto& t : r.initializers) is_initializer[t.name] = true;
  for (const auto& v : g.input())
    if (!is_initializer.count(v.name())) r.inputs.push_back(detail::decode_onnx_value_info(v));
  for (const auto& v : g.output()) r.outputs.push_back(detail::decode_onnx_value_info(v));
  for (const auto& n : g.node()) {
    onnx_node node;
    node.name = n.name();
    node.op_type = n.op_type();
    node.domain = n.domain();
    node.inputs.assign(n.input().begin(), n.input().end());
    node.outputs.assign(n.output().begin(), n.output().end());
    for (const auto& a : n.attribute()) node.attributes[a.name()] = detail::decode_onnx_attribute(a, source);
    r.nodes.push_back(std::move(node));
  }
  return r;
}

/// Reads and parses an ONNX file (see parse_onnx); io_error naming the path when it cannot be
/// read.
inline onnx_model load_onnx(const std::filesystem::path& path) {
  const auto bytes = read_file(path);
  return parse_onnx(bytes, path.string());
}

}  // namespace bijgan::io
