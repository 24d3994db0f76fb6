// libFuzzer targets for every loader of the library, in one executable (one compile on two
// cores): the target is chosen by the program's name (fuzz_<target>, a link to bijgan_fuzz) or
// by BIJGAN_FUZZ_TARGET. Each target feeds the bytes to the loader's in-memory entry point;
// bijgan::error is the expected answer to bad input, so it is caught, and anything else that
// escapes (another exception, a crash, a sanitizer report, a huge allocation) is a finding.
// BIJGAN_FUZZ_WRITE_SEEDS=<dir> writes the seed corpora (<dir>/<target>/...) and exits.
#include <zlib.h>

#include <bijgan/data/idx.hpp>
#include <bijgan/data/lfw.hpp>
#include <bijgan/engines/tfjs/graph.hpp>
#include <bijgan/io/json.hpp>
#include <bijgan/io/npy.hpp>
#include <bijgan/io/png.hpp>
#include <bijgan/io/safetensors.hpp>
#include <bijgan/io/tfjs.hpp>
#include <bijgan/nn/nn.hpp>
#include <bijgan/optim/adam.hpp>
#include "../support/gzip.hpp"
#ifdef BIJGAN_HAVE_ONNX
#include <bijgan/engines/onnx/graph.hpp>
#endif

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

using namespace bijgan;
namespace fs = std::filesystem;

