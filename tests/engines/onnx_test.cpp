// Engines from ONNX files: the three real models of ../shared/data/face-engines/arcface512
// against the outputs onnxruntime computed for them (recognition, landmarks, detector), the
// ops on small models written with the ONNX schema itself (closed forms, gradient checks in
// double, batches), and the load-time refusals (truncated or corrupt bytes, an unsupported op,
// a missing initializer, a cycle, a shape that does not match), and the 5-point aligner built
// from the detector and landmark models against the package's own steps. Cases needing ../shared/data
// report themselves skipped where it is absent.
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/engines/face_aligner.hpp>
#include <bijgan/engines/onnx_engine.hpp>
#include <bijgan/eval/verification.hpp>
#include <bijgan/testing/gradcheck.hpp>

#include "../support/engine_refs.hpp"

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>

using namespace bijgan;
namespace fs = std::filesystem;

namespace onnx_test {
using namespace bijgan_test;

const fs::path arcface_dir = fs::path(BIJGAN_SHARED_DIR) / "data" / "face-engines" / "arcface512";

struct arcface_present {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result r(fs::exists(arcface_dir / "fr_feature.onnx"));
    r.message() << "../shared/data/face-engines/arcface512 absent: skipped";
    return r;
  }
};

/// A small ONNX model written with the schema's own protobuf classes.
struct model_builder {
  onnx::ModelProto m;
  explicit model_builder(int opset = 13) {
    m.set_ir_version(8);
    auto* o = m.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
  }
  onnx::GraphProto& g() { return *m.mutable_graph(); }
  static void dims_of(onnx::ValueInfoProto* v, const std::vector<std::int64_t>& dims) {
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (auto d : dims) {
      auto* dim = t->mutable_shape()->add_dim();
      if (d < 0)
        dim->set_dim_param("batch");
      else
        dim->set_dim_value(d);
    }
  }
  void input(const std::string& name, const std::vector<std::int64_t>& dims) {
    auto* v = g().add_input();
    v->set_name(name);
    dims_of(v, dims);
  }
  void output(const std::string& name) { g().add_output()->set_name(name); }
  void init(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<float>& values) {
    auto* t = g().add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : dims) t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  }
  /// An int64 initializer: 1-D, or a scalar with `scalar`.
  void init_ints(const std::string& name, const std::vector<std::int64_t>& values, bool scalar = false) {
    auto* t = g().add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    if (!scalar) t->add_dims(static_cast<std::int64_t>(values.size()));
    for (auto v : values) t->add_int64_data(v);
  }
  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& in,
                        const std::vector<std::string>& out) {
    auto* n = g().add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(g().node_size()));
    for (const auto& s : in) n->add_input(s);
    for (const auto& s : out) n->add_output(s);
    return *n;
  }
  static void attr(onnx::NodeProto& n, const std::string& name, std::int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto& n, const std::string& name, const std::vector<std::int64_t>& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
  }
  static void attr(onnx::NodeProto& n, const std::string& name, float v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr(onnx::NodeProto& n, const std::string& name, const std::string& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  [[nodiscard]] std::string bytes() const {
    std::string s;
    m.SerializeToString(&s);
    return s;
  }
  [[nodiscard]] io::onnx_model parse() const {
    const auto s = bytes();
    return io::parse_onnx(std::span(reinterpret_cast<const unsigned char*>(s.data()), s.size()), "test.onnx");
  }
  template <class T = float>
  [[nodiscard]] engines::onnx::graph<T> compile() const {
    return engines::onnx::graph<T>::compile(parse());
  }
};

std::vector<float> iota_values(std::size_t n, float scale = 0.1f, float offset = -1.0f) {
  std::vector<float> v(n);
  for (std::size_t k = 0; k < n; ++k) v[k] = offset + scale * static_cast<float>((k * 7) % 23);
  return v;
}

template <class T = float>
var<T> input_of(const std::vector<index_t>& dims, std::uint64_t seed = 1) {
  rng gen(seed);
  return constant(tensor<T>::random(shape(std::span<const index_t>(dims)), gen, {distribution::normal, 0, 1}));
}

}  // namespace onnx_test

BOOST_AUTO_TEST_SUITE(onnx_suite)
using namespace onnx_test;

