// The face engine against ../shared/data/face-engine-reference (every stage's activations and
// the 8 descriptors face-api's own TensorFlow.js computes), its differentiable forward for the
// whitebox mode (finite differences), the LFW pairs reader and crop, and
// the verification metrics on cases with known answers. Cases needing ../shared/data report
// themselves skipped where it is absent.
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/data/lfw.hpp>
#include <bijgan/engines/dlib_resnet.hpp>
#include <bijgan/engines/whitebox.hpp>
#include <bijgan/eval/verification.hpp>
#include <bijgan/io/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

using namespace bijgan;
namespace fs = std::filesystem;

namespace engine_test {

const fs::path shared_data = fs::path(BIJGAN_SHARED_DIR) / "data";

struct data_present {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result r(fs::exists(shared_data / "face-recognition-model") &&
                                          fs::exists(shared_data / "face-engine-reference"));
    r.message() << "../shared/data (face engine and references) absent: skipped";
    return r;
  }
};

const engines::dlib_resnet& engine() {
  static const auto e = engines::dlib_resnet::load(shared_data / "face-recognition-model");
  return e;
}

/// The 8 reference images (HWC uint8) as (8, 3, 150, 150) in [0, 1].
tensor<float> reference_images() {
  const auto bytes = io::read_file(shared_data / "face-engine-reference" / "imgs_8x150x150x3_u8.bin");
  BOOST_REQUIRE(bytes.size() == 8u * 150 * 150 * 3);
  std::vector<float> v(bytes.size());
  for (std::size_t n = 0; n < 8; ++n)
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t p = 0; p < 150 * 150; ++p)
        v[(n * 3 + c) * 22500 + p] = static_cast<float>(bytes[(n * 22500 + p) * 3 + c]) / 255.0f;
  return tensor<float>::from(v, {8, 3, 150, 150});
}

double max_abs_diff(const tensor<float>& a, const tensor<float>& b) {
  BOOST_REQUIRE(a.shape() == b.shape());
  const auto x = a.to_vector(), y = b.to_vector();
  double e = 0;
  for (std::size_t i = 0; i < x.size(); ++i) e = std::max(e, double(std::abs(x[i] - y[i])));
  return e;
}

}  // namespace engine_test

BOOST_AUTO_TEST_SUITE(engine_suite)
using namespace engine_test;

BOOST_AUTO_TEST_CASE(every_stage_matches_the_reference, *boost::unit_test::precondition(data_present())) {
  const auto imgs = reference_images();
  const auto stages = engine().stages(imgs.slice_rows(0, 1));
  BOOST_TEST(stages.size() == 13u);
  for (const auto& [name, act] : stages) {
    BOOST_TEST_CONTEXT("stage " << name << " " << act.shape()) {
      const auto ref = io::read_file(shared_data / "face-engine-reference" / "intermediates" / (name + ".f32"));
      BOOST_REQUIRE(ref.size() == static_cast<std::size_t>(act.numel()) * 4);
      std::vector<float> want(ref.size() / 4);
      std::memcpy(want.data(), ref.data(), ref.size());
      // Reference is HWC; ours NCHW (or (1, C) after pooling).
      const auto a = act.to_vector();
      const index_t c = act.size(1), hw = act.numel() / c;
      double err = 0;
      for (index_t k = 0; k < c; ++k)
        for (index_t p = 0; p < hw; ++p)
          err = std::max(err, std::abs(static_cast<double>(a[static_cast<std::size_t>(k * hw + p)]) -
                                       want[static_cast<std::size_t>(p * c + k)]));
      BOOST_TEST_MESSAGE("stage " << name << ": max abs error " << err);
      BOOST_TEST(err < 1e-4, "max abs error " << err);
    }
  }
}

BOOST_AUTO_TEST_CASE(descriptors_match_face_api, *boost::unit_test::precondition(data_present())) {
  const auto ref = io::read_json(shared_data / "face-engine-reference" / "faceapi_descriptors.json");
  const auto names = io::read_json(shared_data / "face-engine-reference" / "imgs.json");
  const auto d = engine().features(reference_images(), 3).to_vector();  // 3 batches: batching must not matter
  double err = 0;
  for (std::size_t n = 0; n < 8; ++n) {
    const auto& want = ref.at(names.items()[n].string()).items();
    BOOST_REQUIRE(want.size() == 128u);
    for (std::size_t k = 0; k < 128; ++k) err = std::max(err, std::abs(d[n * 128 + k] - want[k].number()));
  }
  BOOST_TEST_MESSAGE("descriptors: max abs error over 8 x 128 values " << err);
  BOOST_TEST(err < 1e-4, "max abs error over 8 x 128 descriptors " << err);
  BOOST_CHECK_THROW(engine().features(tensor<float>::zeros({1, 3, 64, 64})), shape_error);
}

