// Tests of the data loaders: IDX files written here (plain and gzip), their error cases
// (missing, wrong magic, truncated, overlong), the real Fashion-MNIST files when installed,
// the shuffled batch pipeline, the mirror augmentation, and the alignment geometry (similarity fit, affine warp).
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/data/align.hpp>

#include <array>
#include <cmath>
#include <numeric>
#include <random>
#include <range/v3/algorithm/shuffle.hpp>

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>

using namespace bijgan;
namespace fs = std::filesystem;

namespace {

std::vector<unsigned char> idx_bytes(std::vector<std::uint32_t> dims, std::size_t payload) {
  std::vector<unsigned char> b{0, 0, 0x08, static_cast<unsigned char>(dims.size())};
  for (auto d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(d >> s));
  for (std::size_t i = 0; i < payload; ++i) b.push_back(static_cast<unsigned char>(i % 256));
  return b;
}

fs::path write_file(const std::string& name, const std::vector<unsigned char>& bytes, bool gzip) {
  const auto p = fs::temp_directory_path() / ("bijgan_data_test_" + name);
  if (gzip) {
    gzFile f = gzopen(p.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  return p;
}

bool names_file(const io_error& e, const fs::path& p) {
  return std::string(e.what()).find(p.string()) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(data_suite)

BOOST_AUTO_TEST_CASE(idx_round_trip_plain_and_gzip) {
  for (bool gz : {false, true}) {
    const auto p = write_file(gz ? "ok.gz" : "ok", idx_bytes({2, 3, 4}, 24), gz);
    const auto imgs = data::load_idx_images(p);
    BOOST_TEST(imgs.shape() == (shape{2, 1, 3, 4}));
    BOOST_TEST(imgs.to_vector()[5] == 5.0f / 255.0f);
    fs::remove(p);
  }
  const auto lp = write_file("labels.gz", idx_bytes({5}, 5), true);
  BOOST_TEST(data::load_idx_labels(lp) == (std::vector<int>{0, 1, 2, 3, 4}));
  fs::remove(lp);
}

BOOST_AUTO_TEST_CASE(idx_errors_name_the_file) {
  const fs::path missing = fs::temp_directory_path() / "bijgan_no_such_file.gz";
  BOOST_CHECK_EXCEPTION(data::read_idx(missing), io_error, [&](const io_error& e) { return names_file(e, missing); });
  auto bad_magic = idx_bytes({4}, 4);
  bad_magic[0] = 7;
  const auto p1 = write_file("magic.gz", bad_magic, true);
  BOOST_CHECK_EXCEPTION(data::read_idx(p1), io_error, [&](const io_error& e) { return names_file(e, p1); });
  auto truncated = idx_bytes({10, 10}, 100);
  truncated.resize(60);
  const auto p2 = write_file("short.gz", truncated, true);
  BOOST_CHECK_EXCEPTION(data::read_idx(p2), io_error, [&](const io_error& e) {
    return names_file(e, p2) && std::string(e.what()).find("truncated") != std::string::npos;
  });
  const auto p3 = write_file("long", idx_bytes({3}, 5), false);
  BOOST_CHECK_THROW(data::read_idx(p3), io_error);
  // A gzip stream cut in the middle (corrupt compressed data) is an io_error too, not a crash.
  const auto whole = write_file("cut.gz", idx_bytes({64, 64}, 4096), true);
  fs::resize_file(whole, fs::file_size(whole) / 2);
  BOOST_CHECK_THROW(data::read_idx(whole), io_error);
  const auto labels_as_images = write_file("rank.gz", idx_bytes({4}, 4), true);
  BOOST_CHECK_THROW(data::load_idx_images(labels_as_images), io_error);
  for (const auto& p : {p1, p2, p3, whole, labels_as_images}) fs::remove(p);
}

BOOST_AUTO_TEST_CASE(real_fashion_mnist) {
  if (!fs::exists(data::fashion_mnist_dir() / "t10k-images-idx3-ubyte.gz")) {
    BOOST_TEST_MESSAGE("SKIPPED real_fashion_mnist: " << data::fashion_mnist_dir()
                                                      << " absent (apt-get install dataset-fashion-mnist)");
    return;
  }
  const auto test = data::load_fashion_mnist("t10k");
  BOOST_TEST(test.images.shape() == (shape{10000, 1, 28, 28}));
  BOOST_TEST(test.labels.size() == 10000u);
  BOOST_TEST(std::set<int>(test.labels.begin(), test.labels.end()).size() == 10u);
  BOOST_TEST(test.labels[0] == 9);  // the first test image is an ankle boot
  const auto v = test.images.to_vector();
  BOOST_TEST(*std::max_element(v.begin(), v.end()) == 1.0f);
  BOOST_CHECK_THROW(data::load_fashion_mnist("validation"), value_error);
}

BOOST_AUTO_TEST_CASE(shuffled_batches_cover_every_index_once) {
  const auto batches = data::shuffled_batches(10, 4, 1);
  BOOST_TEST(batches.size() == 3u);
  BOOST_TEST(batches.back().size() == 2u);
  std::set<index_t> seen;
  for (const auto& b : batches) seen.insert(b.begin(), b.end());
  BOOST_TEST(seen.size() == 10u);
  BOOST_TEST(data::shuffled_batches(10, 4, 1) == batches);
  // The order is range-v3's shuffle with the same engine (data/rows.hpp reimplements it without
  // range-v3 so that CUDA translation units can include the trainers).
  for (std::uint64_t seed : {1, 7, 12345}) {
    std::vector<index_t> order(1000);
    std::iota(order.begin(), order.end(), index_t{0});
    std::mt19937_64 engine(seed);
    ranges::shuffle(order, engine);
    std::vector<index_t> ours;
    for (const auto& b : data::shuffled_batches(1000, 64, seed)) ours.insert(ours.end(), b.begin(), b.end());
    BOOST_TEST(ours == order, "seed " << seed);
  }
  const auto t = tensor<float>::from(std::vector<float>{0, 1, 2, 3, 4, 5}, {3, 2});
  BOOST_TEST(data::gather_rows(t, {2, 0}).to_vector() == (std::vector<float>{4, 5, 0, 1}));
  BOOST_CHECK_THROW(data::gather_rows(t, {3}), shape_error);
  BOOST_CHECK_THROW(data::shuffled_batches(10, 0, 1), value_error);
}

BOOST_AUTO_TEST_CASE(mirror_images_flips_the_marked_images_along_w) {
  std::vector<float> v(2 * 2 * 3 * 4);
  std::iota(v.begin(), v.end(), 0.0f);
  auto t = tensor<float>::from(v, {2, 2, 3, 4});
  data::mirror_images(t, {false, true});
  const auto m = t.to_vector();
  for (std::size_t k = 0; k < 24; ++k) BOOST_TEST(m[k] == v[k]);  // the first image is untouched
  for (std::size_t line = 0; line < 6; ++line)                    // each line of the second reversed
    for (std::size_t x = 0; x < 4; ++x) BOOST_TEST(m[24 + line * 4 + x] == v[24 + line * 4 + 3 - x]);
  data::mirror_images(t, {true, true});
  data::mirror_images(t, {true, false});
  BOOST_TEST(t.to_vector() == v);  // twice is the identity
  BOOST_CHECK_THROW(data::mirror_images(t, {true}), shape_error);
  auto flat = tensor<float>::from(v, {2, 24});
  BOOST_CHECK_THROW(data::mirror_images(flat, {true, false}), shape_error);
}

BOOST_AUTO_TEST_CASE(feature_standardizer_closed_forms_round_trip_and_errors) {
  // Rows (1, 10), (3, 10), (5, 13): means (3, 11); variances (n − 1) 4 and 3.
  const auto f = tensor<float>::from(std::vector<float>{1, 10, 3, 10, 5, 13}, {3, 2});
  const auto s = data::feature_standardizer::fit(f);
  BOOST_TEST(s.mean.to_vector() == (std::vector<float>{3, 11}), boost::test_tools::per_element());
  const float global = std::sqrt(3.5f);  // one scale: the root of the mean variance
  BOOST_TEST(std::abs(s.scale.to_vector()[0] - global) < 1e-6);
  BOOST_TEST(std::abs(s.scale.to_vector()[1] - global) < 1e-6);
  const auto z = s(f).to_vector();
  BOOST_TEST(std::abs(z[0] + 2 / global) < 1e-6);
  BOOST_TEST(std::abs(z[5] - 2 / global) < 1e-6);
  const auto back = s.inverse(s(f)).to_vector();
  for (std::size_t i = 0; i < back.size(); ++i) BOOST_TEST(std::abs(back[i] - f.to_vector()[i]) < 1e-5);
  const auto p = data::feature_standardizer::fit(f, {.per_dimension = true});
  BOOST_TEST(std::abs(p.scale.to_vector()[0] - 2.0f) < 1e-6);
  BOOST_TEST(std::abs(p.scale.to_vector()[1] - std::sqrt(3.0f)) < 1e-6);
  // Saved and loaded unchanged.
  const auto path = fs::temp_directory_path() / "bijgan_standardizer_test.safetensors";
  s.save(path);
  const auto l = data::feature_standardizer::load(path);
  BOOST_TEST(l.mean.to_vector() == s.mean.to_vector(), boost::test_tools::per_element());
  BOOST_TEST(l.scale.to_vector() == s.scale.to_vector(), boost::test_tools::per_element());
  fs::remove(path);
  // Errors name the op and the shapes.
  BOOST_CHECK_THROW(data::feature_standardizer::fit(f.slice_rows(0, 1)), shape_error);
  BOOST_CHECK_THROW(data::feature_standardizer::fit(tensor<float>::from(std::vector<float>{1, 2, 1, 3}, {2, 2}),
                                                    {.per_dimension = true}),
                    value_error);
  try {
    (void)s(tensor<float>::zeros({4, 3}));
    BOOST_FAIL("a width mismatch must throw");
  } catch (const shape_error& e) {
    BOOST_TEST(std::string(e.what()).find("feature_standardizer") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(similarity_fit_recovers_a_known_map_and_is_least_squares) {
  // A known similarity (scale 1.7, rotation 0.3 rad, shift (5, -3)) of the template is recovered.
  const auto from = data::arcface_template();
  const double s = 1.7, th = 0.3;
  const data::affine2 truth{{s * std::cos(th), -s * std::sin(th), 5, s * std::sin(th), s * std::cos(th), -3}};
  std::array<data::point2, 5> to{};
  for (std::size_t i = 0; i < 5; ++i) to[i] = truth(from[i]);
  const auto fit = data::fit_similarity(from, to);
  for (std::size_t j = 0; j < 6; ++j) BOOST_TEST(std::abs(fit.m[j] - truth.m[j]) < 1e-10);
  // With noise it is the least-squares optimum: every small change of (a, b, tx, ty) raises the residual.
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0, 2);
  for (auto& p : to) p.x += noise(rng), p.y += noise(rng);
  const auto best = data::fit_similarity(from, to);
  const auto residual = [&](const data::affine2& m) {
    double r = 0;
    for (std::size_t i = 0; i < 5; ++i) {
      const auto q = m(from[i]);
      r += (q.x - to[i].x) * (q.x - to[i].x) + (q.y - to[i].y) * (q.y - to[i].y);
    }
    return r;
  };
  BOOST_TEST(best.m[0] == best.m[4]);
  BOOST_TEST(best.m[1] == -best.m[3]);
  const double r0 = residual(best);
  for (int k = 0; k < 4; ++k)
    for (double e : {-1e-3, 1e-3}) {
      auto m = best;
      if (k == 0) m.m[0] += e, m.m[4] += e;  // a
      if (k == 1) m.m[1] -= e, m.m[3] += e;  // b
      if (k == 2) m.m[2] += e;
      if (k == 3) m.m[5] += e;
      BOOST_TEST(residual(m) > r0);
    }
  // The inverse undoes the map.
  const auto back = best.inverse()(best(data::point2{10, 20}));
  BOOST_TEST(std::abs(back.x - 10) < 1e-9);
  BOOST_TEST(std::abs(back.y - 20) < 1e-9);
  // arcface_template scales with the side.
  BOOST_TEST(std::abs(data::arcface_template(224)[4].y - 2 * from[4].y) < 1e-12);
}

BOOST_AUTO_TEST_CASE(similarity_fit_and_warp_refuse_bad_input) {
  const std::array<data::point2, 3> three{};
  const auto five = data::arcface_template();
  BOOST_CHECK_THROW((void)data::fit_similarity(three, five), value_error);
  BOOST_CHECK_THROW((void)data::fit_similarity(three, three), value_error);  // all at one place
  const data::affine2 singular{{1, 2, 0, 2, 4, 0}};
  BOOST_CHECK_THROW((void)singular.inverse(), value_error);
  BOOST_CHECK_THROW((void)data::warp_affine(tensor<float>::zeros({1, 3, 4, 4}), {}, 4, 4), shape_error);
  BOOST_CHECK_THROW((void)data::warp_affine(tensor<float>::zeros({3, 4, 4}), {}, 0, 4), shape_error);
}

BOOST_AUTO_TEST_CASE(affine_warp_samples_bilinearly_with_a_zero_border) {
  std::vector<float> v(2 * 3 * 4);
  std::iota(v.begin(), v.end(), 1.0f);
  const auto img = tensor<float>::from(v, {2, 3, 4});
  // Identity: the image itself.
  const auto same = data::warp_affine(img, {}, 3, 4);
  BOOST_TEST(same.to_vector() == v, boost::test_tools::per_element());
  // Moving the image one pixel right: output (x, y) = source (x - 1, y); column 0 is border.
  const auto moved = data::warp_affine(img, {{1, 0, 1, 0, 1, 0}}, 3, 4).to_vector();
  BOOST_TEST(moved[0] == 0.0f);
  BOOST_TEST(moved[1] == 1.0f);
  BOOST_TEST(moved[12 + 4 + 3] == v[12 + 4 + 2]);
  // Half a pixel left and a quarter down: the bilinear mix of four neighbours.
  const auto half = data::warp_affine(img, {{1, 0, -0.5, 0, 1, -0.25}}, 3, 4).to_vector();
  const double want = 0.75 * (0.5 * v[0] + 0.5 * v[1]) + 0.25 * (0.5 * v[4] + 0.5 * v[5]);
  BOOST_TEST(std::abs(half[0] - want) < 1e-6);
  // Scaling by 2 about the origin: output (2, 2) samples source (1, 1).
  const auto twice = data::warp_affine(img, {{2, 0, 0, 0, 2, 0}}, 6, 8).to_vector();
  BOOST_TEST(twice[2 * 8 + 2] == v[4 + 1]);
}

BOOST_AUTO_TEST_SUITE_END()