BOOST_AUTO_TEST_CASE(arcface512_matches_onnxruntime, *boost::unit_test::precondition(arcface_present())) {
  const auto engine = engines::load_arcface512(arcface_dir);
  const auto hist = engine.graph().op_histogram();
  BOOST_TEST(hist.at("Conv") == 50u);
  BOOST_TEST(hist.at("PRelu") == 33u);
  // The file's subnormal weights, zero after load (an x86 core is ~10x slower with them).
  BOOST_TEST(engine.graph().flushed_subnormals() == 8938u);
  const auto imgs = io::read_raw_images(arcface_dir / "imgs_8x112x112x3_u8.bin", 3, 112, 112, 255.0f);
  const auto f = engine.features(imgs);
  BOOST_TEST(f.shape() == (shape{8, 512}));
  const double err =
      max_error(f, load_json(arcface_dir / "reference_outputs.json"), load_json(arcface_dir / "imgs.json"), 512);
  BOOST_TEST_MESSAGE("arcface512: max abs error over 8 x 512 outputs " << err);
  BOOST_TEST(err < 1e-4);
}

BOOST_AUTO_TEST_CASE(arcface512_intermediates_match, *boost::unit_test::precondition(arcface_present())) {
  const auto g = engines::onnx::graph<float>::load(arcface_dir / "fr_feature.onnx");
  const auto img = io::read_raw_images(arcface_dir / "imgs_8x112x112x3_u8.bin", 3, 112, 112, 1.0f).slice_rows(0, 1);
  const auto x = constant(
      apply(fn::mul{}, apply(fn::add{}, img, tensor<float>::full({}, -127.0f)), tensor<float>::full({}, 1.0f / 128)));
  const auto ref = load_json(arcface_dir / "reference_intermediates.json").at("tensors");
  check_summary(x.value(), ref.at(0), 1e-6);
  // The input, then values 337, 395, 471, 662 and the output.
  check_intermediates(g, x, ref, 1e-4);
}

BOOST_AUTO_TEST_CASE(landmark_model_matches_onnxruntime, *boost::unit_test::precondition(arcface_present())) {
  // Conv, Relu, Add, Flatten, Gemm, BatchNormalization.
  const auto g = engines::onnx::graph<float>::load(arcface_dir / "fr_landmark.onnx");
  const auto imgs = io::read_raw_images(arcface_dir / "lm_inputs_8x64x64_u8.bin", 1, 64, 64, 256.0f);
  const auto ref = load_json(arcface_dir / "reference_landmark.json");
  const auto names = load_json(arcface_dir / "imgs.json");
  double err = 0;
  for (index_t n = 0; n < 8; ++n) {
    const auto out = g({constant(imgs.slice_rows(n, n + 1))}).at(0).value().to_vector();
    const auto& r = ref.at(names.at(static_cast<std::size_t>(n)).get<std::string>()).at("output");
    BOOST_REQUIRE(out.size() == 136u);
    for (std::size_t j = 0; j < 136; ++j) err = std::max(err, std::abs(out[j] - r.at(j).get<double>()));
  }
  BOOST_TEST_MESSAGE("fr_landmark: max abs error over 8 x 136 outputs " << err);
  BOOST_TEST(err < 1e-4);
}

BOOST_AUTO_TEST_CASE(detector_matches_onnxruntime, *boost::unit_test::precondition(arcface_present())) {
  // Dilated convs, Shape/Gather/Unsqueeze/Concat shape sub-graphs, Reshape, Transpose, Softmax,
  // Slice, Exp: the box decoding inside the graph.
  const auto g = engines::onnx::graph<float>::load(arcface_dir / "fr_detect.onnx");
  const auto rgb = io::read_raw_images(arcface_dir / "det_inputs_8x240x320x3_u8.bin", 3, 240, 320, 1.0f);
  const auto ref = load_json(arcface_dir / "reference_detect.json");
  const auto names = load_json(arcface_dir / "imgs.json");
  for (index_t n = 0; n < 2; ++n) {
    // The package feeds B, G, R; value (p - 127) / 128.
    const auto one = constant(rgb.slice_rows(n, n + 1));
    const auto bgr = concat(std::vector{slice(one, 1, 2, 3), slice(one, 1, 1, 2), slice(one, 1, 0, 1)}, 1);
    const auto x = (bgr - 127.0f) * (1.0f / 128);
    const auto out = g({x});
    BOOST_REQUIRE(out.size() == 2u);
    BOOST_TEST(out[0].shape() == (shape{1, 4420, 2}));
    BOOST_TEST(out[1].shape() == (shape{1, 4420, 4}));
    const auto& r = ref.at(names.at(static_cast<std::size_t>(n)).get<std::string>());
    BOOST_TEST_CONTEXT("image " << n) {
      check_summary(out[0].value(), r.at("scores"), 1e-4);
      check_summary(out[1].value(), r.at("boxes"), 1e-4);
    }
  }
}