BOOST_AUTO_TEST_CASE(whitebox_gradients_reach_the_images, *boost::unit_test::precondition(data_present())) {
  using box = engines::whitebox<engines::dlib_resnet>;
  static_assert(staged_network<box> && engines::staged_engine<engines::dlib_resnet>);
  const auto imgs = reference_images().slice_rows(0, 2);
  // The differentiable forward computes what features() does, and its stages have the shapes
  // documented.
  const auto st = engine().forward_stages(constant(imgs));
  BOOST_TEST(max_abs_diff(st.features.value(), engine().features(imgs)) == 0.0);
  BOOST_TEST(max_abs_diff(engine().forward(constant(imgs)).value(), st.features.value()) == 0.0);
  BOOST_REQUIRE(st.stages.size() == 4u);
  const std::vector<shape> want{{2, 32, 35, 35}, {2, 64, 17, 17}, {2, 128, 8, 8}, {2, 256, 4, 4}};
  for (std::size_t j = 0; j < 4; ++j) BOOST_TEST(st.stages[j].shape() == want[j], "stage " << j);
  BOOST_CHECK_THROW((void)engine().forward(constant(tensor<float>::zeros({1, 3, 64, 64}))), shape_error);

  // As a distiller: no parameters, centred features, and d/d(images) against central
  // differences along a random direction (float, pixels in [0, 1]: the ReLU and max-pool kinks
  // within ±h make larger steps rough: measured 16.2 at h = 1e-2, 13.4 at 3e-3, 12.28 at 1e-3
  // against 12.25 analytic; below 3e-4 float rounding takes over).
  const auto mu = mean(constant(engine().features(reference_images())), {0}).value();
  const box wb(engine(), {.centre = mu});
  auto copy = wb;
  BOOST_TEST(nn::parameter_count(copy) == 0);
  BOOST_TEST(max_abs_diff(wb(constant(imgs)).value(),
                          (constant(engine().features(imgs)) - constant(mu.reshape({1, 128}))).value()) < 1e-6);
  BOOST_CHECK_THROW(box(engine(), {.centre = tensor<float>::zeros({127})}), shape_error);
  rng gen(41);
  const auto wf = tensor<float>::random({2, 128}, gen, {distribution::normal, 0, 1});
  const auto ws = tensor<float>::random(shape{2, 64, 17, 17}, gen, {distribution::normal, 0, 1});
  const auto dir = tensor<float>::random(imgs.shape(), gen, {distribution::normal, 0, 1});
  const auto objective = [&](const var<float>& x) {
    const auto s = wb.stages(x);
    return sum(s.features * constant(wf)) + 0.01f * sum(s.stages[1] * constant(ws));
  };
  const var<float> x(imgs, true);
  const auto l = objective(x);
  backward(l);
  const double analytic = sum(constant(x.grad()) * constant(dir)).item();
  const float h = 1e-3f;
  const no_grad off;
  const auto along = [&](float t) { return objective(constant((constant(imgs) + constant(dir) * t).value())).item(); };
  const double numeric = (along(h) - along(-h)) / (2 * h);
  BOOST_TEST_MESSAGE("dlib whitebox: directional derivative " << analytic << " analytic, " << numeric << " numeric");
  BOOST_TEST(std::abs(analytic) > 1e-3);
  BOOST_TEST(std::abs(analytic - numeric) <= 0.03 * std::abs(numeric), analytic << " vs " << numeric);
}