namespace {

using bytes_t = std::span<const unsigned char>;
std::vector<unsigned char> copy(bytes_t b) { return {b.begin(), b.end()}; }
std::string_view text(bytes_t b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// ---- the module a checkpoint is loaded into: conv + batch norm + linear, and its Adam ----
auto checkpoint_net() {
  nn::manual_seed(1);
  return nn::conv2d({.in = 1, .out = 2, .kernel = 3, .padding = 1}) | nn::batch_norm({.channels = 2}) |
         nn::act::flatten{} | nn::linear({.in = 8, .out = 3});
}
using net_t = decltype(checkpoint_net());

// ---- targets -------------------------------------------------------------------------------
void fuzz_safetensors(bytes_t b) {
  const auto d = io::decode_safetensors(copy(b), "fuzz.safetensors");
  for (const auto& [name, s] : d.entries()) (void)d.get<float>(name);
  (void)io::encode_safetensors(d);
}
void fuzz_checkpoint(bytes_t b) {
  static net_t net = checkpoint_net();
  static optim::adam<> opt(nn::parameters(net));
  const auto d = io::decode_safetensors(copy(b), "fuzz.safetensors");
  d.load_module("model", net);
  d.load_module("optimizer", opt);
  (void)io::metadata_integer(d, "step", 0, 1LL << 53, "fuzz.safetensors");
}
void fuzz_npy(bytes_t b) {
  (void)io::decode_npy<float>(copy(b), "fuzz.npy");
  (void)io::decode_npy<double>(copy(b), "fuzz.npy");
}
void fuzz_json(bytes_t b) {
  const auto j = io::json::parse(text(b));
  // Walk the tree through the typed accessors a loader would use.
  const auto walk = [](const auto& self, const io::json& v, int depth) -> void {
    if (v.is_object())
      for (const auto& [k, x] : v.members()) {
        (void)io::json_quote(k);
        self(self, x, depth + 1);
      }
    else if (v.is_array())
      for (const auto& x : v.items()) self(self, x, depth + 1);
    else if (v.is_string())
      (void)io::json::parse(io::json_quote(v.string()));  // round trip
    else if (v.is_integer())
      try {
        (void)v.integer();
      } catch (const io_error&) {
      }
  };
  walk(walk, j, 0);
}
void fuzz_image(bytes_t b) {
  const auto t = io::decode_image(b, "fuzz.image", {.max_width = 4096, .max_height = 4096, .max_pixels = 1 << 22});
  if (t.rank() != 3 || t.size(0) < 1 || t.size(0) > 4) std::abort();  // the contract: [C, H, W], C in 1..4
}
/// Input: a 4-byte little-endian manifest length, the manifest JSON, then the bytes of every
/// shard (shard k gets the k-th quarter of the rest, so one input can list several shards).
void fuzz_tfjs(bytes_t b) {
  if (b.size() < 4) return;
  std::uint32_t n = 0;
  std::memcpy(&n, b.data(), 4);
  if (n > b.size() - 4) return;
  const auto manifest = io::json::parse(text(b.subspan(4, n)));
  const auto rest = b.subspan(4 + n);
  int k = 0;
  (void)io::decode_tfjs_weights(
      manifest,
      [&](const std::string&) {
        const std::size_t q = rest.size() / 4, at = std::min<std::size_t>(static_cast<std::size_t>(k) * q, rest.size());
        const std::size_t len = k == 3 ? rest.size() - at : q;
        ++k;
        return k > 4 ? std::vector<unsigned char>{} : copy(rest.subspan(at, len));
      },
      "fuzz/model.json");
}
/// Runs a compiled graph once on zeros when its one input has known extents of at most 4,096
/// elements.
template <class Graph>
void run_small(const Graph& g) {
  if (g.inputs().size() != 1) return;
  index_t n = 1;
  const auto& dims = g.inputs()[0].dims;
  if (dims.empty() || dims.size() > shape::max_rank) return;
  for (auto d : dims) {
    if (d < 1 || d > 4096) return;
    n *= d;
    if (n > 4096) return;
  }
  (void)g({constant(tensor<float>::zeros(shape(std::span<const index_t>(dims))))});
}
/// A TF.js graph model: a 4-byte little-endian length, model.json, then the one weight shard;
/// decoded, compiled and run (run_small).
void fuzz_tfjs_graph(bytes_t b) {
  if (b.size() < 4) return;
  std::uint32_t n = 0;
  std::memcpy(&n, b.data(), 4);
  if (n > b.size() - 4) return;
  const auto doc = io::json::parse(text(b.subspan(4, n)));
  const auto shard = b.subspan(4 + n);
  const auto* manifest = doc.find("weightsManifest");
  if (!manifest) return;
  int reads = 0;
  const auto weights = io::decode_tfjs_weights(
      *manifest, [&](const std::string&) { return ++reads == 1 ? copy(shard) : std::vector<unsigned char>{}; },
      "fuzz/model.json");
  run_small(engines::tfjs::graph<float>::compile(doc, weights, "fuzz/model.json"));
}
#ifdef BIJGAN_HAVE_ONNX
/// An ONNX model: parsed, compiled (sorted, checked, folded) and, when its one input has known
/// extents of at most 4,096 elements, run once on zeros.
void fuzz_onnx(bytes_t b) { run_small(engines::onnx::graph<float>::compile(io::parse_onnx(b, "fuzz.onnx"))); }
#endif
void fuzz_idx(bytes_t b) { (void)data::decode_idx(b, "fuzz.idx"); }
/// The LFW text lists: the same bytes as a pairs list and as an image list.
void fuzz_lfw_pairs(bytes_t b) {
  try {
    (void)data::parse_lfw_pairs(text(b), "fuzz/pairs.txt");
  } catch (const io_error&) {
  }
  (void)data::parse_lfw_image_list(text(b), "fuzz/list.txt");
}

struct target {
  const char* name;
  void (*run)(bytes_t);
};
constexpr target targets[] = {
    {"safetensors", fuzz_safetensors},
    {"checkpoint", fuzz_checkpoint},
    {"npy", fuzz_npy},
    {"json", fuzz_json},
    {"image", fuzz_image},
    {"tfjs", fuzz_tfjs},
    {"idx", fuzz_idx},
    {"lfw_pairs", fuzz_lfw_pairs},
    {"tfjs_graph", fuzz_tfjs_graph},
#ifdef BIJGAN_HAVE_ONNX
    {"onnx", fuzz_onnx},
#endif
};
const target* chosen = nullptr;

// ---- seed corpora ------------------------------------------------------------------------
void put(const fs::path& dir, const std::string& name, const std::vector<unsigned char>& b) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
std::vector<unsigned char> of(std::string_view s) { return {s.begin(), s.end()}; }

void write_seeds(const fs::path& root) {
  rng g(7);
  {  // safetensors: F32/F64/F16/BF16, metadata, an empty tensor
    io::state_dict d;
    d.put("a", tensor<float>::random({2, 3}, g, {distribution::normal, 0, 1}));
    d.put("b.c", tensor<double>::from(std::vector<double>{1, 2}, {2}));
    d.put("empty", tensor<float>::zeros({0, 4}));
    d.metadata["step"] = "12";
    auto bytes = io::encode_safetensors(d);
    put(root / "safetensors", "mixed.safetensors", bytes);
    io::state_dict h;
    h.entries()["half"] = {"F16", shape{2}, {0x00, 0x3c, 0x00, 0xc0}};
    h.entries()["bf"] = {"BF16", shape{1}, {0x80, 0x3f}};
    put(root / "safetensors", "half.safetensors", io::encode_safetensors(h));
  }
  {  // checkpoint: the net and its Adam state, as the trainers write them
    auto net = checkpoint_net();
    optim::adam<> opt(nn::parameters(net));
    (void)net(constant(tensor<float>::random({2, 1, 2, 2}, g, {distribution::normal, 0, 1})));
    io::state_dict d;
    d.put_module("model", net);
    d.put_module("optimizer", opt);
    d.metadata["step"] = "0";
    put(root / "checkpoint", "fresh.safetensors", io::encode_safetensors(d));
  }
  {  // npy: f4 and f8, rank 0..3
    put(root / "npy", "f4.npy", io::encode_npy(tensor<float>::random({2, 3}, g, {distribution::normal, 0, 1})));
    put(root / "npy", "f8.npy", io::encode_npy(tensor<double>::from(std::vector<double>{1, 2, 3, 4}, {2, 1, 2})));
    put(root / "npy", "scalar.npy", io::encode_npy(tensor<float>::scalar(3)));
    put(root / "npy", "empty.npy", io::encode_npy(tensor<float>::zeros({0})));
  }
  {  // json
    put(root / "json", "object.json",
        of(R"({"a": [1, -2, 2.5e3, true, false, null, "x\u00e9\ud83d\ude00\n"], "b": {"c": {}}})"));
    put(root / "json", "numbers.json", of("[0, -0, 1e308, 123456789012345678901, -9223372036854775808, 0.1]"));
    put(root / "json", "manifest.json",
        of(R"([{"paths": ["s1.bin"], "weights": [{"name": "w", "shape": [2, 2], "dtype": "float32"}]}])"));
  }
  {  // images: PNG gray and RGB (ours), JPEG RGB and gray (libjpeg-turbo)
    const auto rgb = tensor<float>::random({3, 9, 7}, g, {distribution::uniform, 0, 1});
    const auto dir = root / "image";
    fs::create_directories(dir);
    io::write_png(dir / "rgb.png", rgb);
    io::write_png(dir / "gray.png", tensor<float>::random({1, 5, 6}, g, {distribution::uniform, 0, 1}));
    for (const bool gray : {false, true}) {
      const int w = 16, h = 12, c = gray ? 1 : 3;
      std::vector<unsigned char> px(static_cast<std::size_t>(w * h * c));
      for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>((i * 37) % 251);
      tjhandle tj = tjInitCompress();
      unsigned char* jpg = nullptr;
      unsigned long size = 0;
      tjCompress2(tj, px.data(), w, 0, h, gray ? TJPF_GRAY : TJPF_RGB, &jpg, &size, gray ? TJSAMP_GRAY : TJSAMP_420, 85,
                  gray ? 0 : TJFLAG_PROGRESSIVE);
      put(dir, gray ? "gray.jpg" : "rgb_progressive.jpg", std::vector<unsigned char>(jpg, jpg + size));
      tjFree(jpg);
      tjDestroy(tj);
    }
  }
  {  // tfjs: float32, uint8, uint16 and float16 tensors over two shards
    const std::string manifest =
        R"([{"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"], "weights": [)"
        R"({"name": "conv/filters", "shape": [2, 2], "dtype": "float32"},)"
        R"({"name": "conv/bias", "shape": [4], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},)"
        R"({"name": "fc/w", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": 0.01, "min": 0}},)"
        R"({"name": "fc/h", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}}]}])";
    std::vector<unsigned char> b(4);
    const auto n = static_cast<std::uint32_t>(manifest.size());
    std::memcpy(b.data(), &n, 4);
    b.insert(b.end(), manifest.begin(), manifest.end());
    // 16 + 4 + 4 + 4 = 28 bytes, split by the harness into four shards of 7: it reads two.
    const float f[4] = {1, -2, 3.5f, 0};
    const auto* fp = reinterpret_cast<const unsigned char*>(f);
    std::vector<unsigned char> data(fp, fp + 16);
    for (unsigned char q : {0, 1, 2, 255}) data.push_back(q);
    for (unsigned char q : {0x10, 0x00, 0xff, 0xff}) data.push_back(q);
    for (unsigned char q : {0x00, 0x3c, 0x00, 0xc0}) data.push_back(q);
    b.insert(b.end(), data.begin(), data.end());
    put(root / "tfjs", "four_dtypes.bin", b);
  }
  {  // idx: images [2, 3, 3] and labels [2], plain and gzip
    std::vector<unsigned char> img{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3};
    for (int i = 0; i < 18; ++i) img.push_back(static_cast<unsigned char>(i * 14));
    const std::vector<unsigned char> lab{0, 0, 8, 1, 0, 0, 0, 2, 7, 3};
    put(root / "idx", "images.idx", img);
    put(root / "idx", "labels.idx", lab);
    put(root / "idx", "images.idx.gz", bijgan_test::gzip(img));
  }
  {  // TF.js graph model: NHWC conv (SAME, stride 2) + fused BiasAdd/Relu6, Mean, MatMul
    const std::string json =
        R"({"format": "graph-model", "modelTopology": {"node": [)"
        R"({"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {"dim": [{"size": "1"}, {"size": "4"}, {"size": "4"}, {"size": "2"}]}}}},)"
        R"({"name": "w", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}}},)"
        R"({"name": "b", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}}},)"
        R"({"name": "axes", "op": "Const", "attr": {"dtype": {"type": "DT_INT32"}}},)"
        R"({"name": "m", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}}},)"
        R"({"name": "c", "op": "_FusedConv2D", "input": ["x", "w", "b"], "attr": {"strides": {"list": {"i": ["1", "2", "2", "1"]}}, )"
        R"("padding": {"s": "U0FNRQ=="}, "data_format": {"s": "TkhXQw=="}, "fused_ops": {"list": {"s": ["Qmlhc0FkZA==", "UmVsdTY="]}}, "num_args": {"i": "1"}}},)"
        R"({"name": "p", "op": "Mean", "input": ["c", "axes"], "attr": {"keep_dims": {"b": false}}},)"
        R"({"name": "y", "op": "MatMul", "input": ["p", "m"], "attr": {"transpose_a": {"b": false}, "transpose_b": {"b": false}}}]},)"
        R"("weightsManifest": [{"paths": ["w.bin"], "weights": [{"name": "w", "shape": [3, 3, 2, 2], "dtype": "float32"}, )"
        R"({"name": "b", "shape": [2], "dtype": "float32"}, {"name": "axes", "shape": [2], "dtype": "int32"}, )"
        R"({"name": "m", "shape": [2, 3], "dtype": "float32", "quantization": {"dtype": "float16"}}]}]})";
    std::vector<unsigned char> b(4);
    const auto n = static_cast<std::uint32_t>(json.size());
    std::memcpy(b.data(), &n, 4);
    b.insert(b.end(), json.begin(), json.end());
    auto push = [&](const void* p, std::size_t k) {
      b.insert(b.end(), static_cast<const unsigned char*>(p), static_cast<const unsigned char*>(p) + k);
    };
    for (int k = 0; k < 36 + 2; ++k) {
      const float v = 0.1f * static_cast<float>(k % 5) - 0.2f;
      push(&v, 4);
    }
    const std::int32_t axes[2] = {1, 2};
    push(axes, 8);
    const std::uint16_t halves[6] = {0x3c00, 0xbc00, 0x3800, 0x0000, 0x4000, 0xb800};
    push(halves, 12);
    put(root / "tfjs_graph", "fused_conv_mean_matmul.bin", b);
  }