BOOST_AUTO_TEST_CASE(aligner_detects_as_the_package_does, *boost::unit_test::precondition(arcface_present())) {
  // Best anchor, its score, the square box and the integer crop of lib/fr_detect.js, from the
  // reference's own 320 x 240 frames.
  const auto aligner = engines::face_aligner::load(arcface_dir);
  const auto frames = io::read_raw_images(arcface_dir / "det_inputs_8x240x320x3_u8.bin", 3, 240, 320);
  const auto ref = load_json(arcface_dir / "reference_detect.json");
  const auto names = load_json(arcface_dir / "imgs.json");
  for (index_t n = 0; n < 8; ++n) {
    const auto& r = ref.at(names.at(static_cast<std::size_t>(n)).get<std::string>());
    const auto box = aligner.detect_frame(frames.slice_rows(n, n + 1), 250, 250);
    BOOST_TEST_CONTEXT("image " << n) {
      BOOST_TEST(box.anchor == r.at("best_anchor").get<index_t>());
      BOOST_TEST(std::abs(box.score - r.at("best_score").get<double>()) < 1e-4);
      for (std::size_t j = 0; j < 4; ++j) {
        BOOST_TEST(std::abs(box.square[j] - r.at("square_box_image").at(j).get<double>()) < 1e-3);
        BOOST_TEST(box.rect[j] == r.at("landmark_rect").at(j).get<index_t>());
      }
    }
  }
  require_message<shape_error>([&] { (void)aligner.detect_frame(frames, 250, 250); },
                               {"frame [8, 3, 240, 320]", "must be (1, 3, 240, 320)"});
}

BOOST_AUTO_TEST_CASE(aligner_landmarks_give_the_package_points, *boost::unit_test::precondition(arcface_present())) {
  // The 68 points in image pixels (trunc(u w + x)) and the 5 points of convert68pts5pts, from
  // the reference's gray crops.
  const auto aligner = engines::face_aligner::load(arcface_dir);
  const auto crops = io::read_raw_images(arcface_dir / "lm_inputs_8x64x64_u8.bin", 1, 64, 64, 256.0f);
  const auto det = load_json(arcface_dir / "reference_detect.json");
  const auto ref = load_json(arcface_dir / "reference_landmark.json");
  const auto names = load_json(arcface_dir / "imgs.json");
  int exact = 0, total = 0;
  double worst = 0, worst5 = 0;
  for (index_t n = 0; n < 8; ++n) {
    const auto name = names.at(static_cast<std::size_t>(n)).get<std::string>();
    std::array<index_t, 4> rect{};
    for (std::size_t j = 0; j < 4; ++j) rect[j] = det.at(name).at("landmark_rect").at(j).get<index_t>();
    const auto p68 = aligner.landmarks_of_crop(crops.slice_rows(n, n + 1), rect);
    for (std::size_t k = 0; k < 68; ++k) {
      // A flat list x0, y0, x1, y1, ...
      const auto& q = ref.at(name).at("points68_image");
      const double d =
          std::max(std::abs(p68[k].x - q.at(2 * k).get<double>()), std::abs(p68[k].y - q.at(2 * k + 1).get<double>()));
      exact += d == 0;
      ++total;
      worst = std::max(worst, d);
    }
    const auto p5 = engines::face_aligner::five_points(p68);
    for (std::size_t k = 0; k < 5; ++k) {
      const auto& q = ref.at(name).at("points5_image").at(k);
      worst5 = std::max({worst5, std::abs(p5[k].x - q.at(0).get<double>()), std::abs(p5[k].y - q.at(1).get<double>())});
    }
  }
  BOOST_TEST_MESSAGE("landmarks: " << exact << " of " << total << " points exact, worst " << worst
                                   << " px; 5 points worst " << worst5 << " px");
  // A model output within 1e-4 of onnxruntime can still truncate to the next pixel.
  BOOST_TEST(worst <= 1.0);
  BOOST_TEST(exact >= total * 99 / 100);
  BOOST_TEST(worst5 <= 0.5);
}