BOOST_AUTO_TEST_CASE(engine_loading_errors) {
  BOOST_CHECK_EXCEPTION(engines::dlib_resnet::load("/nonexistent"), io_error, [](const io_error& e) {
    return std::string(e.what()).find("npm pack @vladmandic/face-api") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(lfw_pairs_and_crop, *boost::unit_test::precondition(data_present())) {
  const auto root = shared_data / "lfw";
  const auto pairs = data::read_lfw_pairs(root / "pairs.txt");
  BOOST_TEST(pairs.size() == 6000u);
  BOOST_TEST(pairs[0].same);
  BOOST_TEST(!pairs[300].same);
  BOOST_TEST(pairs[5999].fold == 9);
  // Folds are identity-disjoint.
  std::map<std::string, int> fold_of;
  bool disjoint = true;
  for (const auto& p : pairs)
    for (const auto* n : {&p.name1, &p.name2}) {
      const auto [it, fresh] = fold_of.emplace(*n, p.fold);
      disjoint = disjoint && (fresh || it->second == p.fold);
    }
  BOOST_TEST(disjoint);
  const auto face = data::load_lfw_face(root, pairs[0].name1, pairs[0].image1);
  BOOST_TEST(face.shape() == (shape{3, 150, 150}));
  const auto bad = fs::temp_directory_path() / "bijgan_pairs.txt";
  io::write_file_atomic(bad, std::vector<unsigned char>{'1', ' ', '1', '\n', 'A', ' ', 'x', '\n'});
  BOOST_CHECK_THROW(data::read_lfw_pairs(bad), io_error);
  fs::remove(bad);

  // The open-set split: 13,233 images; fold 10's identities on the test side only, every other
  // identity (other folds and those in no fold) on the training side.
  const auto all = data::list_lfw_images(root);
  BOOST_TEST(all.size() == 13233u);
  const auto split = data::split_lfw(all, pairs, {9});
  BOOST_TEST(split.train.size() + split.test.size() == all.size());
  std::set<std::string> test_names;
  for (const auto& im : split.test) test_names.insert(im.name);
  BOOST_TEST(static_cast<int>(test_names.size()) == split.test_identities);
  bool test_side_right = true;
  for (const auto& p : pairs) test_side_right = test_side_right && (test_names.contains(p.name1) == (p.fold == 9));
  BOOST_TEST(test_side_right);
  for (const auto& im : split.train) BOOST_TEST_REQUIRE(!test_names.contains(im.name));
  BOOST_TEST(split.train_labels.back() == split.train_identities - 1);
  BOOST_CHECK_THROW(data::split_lfw(all, pairs, {10}), value_error);
  const auto faces =
      data::load_lfw_faces(root, {split.test[0], split.test[1]}, {{}, {.box = {65, 75, 185, 195}, .size = 32}});
  BOOST_TEST(faces[0].shape() == (shape{2, 3, 150, 150}));
  BOOST_TEST(faces[1].shape() == (shape{2, 3, 32, 32}));
  BOOST_TEST((faces[0].slice_rows(0, 1).to_vector() ==
              data::load_lfw_face(root, split.test[0].name, split.test[0].index).to_vector()));
  BOOST_TEST(data::lfw_list_hash({split.test[0]}) != data::lfw_list_hash({split.test[1]}));
  BOOST_CHECK_THROW(data::list_lfw_images(fs::temp_directory_path() / "bijgan_no_lfw_here"), io_error);
}

BOOST_AUTO_TEST_CASE(verification_metrics) {
  // Two folds; distances separate perfectly at any threshold in (0.3, 0.6].
  const std::vector<double> d{0.1, 0.3, 0.7, 0.9, 0.2, 0.3, 0.6, 0.8};
  const std::vector<bool> same{true, true, false, false, true, true, false, false};
  const std::vector<int> folds{0, 0, 0, 0, 1, 1, 1, 1};
  const auto r = eval::k_fold_accuracy(d, same, folds);
  BOOST_TEST(r.mean_accuracy == 1.0);
  BOOST_TEST(r.std_accuracy == 0.0);
  // Each fold's threshold comes from the other: the smallest grid point of the best range.
  BOOST_TEST(std::abs(r.thresholds[0] - 0.31) < 1e-9);
  BOOST_TEST(std::abs(r.thresholds[1] - 0.31) < 1e-9);
  // Moving one same pair of fold 1 past the threshold learnt on fold 0 costs fold 1 a pair.
  auto d3 = d;
  d3[5] = 0.5;
  const auto r3 = eval::k_fold_accuracy(d3, same, folds);
  BOOST_TEST(r3.fold_accuracy[1] == 0.75);
  BOOST_TEST(r3.mean_accuracy == 0.875);
  BOOST_TEST(r3.std_accuracy == 0.125);
  // One same pair beyond every different pair: 7/8 at best.
  const std::vector<double> d2{0.1, 0.95, 0.7, 0.9};
  const auto t = eval::tar_at_far(d2, {true, true, false, false}, 0.5);
  BOOST_TEST(t.false_accepts == 1);
  BOOST_TEST(t.tar == 0.5);
  BOOST_TEST(t.threshold == 0.9);
  const auto u = eval::tar_at_far(d2, {true, true, false, false}, 0.0);
  BOOST_TEST(u.false_accepts == 0);
  BOOST_TEST(u.tar == 0.5);
  // Normalised distance: orthogonal unit vectors are sqrt(2) apart whatever their lengths.
  const auto a = tensor<float>::from(std::vector<float>{3, 0}, {1, 2}),
             b = tensor<float>::from(std::vector<float>{0, 0.5f}, {1, 2});
  BOOST_TEST(std::abs(eval::normalized_distances(a, b)[0] - std::sqrt(2.0)) < 1e-6);
  // Impostor pairs: rows e1, e1, e2, −e1 with labels 0, 0, 1, 2 → pairs (0,2), (0,3), (1,2),
  // (1,3), (2,3) at √2, 2, √2, 2, √2; the FAR thresholds follow the sorted order.
  const auto rows = tensor<float>::from(std::vector<float>{1, 0, 1, 0, 0, 1, -1, 0}, {4, 2});
  auto imp = eval::impostor_distances(rows, {0, 0, 1, 2});
  BOOST_TEST(imp.size() == 5u);
  std::sort(imp.begin(), imp.end());
  BOOST_TEST(std::abs(imp[0] - std::sqrt(2.0)) < 1e-9);
  BOOST_TEST(std::abs(imp[4] - 2.0) < 1e-9);
  BOOST_TEST(eval::threshold_at_far(imp, 0.0) == imp[0]);    // accepts none
  BOOST_TEST(eval::threshold_at_far(imp, 0.7) == imp[3]);    // floor(3.5) = 3 accepted
  BOOST_TEST(std::isinf(eval::threshold_at_far(imp, 1.0)));  // all of them
  BOOST_CHECK_THROW(eval::threshold_at_far({}, 0.1), value_error);
  BOOST_CHECK_THROW(eval::impostor_distances(rows, {0, 1}), shape_error);
}

BOOST_AUTO_TEST_SUITE_END()
