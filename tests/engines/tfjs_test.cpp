// Engines from TF.js graph models: faceres1024 (float16 weights) and mobilefacenet192 (with its
// converter's fused-ReLU quirk) against the outputs TensorFlow.js computed for them, small
// graph models written in-test (NHWC convolutions with TF's SAME padding, fused ops, shape ops)
// against the composed ops and finite differences, and the load-time refusals. Cases needing
// ../shared/data report themselves skipped where it is absent.
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/engines/tfjs_engine.hpp>
#include <bijgan/testing/gradcheck.hpp>

#include "../support/engine_refs.hpp"

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>

using namespace bijgan;
namespace fs = std::filesystem;

namespace tfjs_test {
using namespace bijgan_test;

const fs::path engines_dir = fs::path(BIJGAN_SHARED_DIR) / "data" / "face-engines";

struct engines_present {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result r(fs::exists(engines_dir / "faceres1024" / "faceres.json") &&
                                          fs::exists(engines_dir / "mobilefacenet192" / "mobilefacenet.json"));
    r.message() << "../shared/data/face-engines (faceres1024, mobilefacenet192) absent: skipped";
    return r;
  }
};

/// The same images as the NHWC tensor the graph takes, value = byte * scale.
tensor<float> nhwc_of(const fs::path& file, index_t side, index_t first, float scale) {
  const auto bytes = io::read_file(file);
  const index_t per = 3 * side * side;
  std::vector<float> v(static_cast<std::size_t>(per));
  for (index_t p = 0; p < per; ++p)
    v[static_cast<std::size_t>(p)] = bytes[static_cast<std::size_t>(first * per + p)] * scale;
  return tensor<float>::from(v, {1, side, side, 3});
}

/// A graph model written in-test: nodes as TF's AttrValue JSON and the weights by name.
struct model_builder {
  std::string nodes;
  std::map<std::string, tensor<float>> weights;

  void node(const std::string& name, const std::string& op, const std::vector<std::string>& in,
            const std::string& attrs = "") {
    if (!nodes.empty()) nodes += ",";
    nodes += R"({"name": ")" + name + R"(", "op": ")" + op + R"(", "input": [)";
    for (std::size_t k = 0; k < in.size(); ++k) nodes += (k ? ", \"" : "\"") + in[k] + "\"";
    nodes += "], \"attr\": {" + attrs + "}}";
  }
  void placeholder(const std::string& name, const std::vector<int>& dims) {
    std::string d;
    for (std::size_t k = 0; k < dims.size(); ++k)
      d += (k ? ", " : "") + std::string(R"({"size": ")") + std::to_string(dims[k]) + "\"}";
    node(name, "Placeholder", {}, R"("dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {"dim": [)" + d + "]}}");
  }
  void constant(const std::string& name, const tensor<float>& t, bool ints = false) {
    node(name, "Const", {}, std::string(R"("dtype": {"type": ")") + (ints ? "DT_INT32" : "DT_FLOAT") + "\"}");
    weights.emplace(name, t);
  }
  [[nodiscard]] engines::graph::program<double, host> compile_double() const {
    return engines::tfjs::graph<double>::compile(io::json::parse(doc()), weights, "test/model.json");
  }
  [[nodiscard]] engines::graph::program<float, host> compile() const {
    return engines::tfjs::graph<float>::compile(io::json::parse(doc()), weights, "test/model.json");
  }
  [[nodiscard]] std::string doc() const {
    return R"({"format": "graph-model", "modelTopology": {"node": [)" + nodes + R"(]}, "weightsManifest": []})";
  }
};