BOOST_AUTO_TEST_CASE(aligner_on_lfw_images_puts_the_points_on_the_template,
                     *boost::unit_test::precondition(arcface_present())) {
  const auto lfw = fs::path(BIJGAN_SHARED_DIR) / "data" / "lfw" / "lfw-deepfunneled";
  if (!fs::exists(lfw)) {
    BOOST_TEST_MESSAGE("../shared/data/lfw absent: skipped");
    return;
  }
  // From the 250 x 250 JPEG with our own resizes (Pillow's bilinear filter differs slightly),
  // the crop lands within a few pixels of the package's and the five points near its own.
  const auto aligner = engines::face_aligner::load(arcface_dir);
  const auto det = load_json(arcface_dir / "reference_detect.json");
  const auto ref = load_json(arcface_dir / "reference_landmark.json");
  const auto names = load_json(arcface_dir / "imgs.json");
  const auto tmpl = data::arcface_template();
  double rect_err = 0, point_err = 0, fit_err = 0;
  std::vector<tensor<float>> images;
  for (std::size_t n = 0; n < 8; ++n) {
    const auto name = names.at(n).get<std::string>();
    const auto image = io::read_image(lfw / name.substr(0, name.size() - 9) / name);
    images.push_back(image.reshape({1, 3, 250, 250}));
    const auto face = aligner.locate(image);
    BOOST_REQUIRE(face.found);
    for (std::size_t j = 0; j < 4; ++j)
      rect_err = std::max(rect_err, std::abs(static_cast<double>(face.box.rect[j]) -
                                             det.at(name).at("landmark_rect").at(j).get<double>()));
    const auto map = data::fit_similarity(face.points, tmpl);
    for (std::size_t k = 0; k < 5; ++k) {
      const auto& q = ref.at(name).at("points5_image").at(k);
      point_err = std::max({point_err, std::abs(face.points[k].x - q.at(0).get<double>()),
                            std::abs(face.points[k].y - q.at(1).get<double>())});
      const auto t = map(face.points[k]);
      fit_err = std::max({fit_err, std::abs(t.x - tmpl[k].x), std::abs(t.y - tmpl[k].y)});
    }
  }
  BOOST_TEST_MESSAGE("aligner on LFW: crop within " << rect_err << " px of the package's, five points within "
                                                    << point_err << " px, warped points within " << fit_err
                                                    << " px of the template");
  BOOST_TEST(rect_err <= 3.0);
  BOOST_TEST(point_err <= 2.0);
  BOOST_TEST(fit_err <= 10.0);
  // Aligned faces feed the engine: same-person pairs stay similar (0 and 6 differ; 1 and 2 are
  // both Abdullah Gul).
  index_t fallbacks = 0;
  const auto aligned = aligner.align(concat(std::span<const tensor<float>>(images), 0), 112, &fallbacks);
  BOOST_TEST(aligned.shape() == (shape{8, 3, 112, 112}));
  BOOST_TEST(fallbacks == 0);
  // Several sides from one detection each: the same warp at each side.
  const auto sides = aligner.align(concat(std::span<const tensor<float>>(images), 0).slice_rows(0, 2),
                                   std::vector<index_t>{112, 32}, &fallbacks);
  BOOST_TEST(sides.size() == 2u);
  BOOST_TEST(max_abs_diff(sides[0], aligned.slice_rows(0, 2)) == 0.0);
  BOOST_TEST(max_abs_diff(sides[1], aligner.align(concat(std::span<const tensor<float>>(images), 0).slice_rows(0, 2),
                                                  32)) == 0.0);
  BOOST_CHECK_THROW((void)aligner.align(aligned, std::vector<index_t>{}), shape_error);
  const auto f = engines::load_arcface512(arcface_dir).features(aligned);
  const auto cosine = [&](index_t a, index_t b) {  // from the distance of the unit vectors
    const double d = eval::normalized_distances(f.slice_rows(a, a + 1), f.slice_rows(b, b + 1)).at(0);
    return 1 - d * d / 2;
  };
  BOOST_TEST_MESSAGE("aligned cosine: same person " << cosine(1, 2) << ", different " << cosine(0, 6));
  BOOST_TEST(cosine(1, 2) > 0.4);
  BOOST_TEST(cosine(1, 2) > cosine(0, 6) + 0.2);
}

BOOST_AUTO_TEST_CASE(engine_type_is_checked_against_the_file, *boost::unit_test::precondition(arcface_present())) {
  require_message<io_error>([] { (void)engines::onnx_engine<128, 3, 112, 112>::load(arcface_dir / "fr_feature.onnx"); },
                            {"fr_feature.onnx", "output \"output\" is [1, 512]", "expects [?, 128]"});
  require_message<io_error>([] { (void)engines::onnx_engine<512, 3, 150, 150>::load(arcface_dir / "fr_feature.onnx"); },
                            {"input \"input\" is [1, 3, 112, 112]", "expects [?, 3, 150, 150]"});
  // The file fixes batch 1: a batch of images runs one by one and gives the same rows.
  const auto engine = engines::load_arcface512(arcface_dir);
  const auto imgs = io::read_raw_images(arcface_dir / "imgs_8x112x112x3_u8.bin", 3, 112, 112, 255.0f).slice_rows(0, 3);
  const auto all = engine.features(imgs);
  BOOST_TEST(max_abs_diff(all.slice_rows(1, 2), engine.features(imgs.slice_rows(1, 2))) == 0.0);
  require_message<shape_error>(
      [&] {
        (void)engine.graph()({constant(tensor<float>::zeros({2, 3, 112, 112}))});
      },
      {"input \"input\" of shape [2, 3, 112, 112]", "declares [1, 3, 112, 112]"});
}