#ifdef BIJGAN_HAVE_ONNX
  {  // ONNX: a Conv/PRelu/pool/Gemm/Softmax model and a PyTorch-style shape sub-graph
    auto model = [](const std::vector<std::int64_t>& in_dims) {
      onnx::ModelProto m;
      m.set_ir_version(8);
      m.add_opset_import()->set_version(13);
      auto* in = m.mutable_graph()->add_input();
      in->set_name("x");
      auto* tt = in->mutable_type()->mutable_tensor_type();
      tt->set_elem_type(onnx::TensorProto::FLOAT);
      for (auto d : in_dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
      return m;
    };
    auto init = [](onnx::ModelProto& m, const std::string& name, const std::vector<std::int64_t>& dims, bool ints) {
      auto* t = m.mutable_graph()->add_initializer();
      t->set_name(name);
      t->set_data_type(ints ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT);
      std::int64_t n = 1;
      for (auto d : dims) {
        t->add_dims(d);
        n *= d;
      }
      for (std::int64_t k = 0; k < n; ++k)
        if (ints)
          t->add_int64_data(k == 0 ? 1 : -1);
        else
          t->add_float_data(0.1f * static_cast<float>(k % 7) - 0.3f);
    };
    auto node = [](onnx::ModelProto& m, const char* op, std::vector<std::string> in,
                   std::string out) -> onnx::NodeProto& {
      auto* n = m.mutable_graph()->add_node();
      n->set_op_type(op);
      n->set_name(std::string(op) + "_" + out);
      for (auto& s : in) n->add_input(s);
      n->add_output(out);
      return *n;
    };
    auto ints_attr = [](onnx::NodeProto& n, const char* name, std::vector<std::int64_t> v) {
      auto* a = n.add_attribute();
      a->set_name(name);
      a->set_type(onnx::AttributeProto::INTS);
      for (auto x : v) a->add_ints(x);
    };
    auto save = [&](const onnx::ModelProto& m, const char* name) {
      std::string bytes;
      m.SerializeToString(&bytes);
      put(root / "onnx", name, of(bytes));
    };
    auto m = model({1, 2, 6, 6});
    init(m, "w", {4, 1, 3, 3}, false);
    init(m, "slope", {4, 1, 1}, false);
    init(m, "gw", {3, 16}, false);
    auto& conv = node(m, "Conv", {"x", "w"}, "c");
    ints_attr(conv, "pads", {1, 1, 1, 1});
    ints_attr(conv, "strides", {2, 2});
    auto* g = conv.add_attribute();
    g->set_name("group");
    g->set_type(onnx::AttributeProto::INT);
    g->set_i(2);
    node(m, "PRelu", {"c", "slope"}, "p");
    auto& pool = node(m, "MaxPool", {"p"}, "q");
    ints_attr(pool, "kernel_shape", {2, 2});
    ints_attr(pool, "strides", {2, 2});
    node(m, "Flatten", {"q"}, "f");
    node(m, "Gemm", {"f", "gw"}, "z").add_attribute()->CopyFrom([] {
      onnx::AttributeProto a;
      a.set_name("transB");
      a.set_type(onnx::AttributeProto::INT);
      a.set_i(1);
      return a;
    }());
    node(m, "Softmax", {"z"}, "y");
    m.mutable_graph()->add_output()->set_name("y");
    save(m, "conv_gemm.onnx");
    auto s = model({2, 3, 2, 2});
    node(s, "Shape", {"x"}, "s");
    init(s, "target", {3}, true);
    node(s, "Reshape", {"x", "target"}, "r");
    node(s, "Relu", {"r"}, "y");
    s.mutable_graph()->add_output()->set_name("y");
    save(s, "shape_reshape.onnx");
  }
#endif
  {  // LFW pairs: 2 folds of 1 + 1
    put(root / "lfw_pairs", "pairs.txt",
        of("2\t1\nAaron_Peirsol\t1\t2\nAJ_Cook\t1\tMarsha_Thomason\t1\n"
           "Abel_Pacheco\t1\t4\nAbdullah\t3\tAbdullah_al-Attiyah\t1\n"));
    put(root / "lfw_pairs", "list.txt",
        of("# images\nAaron_Peirsol/Aaron_Peirsol_0002.jpg\r\n\nlfw-deepfunneled/AJ_Cook/AJ_Cook_0001.jpg\n"));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  if (const char* dir = std::getenv("BIJGAN_FUZZ_WRITE_SEEDS")) {
    write_seeds(dir);
    std::exit(0);
  }
  std::string want;
  if (const char* env = std::getenv("BIJGAN_FUZZ_TARGET"))
    want = env;
  else if (*argc > 0) {
    const std::string self = fs::path((*argv)[0]).filename().string();
    if (self.rfind("fuzz_", 0) == 0) want = self.substr(5);
  }
  for (const auto& t : targets)
    if (want == t.name) chosen = &t;
  if (!chosen) {
    std::fprintf(stderr,
                 "bijgan_fuzz: choose a target by running fuzz_<target> or setting BIJGAN_FUZZ_TARGET to one of:");
    for (const auto& t : targets) std::fprintf(stderr, " %s", t.name);
    std::fprintf(stderr, "\n");
    std::exit(2);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    chosen->run(bytes_t(data, size));
  } catch (const bijgan::error&) {
    // the documented answer to bad input
  }
  return 0;
}