/// base64 of a plain ASCII string (attribute strings are base64 in model.json).
std::string b64(const std::string& s) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (unsigned char c : s) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(digits[(acc >> bits) & 63u]);
    }
  }
  if (bits > 0) out.push_back(digits[(acc << (6 - bits)) & 63u]);
  while (out.size() % 4) out.push_back('=');
  return out;
}
std::string conv_attrs(int stride, const std::string& padding, const std::vector<std::string>& fused = {},
                       int num_args = 0) {
  std::string a = R"("strides": {"list": {"i": ["1", ")" + std::to_string(stride) + "\", \"" + std::to_string(stride) +
                  R"(", "1"]}}, "padding": {"s": ")" + b64(padding) + R"("}, "data_format": {"s": ")" + b64("NHWC") +
                  "\"}";
  if (!fused.empty()) {
    a += R"(, "fused_ops": {"list": {"s": [)";
    for (std::size_t k = 0; k < fused.size(); ++k) a += (k ? ", \"" : "\"") + b64(fused[k]) + "\"";
    a += R"(]}}, "num_args": {"i": ")" + std::to_string(num_args) + "\"}";
  }
  return a;
}

tensor<float> random_of(const shape& s, std::uint64_t seed) {
  rng g(seed);
  return tensor<float>::random(s, g, {distribution::normal, 0, 1});
}
}  // namespace tfjs_test

BOOST_AUTO_TEST_SUITE(tfjs_suite)
using namespace tfjs_test;

BOOST_AUTO_TEST_CASE(faceres1024_matches_tensorflow_js, *boost::unit_test::precondition(engines_present())) {
  const auto dir = engines_dir / "faceres1024";
  const auto engine = engines::load_faceres1024(dir);
  const auto hist = engine.graph().op_histogram();
  BOOST_TEST(hist.at("Conv2D") == 14u);
  BOOST_TEST(hist.at("DepthwiseConv2dNative") == 13u);
  const auto f = engine.features(io::read_raw_images(dir / "imgs_8x224x224x3_u8.bin", 3, 224, 224));
  BOOST_TEST(f.shape() == (shape{8, 1024}));
  const double err = max_error(f, load_json(dir / "reference_outputs.json"), load_json(dir / "imgs.json"), 1024);
  BOOST_TEST_MESSAGE("faceres1024: max abs error over 8 x 1024 outputs " << err);
  BOOST_TEST(err < 1e-4);
  // The intermediates and the age/gender heads, on the first image fed exactly as p.
  const auto ref = load_json(dir / "reference_intermediates.json").at("tensors");
  const auto x = constant(nhwc_of(dir / "imgs_8x224x224x3_u8.bin", 224, 0, 1.0f));
  const auto got = check_intermediates(engine.graph(), x, ref, 1e-4);
  const auto aux = load_json(dir / "reference_aux_outputs.json").at("Aaron_Eckhart_0001.jpg");
  BOOST_TEST(std::abs(got.at("gender_pred/Sigmoid").value().item() - aux.at("gender_sigmoid").at(0).get<double>()) <
             1e-5);
  const auto age = got.at("age_pred/Softmax").value().to_vector();
  for (std::size_t j = 0; j < 100; ++j) BOOST_TEST(std::abs(age[j] - aux.at("age_softmax").at(j).get<double>()) < 1e-5);
}

BOOST_AUTO_TEST_CASE(mobilefacenet192_matches_tensorflow_js, *boost::unit_test::precondition(engines_present())) {
  // _FusedConv2D, FusedDepthwiseConv2dNative [BiasAdd, Relu] (the converter's quirk: the PReLU
  // after it reads the fused ReLU, so it acts as a plain ReLU), PReLU spelled out, Squeeze, the
  // in-graph L2 normalisation.
  const auto dir = engines_dir / "mobilefacenet192";
  const auto engine = engines::load_mobilefacenet192(dir);
  const auto f = engine.features(io::read_raw_images(dir / "imgs_8x112x112x3_u8.bin", 3, 112, 112));
  const double err = max_error(f, load_json(dir / "reference_outputs.json"), load_json(dir / "imgs.json"), 192);
  BOOST_TEST_MESSAGE("mobilefacenet192: max abs error over 8 x 192 outputs " << err);
  BOOST_TEST(err < 1e-4);
  const auto ref = load_json(dir / "reference_intermediates.json").at("tensors");
  const auto x = constant(nhwc_of(dir / "imgs_8x112x112x3_u8.bin", 112, 0, 1.0f / 255));
  check_intermediates(engine.graph(), x, ref, 1e-4);
}