BOOST_AUTO_TEST_CASE(conv_pools_and_gemm_match_the_composed_ops) {
  // Conv (groups, asymmetric pads, stride 2, dilation) -> PRelu -> BatchNormalization ->
  // MaxPool (ceil mode) -> AveragePool (pads, count_include_pad 0) -> Flatten -> Gemm -> Softmax.
  model_builder b(11);
  b.input("x", {-1, 4, 9, 9});
  b.init("w", {6, 2, 3, 3}, iota_values(6 * 2 * 9));
  b.init("bias", {6}, iota_values(6, 0.05f));
  b.init("slope", {6, 1, 1}, iota_values(6, 0.02f, 0.1f));
  b.init("scale", {6}, iota_values(6, 0.1f, 0.5f));
  b.init("shift", {6}, iota_values(6, 0.1f, -0.2f));
  b.init("mu", {6}, iota_values(6, 0.05f, -0.1f));
  b.init("var", {6}, iota_values(6, 0.1f, 0.5f));
  auto& conv = b.node("Conv", {"x", "w", "bias"}, {"c"});
  model_builder::attr(conv, "group", std::int64_t{2});
  model_builder::attr(conv, "pads", std::vector<std::int64_t>{1, 0, 2, 1});
  model_builder::attr(conv, "strides", std::vector<std::int64_t>{2, 2});
  model_builder::attr(conv, "dilations", std::vector<std::int64_t>{1, 1});
  b.node("PRelu", {"c", "slope"}, {"p"});
  auto& bn = b.node("BatchNormalization", {"p", "scale", "shift", "mu", "var"}, {"n"});
  model_builder::attr(bn, "epsilon", 1e-3f);
  auto& mp = b.node("MaxPool", {"n"}, {"m"});
  model_builder::attr(mp, "kernel_shape", std::vector<std::int64_t>{2, 2});
  model_builder::attr(mp, "strides", std::vector<std::int64_t>{2, 2});
  model_builder::attr(mp, "ceil_mode", std::int64_t{1});
  auto& ap = b.node("AveragePool", {"m"}, {"a"});
  model_builder::attr(ap, "kernel_shape", std::vector<std::int64_t>{2, 2});
  model_builder::attr(ap, "pads", std::vector<std::int64_t>{1, 1, 0, 0});
  model_builder::attr(ap, "strides", std::vector<std::int64_t>{1, 1});
  b.node("Flatten", {"a"}, {"f"});
  b.init("gw", {5, 36}, iota_values(5 * 36, 0.03f, -0.3f));
  b.init("gb", {5}, iota_values(5));
  auto& gemm = b.node("Gemm", {"f", "gw", "gb"}, {"y0"});
  model_builder::attr(gemm, "transB", std::int64_t{1});
  model_builder::attr(gemm, "alpha", 0.5f);
  b.node("Softmax", {"y0"}, {"y"});
  b.output("y");
  const auto g = b.compile();
  const auto x = input_of({3, 4, 9, 9});
  const auto y = g({x}).at(0);
  BOOST_TEST(y.shape() == (shape{3, 5}));

  // The same computation written with our ops by hand.
  auto t = [](std::vector<index_t> d, std::vector<float> v) {
    return constant(tensor<float>::from(v, shape(std::span<const index_t>(d))));
  };
  auto c = conv2d(pad(x, {0, 0, 0, 0, 1, 2, 0, 1}), t({6, 2, 3, 3}, iota_values(108)), t({6}, iota_values(6, 0.05f)),
                  {.stride = 2, .padding = 0, .dilation = 1, .groups = 2});  // (3, 6, 5, 4)
  const auto slope = t({6, 1, 1}, iota_values(6, 0.02f, 0.1f));
  auto p = relu(c) - relu(-c) * slope;
  const auto per = [&](std::vector<float> v) { return t({6, 1, 1}, v); };
  auto n = (p - per(iota_values(6, 0.05f, -0.1f))) * per(iota_values(6, 0.1f, 0.5f)) /
               sqrt(per(iota_values(6, 0.1f, 0.5f)) + 1e-3f) +
           per(iota_values(6, 0.1f, -0.2f));
  BOOST_REQUIRE(n.shape() == (shape{3, 6, 5, 4}));
  // Ceil mode: 5x4 -> 3x2, the last row of windows hanging over the bottom edge.
  auto m =
      max_pool2d(pad(n, {0, 0, 0, 0, 0, 1, 0, 0}, -std::numeric_limits<float>::infinity()), {.kernel = 2, .stride = 2});
  // AveragePool with pads (1, 1, 0, 0), count_include_pad 0: 3x2 -> 3x2, windows clipped at the top/left.
  const auto padded = pad(m, {0, 0, 0, 0, 1, 0, 1, 0});
  const auto ones = pad(constant(tensor<float>::full({1, 1, 3, 2}, 1.0f)), {0, 0, 0, 0, 1, 0, 1, 0});
  auto a = avg_pool2d(padded, {.kernel = 2, .stride = 1}) / avg_pool2d(ones, {.kernel = 2, .stride = 1});
  auto logits =
      matmul(flatten(a), t({5, 36}, iota_values(180, 0.03f, -0.3f)), false, true) * 0.5f + t({5}, iota_values(5));
  BOOST_TEST(max_abs_diff(y.value(), softmax(logits, 1).value()) < 1e-5);
}

BOOST_AUTO_TEST_CASE(shape_subgraphs_run_per_batch_and_fold_at_load) {
  // Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as PyTorch exports view(x.size(0), -1, 2);
  // and a Constant -> Mul chain on initializers that folds at load.
  model_builder b(11);
  b.input("x", {-1, 3, 2, 2});
  b.node("Shape", {"x"}, {"s"});
  b.init_ints("zero", {0}, true);  // a scalar index, as exporters write it
  auto& gather = b.node("Gather", {"s", "zero"}, {"n"});
  model_builder::attr(gather, "axis", std::int64_t{0});
  auto& unsq = b.node("Unsqueeze", {"n"}, {"n1"});
  model_builder::attr(unsq, "axes", std::vector<std::int64_t>{0});
  b.init_ints("rest", {-1, 2});
  auto& cat = b.node("Concat", {"n1", "rest"}, {"target"});
  model_builder::attr(cat, "axis", std::int64_t{0});
  b.node("Reshape", {"x", "target"}, {"r"});
  b.init("k", {1, 1, 2}, {2.0f, 3.0f});
  b.init("k2", {1, 1, 2}, {0.5f, 0.5f});
  b.node("Mul", {"k", "k2"}, {"kk"});  // constant: folded
  b.node("Mul", {"r", "kk"}, {"y"});
  b.output("y");
  const auto g = b.compile();
  BOOST_TEST(g.folded_nodes() == 1u);
  for (index_t batch : {1, 4}) {
    const auto x = input_of({batch, 3, 2, 2});
    const auto y = g({x}).at(0);
    BOOST_TEST(y.shape() == (shape{batch, 6, 2}));
    const auto want = reshape(x, {batch, 6, 2}) * constant(tensor<float>::from(std::vector<float>{1.0f, 1.5f}, {2}));
    BOOST_TEST(max_abs_diff(y.value(), want.value()) == 0.0);
  }
}

BOOST_AUTO_TEST_CASE(subnormal_constants_are_zero_after_load) {
  // One subnormal in an initializer and one made by folding (1e-20 squared): both zero, the
  // normal values untouched.
  model_builder b(11);
  b.input("x", {-1, 2});
  b.init("w", {2}, {1e-39f, 2.0f});
  b.init("a", {2}, {1e-20f, 3.0f});
  b.node("Mul", {"a", "a"}, {"aa"});  // folded: {1e-40, 9}
  b.node("Mul", {"x", "w"}, {"xw"});
  b.node("Add", {"xw", "aa"}, {"y"});
  b.output("y");
  const auto g = b.compile();
  BOOST_TEST(g.folded_nodes() == 1u);
  BOOST_TEST(g.flushed_subnormals() == 2u);
  const auto y = g({constant(tensor<float>::from(std::vector<float>{1e30f, 1.0f}, {1, 2}))}).at(0).value().to_vector();
  BOOST_TEST(y[0] == 0.0f);  // 1e30 * 1e-39 would be 1e-9 had w's subnormal survived
  BOOST_TEST(y[1] == 11.0f);
}