BOOST_AUTO_TEST_CASE(nhwc_convolutions_match_the_composed_ops) {
  // Conv2D SAME stride 2 on an even size (TF pads 0 before, 1 after), _FusedConv2D with
  // [BiasAdd, Prelu], FusedDepthwiseConv2dNative (multiplier 2) with [BiasAdd, Relu6],
  // _FusedMatMul [BiasAdd, Relu] after Mean over H, W; then Pad, ConcatV2, Transpose,
  // ExpandDims, Squeeze, Softmax.
  model_builder b;
  b.placeholder("x", {-1, 6, 6, 3});
  const auto w1 = random_of({3, 3, 3, 4}, 1), w2 = random_of({1, 1, 4, 4}, 2), bias2 = random_of({4}, 3),
             alpha = random_of({4}, 4);
  const auto wd = random_of({3, 3, 4, 2}, 5), biasd = random_of({8}, 6), wm = random_of({8, 5}, 7),
             bm = random_of({5}, 8);
  b.constant("w1", w1);
  b.constant("w2", w2);
  b.constant("b2", bias2);
  b.constant("alpha", alpha);
  b.constant("wd", wd);
  b.constant("bd", biasd);
  b.constant("wm", wm);
  b.constant("bm", bm);
  b.constant("axes", tensor<float>::from(std::vector<float>{1, 2}, {2}), true);
  b.node("c1", "Conv2D", {"x", "w1"}, conv_attrs(2, "SAME"));
  b.node("c2", "_FusedConv2D", {"c1", "w2", "b2", "alpha"}, conv_attrs(1, "VALID", {"BiasAdd", "Prelu"}, 2));
  b.node("dw", "FusedDepthwiseConv2dNative", {"c2", "wd", "bd"}, conv_attrs(1, "SAME", {"BiasAdd", "Relu6"}, 1));
  b.node("mean", "Mean", {"dw", "axes"}, R"("keep_dims": {"b": false})");
  b.node("fc", "_FusedMatMul", {"mean", "wm", "bm"},
         R"("transpose_a": {"b": false}, "transpose_b": {"b": false}, "fused_ops": {"list": {"s": [")" +
             b64("BiasAdd") + "\", \"" + b64("Relu") + R"("]}}, "num_args": {"i": "1"})");
  b.constant("paddings", tensor<float>::from(std::vector<float>{0, 0, 1, 2}, {2, 2}), true);
  b.node("padded", "Pad", {"fc", "paddings"});
  b.constant("cat_axis", tensor<float>::from(std::vector<float>{1}, {}), true);
  b.node("cat", "ConcatV2", {"padded", "padded", "cat_axis"});
  b.constant("perm", tensor<float>::from(std::vector<float>{1, 0}, {2}), true);
  b.node("tr", "Transpose", {"cat", "perm"});
  b.constant("zero", tensor<float>::from(std::vector<float>{0}, {}), true);
  b.node("ex", "ExpandDims", {"tr", "zero"});
  b.node("sq", "Squeeze", {"ex"}, R"("squeeze_dims": {"list": {"i": ["0"]}})");
  b.node("y", "Softmax", {"sq"});
  const auto g = b.compile();
  BOOST_TEST(g.run_nodes() == 11u);
  BOOST_TEST(g.folded_nodes() == 3u);  // the three filters' layout helpers
  const auto x = constant(random_of({2, 6, 6, 3}, 9));
  const auto y = g({x}).at(0);

  auto nchw = [](const var<float>& v) { return permute(v, {0, 3, 1, 2}); };
  auto nhwc = [](const var<float>& v) { return permute(v, {0, 2, 3, 1}); };
  // SAME, stride 2, 6 -> 3: total padding 1, all of it after.
  auto c1 = nhwc(
      conv2d(pad(nchw(x), {0, 0, 0, 0, 0, 1, 0, 1}), permute(constant(w1), {3, 2, 0, 1}), var<float>{}, {.stride = 2}));
  auto c2 = prelu(nhwc(conv2d(nchw(c1), permute(constant(w2), {3, 2, 0, 1}), constant(bias2), {})), constant(alpha));
  const auto wd_oihw = reshape(permute(constant(wd), {2, 3, 0, 1}), shape{8, 1, 3, 3});
  auto dw =
      clamp(nhwc(conv2d(nchw(c2), wd_oihw, constant(biasd), {.stride = 1, .padding = 1, .groups = 4})), 0.0f, 6.0f);
  auto fc = relu(matmul(mean(dw, {1, 2}), constant(wm)) + constant(bm));
  auto padded = pad(fc, {0, 0, 1, 2});
  auto want = softmax(transpose(concat(std::vector{padded, padded}, 1)), -1);
  BOOST_TEST(max_abs_diff(y.value(), want.value()) < 1e-5);
}