BOOST_AUTO_TEST_CASE(elementwise_shape_and_resize_ops) {
  model_builder b(13);
  b.input("x", {2, 3, 4, 4});
  b.init("lo", {}, {-0.5f});
  b.init("hi", {}, {0.7f});
  b.node("Clip", {"x", "lo", "hi"}, {"clip"});
  b.init("two", {}, {2.0f});
  b.node("Pow", {"x", "two"}, {"sq"});
  auto& lr = b.node("LeakyRelu", {"x"}, {"lrelu"});
  model_builder::attr(lr, "alpha", 0.2f);
  auto& tr = b.node("Transpose", {"x"}, {"tr"});
  model_builder::attr(tr, "perm", std::vector<std::int64_t>{0, 2, 3, 1});
  auto& red = b.node("ReduceL2", {"x"}, {"l2"});
  model_builder::attr(red, "axes", std::vector<std::int64_t>{1});
  model_builder::attr(red, "keepdims", std::int64_t{0});
  b.init_ints("starts", {1});
  b.init_ints("ends", {100});
  b.init_ints("axes", {1});
  b.node("Slice", {"x", "starts", "ends", "axes"}, {"sl"});
  b.init_ints("sqz_axes", {0});
  b.node("Unsqueeze", {"x", "sqz_axes"}, {"unsq"});
  b.node("Squeeze", {"unsq", "sqz_axes"}, {"sqz"});
  b.init("roi", {0}, {});
  b.init("scales", {4}, {1.0f, 1.0f, 2.0f, 2.0f});
  auto& up = b.node("Resize", {"x", "roi", "scales"}, {"up_nearest"});
  model_builder::attr(up, "mode", std::string("nearest"));
  auto& lin = b.node("Resize", {"x", "roi", "scales"}, {"up_linear"});
  model_builder::attr(lin, "mode", std::string("linear"));
  b.init_ints("gidx", {2, 0});
  auto& ga = b.node("Gather", {"x", "gidx"}, {"gathered"});
  model_builder::attr(ga, "axis", std::int64_t{1});
  for (const auto* o : {"clip", "sq", "lrelu", "tr", "l2", "sl", "sqz", "up_nearest", "up_linear", "gathered"})
    b.output(o);
  const auto g = b.compile();
  const auto x = input_of({2, 3, 4, 4}, 7);
  const auto y = g({x});
  BOOST_REQUIRE(y.size() == 10u);
  BOOST_TEST(max_abs_diff(y[0].value(), clamp(x, -0.5f, 0.7f).value()) == 0.0);
  BOOST_TEST(max_abs_diff(y[1].value(), square(x).value()) == 0.0);
  BOOST_TEST(max_abs_diff(y[2].value(), leaky_relu(x, 0.2f).value()) == 0.0);
  BOOST_TEST(max_abs_diff(y[3].value(), permute(x, {0, 2, 3, 1}).value()) == 0.0);
  BOOST_TEST(max_abs_diff(y[4].value(), sqrt(sum(square(x), {1})).value()) < 1e-6);
  BOOST_TEST(max_abs_diff(y[5].value(), slice(x, 1, 1, 3).value()) == 0.0);
  BOOST_TEST(max_abs_diff(y[6].value(), x.value()) == 0.0);
  BOOST_TEST(max_abs_diff(y[7].value(), upsample(x, 2, interpolation::nearest).value()) == 0.0);
  BOOST_TEST(max_abs_diff(y[8].value(), resize(x, 8, 8, interpolation::bilinear).value()) < 1e-6);  // half_pixel
  BOOST_TEST(max_abs_diff(y[9].value(), concat(std::vector{slice(x, 1, 2, 3), slice(x, 1, 0, 1)}, 1).value()) == 0.0);
}