BOOST_AUTO_TEST_CASE(graph_gradients_match_finite_differences) {
  model_builder b;
  b.placeholder("x", {-1, 5, 5, 2});
  b.constant("w", random_of({3, 3, 2, 3}, 11));
  b.constant("wd", random_of({3, 3, 3, 1}, 12));
  b.constant("axes", tensor<float>::from(std::vector<float>{1, 2}, {2}), true);
  b.node("c", "Conv2D", {"x", "w"}, conv_attrs(2, "SAME"));
  b.node("t", "Tanh", {"c"});
  b.node("d", "DepthwiseConv2dNative", {"t", "wd"}, conv_attrs(1, "SAME"));
  b.node("s", "Square", {"d"});
  b.node("y", "Mean", {"s", "axes"}, R"("keep_dims": {"b": true})");
  const auto g = b.compile_double();
  rng gen(5);
  const auto x = tensor<double>::random({2, 5, 5, 2}, gen, {distribution::normal, 0, 1});
  const auto r = testing::gradcheck([&](const std::vector<var<double>>& in) { return g({in[0]}).at(0); }, {x},
                                    {.second_order = true});
  BOOST_TEST(r.passed, r.message);
}

BOOST_AUTO_TEST_CASE(bad_models_are_refused_at_load) {
  {
    model_builder b;
    b.placeholder("x", {1, 4});
    b.node("y", "Einsum", {"x"});
    require_message<io_error>([&] { (void)b.compile(); },
                              {"test/model.json", "node \"y\" (Einsum)", "op \"Einsum\" is not supported"});
  }
  {
    model_builder b;
    b.placeholder("x", {1, 4});
    b.node("w", "Const", {}, R"("dtype": {"type": "DT_FLOAT"})");
    b.node("y", "Mul", {"x", "w"});
    require_message<io_error>([&] { (void)b.compile(); },
                              {"node \"w\" (Const)", "no tensor of that name in the weights"});
  }
  {
    model_builder b;
    b.placeholder("x", {1, 4});
    b.node("y", "Mul", {"x", "missing"});
    require_message<io_error>([&] { (void)b.compile(); }, {"node \"y\" (Mul)", "reads \"missing\""});
  }
  {
    model_builder b;
    b.placeholder("x", {1, 4});
    b.node("a", "Add", {"x", "b"});
    b.node("b", "Relu", {"a"});
    require_message<io_error>([&] { (void)b.compile(); }, {"the graph has a cycle"});
  }
  {
    model_builder b;
    b.placeholder("x", {1, 4, 4, 1});
    b.constant("w", random_of({3, 3, 1, 1}, 1));
    b.node("y", "Conv2D", {"x", "w"},
           R"("strides": {"list": {"i": ["1", "2", "1", "1"]}}, "padding": {"s": ")" + b64("SAME") + "\"}");
    require_message<io_error>([&] { (void)b.compile(); }, {"strides and dilations must be equal"});
  }
  {
    model_builder b;
    b.placeholder("x", {1, 4, 4, 1});
    b.constant("w", random_of({3, 3, 1, 1}, 1));
    b.node("y", "_FusedConv2D", {"x", "w"}, conv_attrs(1, "SAME", {"BiasAdd", "Relu"}, 1));
    require_message<io_error>([&] { (void)b.compile(); }, {"needs 3 inputs, has 2"});
  }
  require_message<io_error>(
      [] {
        (void)engines::tfjs::graph<float>::compile(io::json::parse(R"({"format": "layers-model"})"), {}, "m.json");
      },
      {"m.json", "not a graph model"});
}

BOOST_AUTO_TEST_SUITE_END()