BOOST_AUTO_TEST_CASE(graph_gradients_match_finite_differences) {
  // The executor records our var ops: d(output)/d(input) of a small Conv/PRelu/pool/Gemm/Softmax
  // graph in double, first and second order (the whitebox use of a file engine).
  model_builder b(13);
  b.input("x", {-1, 2, 5, 5});
  b.init("w", {3, 2, 3, 3}, iota_values(54, 0.05f, -0.5f));
  b.init("slope", {3, 1, 1}, {0.1f, 0.2f, 0.3f});
  b.init("gw", {4, 12}, iota_values(48, 0.02f, -0.2f));
  auto& conv = b.node("Conv", {"x", "w"}, {"c"});
  model_builder::attr(conv, "auto_pad", std::string("SAME_UPPER"));
  model_builder::attr(conv, "strides", std::vector<std::int64_t>{2, 2});
  b.node("PRelu", {"c", "slope"}, {"p"});  // (N, 3, 3, 3)
  auto& ap = b.node("AveragePool", {"p"}, {"a"});
  model_builder::attr(ap, "kernel_shape", std::vector<std::int64_t>{2, 2});
  model_builder::attr(ap, "strides", std::vector<std::int64_t>{1, 1});  // (N, 3, 2, 2)
  b.node("Flatten", {"a"}, {"f"});
  auto& gemm = b.node("Gemm", {"f", "gw"}, {"z"});
  model_builder::attr(gemm, "transB", std::int64_t{1});
  b.node("Tanh", {"z"}, {"t"});
  b.node("Softmax", {"t"}, {"y"});
  b.output("y");
  const auto g = b.compile<double>();
  rng gen(3);
  const auto x = tensor<double>::random({2, 2, 5, 5}, gen, {distribution::normal, 0, 1});
  const auto r = testing::gradcheck([&](const std::vector<var<double>>& in) { return g({in[0]}).at(0); }, {x},
                                    {.second_order = true});
  BOOST_TEST(r.passed, r.message);
}

BOOST_AUTO_TEST_CASE(bad_files_are_refused_at_load) {
  model_builder ok(13);
  ok.input("x", {1, 2});
  ok.node("Relu", {"x"}, {"y"});
  ok.output("y");
  BOOST_TEST(ok.compile().run_nodes() == 1u);
  // Truncated and corrupt bytes.
  const auto bytes = ok.bytes();
  for (std::size_t cut : {std::size_t{3}, bytes.size() / 2, bytes.size() - 1}) {
    const std::string part = bytes.substr(0, cut);
    BOOST_CHECK_THROW(
        (void)io::parse_onnx(std::span(reinterpret_cast<const unsigned char*>(part.data()), part.size()), "cut.onnx"),
        io_error);
  }
  const std::string junk(64, '\xff');
  require_message<io_error>(
      [&] {
        (void)io::parse_onnx(std::span(reinterpret_cast<const unsigned char*>(junk.data()), junk.size()), "junk.onnx");
      },
      {"junk.onnx", "not an ONNX model"});
  // An op we do not run: named with its node.
  {
    model_builder b(13);
    b.input("x", {1, 2});
    b.node("Einsum", {"x"}, {"y"});
    b.output("y");
    require_message<io_error>([&] { (void)b.compile(); },
                              {"test.onnx", "node \"Einsum_1\" (Einsum)", "op \"Einsum\" is not supported"});
  }
  // A missing initializer.
  {
    model_builder b(13);
    b.input("x", {1, 2});
    b.node("Mul", {"x", "w"}, {"y"});
    b.output("y");
    require_message<io_error>(
        [&] { (void)b.compile(); },
        {"node \"Mul_1\" (Mul)", "reads \"w\", which no node, initializer or graph input defines"});
  }
  // A cycle.
  {
    model_builder b(13);
    b.input("x", {1, 2});
    b.node("Add", {"x", "b"}, {"a"});
    b.node("Relu", {"a"}, {"b"});
    b.output("b");
    require_message<io_error>([&] { (void)b.compile(); }, {"the graph has a cycle"});
  }
  // Raw data that does not fit the dims.
  {
    model_builder b(13);
    b.input("x", {1, 2});
    b.init("w", {3, 3}, {1.0f, 2.0f});
    b.node("Mul", {"x", "w"}, {"y"});
    b.output("y");
    require_message<io_error>([&] { (void)b.parse(); }, {"tensor \"w\" holds 8 raw bytes", "need 36"});
  }
  // An attribute of the wrong type; an unsupported mode.
  {
    model_builder b(13);
    b.input("x", {1, 1, 4, 4});
    auto& n = b.node("MaxPool", {"x"}, {"y"});
    model_builder::attr(n, "kernel_shape", std::int64_t{2});
    b.output("y");
    require_message<io_error>([&] { (void)b.compile(); },
                              {"MaxPool", "attribute \"kernel_shape\" must be a list of ints"});
  }
  // A run-time shape that does not fit: shape_error naming the node.
  {
    model_builder b(13);
    b.input("x", {-1, 3});
    b.init("w", {4, 5}, iota_values(20));
    b.node("MatMul", {"x", "w"}, {"y"});
    b.output("y");
    const auto g = b.compile();
    require_message<shape_error>(
        [&] {
          (void)g({input_of({2, 3})});
        },
        {"node \"MatMul_1\" (MatMul)", "[2, 3]", "[4, 5]"});
  }
}

BOOST_AUTO_TEST_SUITE_END()
