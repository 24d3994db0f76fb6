// The realism figures (eval/realism.hpp) on cases with closed forms: the Fréchet distance of a
// set to itself, to a shifted copy (‖c‖²) and to a scaled copy (‖μ‖² + Tr Σ for 2x), and
// against a direct Eigen evaluation of Eq. 10; the power spectrum of a pure cosine; the grid
// figure of white noise, blurred noise and noise with a faint grid; the errors for bad input.
#include <boost/test/unit_test.hpp>

#include <bijgan/eval/realism.hpp>

#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

using namespace bijgan;

namespace realism_test {

/// n samples (n, d) with correlated, non-centred columns, from a fixed seed.
tensor<float, host> samples(index_t n, index_t d, std::uint64_t seed) {
  rng gen(seed);
  const auto z = tensor<float, host>::random(shape{n, d}, gen, {distribution::normal, 0, 1});
  std::vector<float> v(static_cast<std::size_t>(n * d));
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j) {
      const float prev = j > 0 ? z.data()[i * d + j - 1] : 0.0f;
      v[static_cast<std::size_t>(i * d + j)] = z.data()[i * d + j] + 0.5f * prev + 0.1f * static_cast<float>(j);
    }
  return tensor<float, host>::from(v, shape{n, d});
}

tensor<float, host> map_values(const tensor<float, host>& x, float scale, float shift) {
  auto v = x.to_vector();
  for (auto& e : v) e = scale * e + shift;
  return tensor<float, host>::from(v, x.shape());
}

BOOST_AUTO_TEST_SUITE(realism_suite)

BOOST_AUTO_TEST_CASE(frechet_distance_closed_forms) {
  const auto a = samples(400, 6, 3);
  BOOST_TEST(eval::frechet_distance(a, a) < 1e-8);
  // A shift by c in every coordinate: the covariances are equal, only ‖c‖² = 6 c² remains.
  BOOST_TEST(eval::frechet_distance(a, map_values(a, 1, 0.5f)) == 6 * 0.25, boost::test_tools::tolerance(1e-5));
  // 2a: ‖2μ − μ‖² + Tr(Σ + 4Σ − 2·2Σ) = ‖μ‖² + Tr Σ.
  const auto g = eval::fit_gaussian(a);
  BOOST_TEST(eval::frechet_distance(a, map_values(a, 2, 0)) == g.mean.squaredNorm() + g.cov.trace(),
             boost::test_tools::tolerance(1e-6));
  // Two different sets: Eq. 10 evaluated directly with Eigen's eigen solver.
  const auto b = samples(300, 6, 9);
  const auto gb = eval::fit_gaussian(b);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> ea(g.cov);
  const Eigen::MatrixXd ra = ea.operatorSqrt();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> ec(ra * gb.cov * ra);
  const double want = (g.mean - gb.mean).squaredNorm() + g.cov.trace() + gb.cov.trace() - 2 * ec.operatorSqrt().trace();
  BOOST_TEST(eval::frechet_distance(a, b) == want, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(eval::frechet_distance(a, b) == eval::frechet_distance(b, a), boost::test_tools::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(frechet_distance_more_dims_than_samples) {
  // Rank-deficient covariances (what 1,024-D descriptors of ~800 images give) are still a
  // distance: zero to itself, positive to another set.
  const auto a = samples(20, 64, 1), b = samples(20, 64, 2);
  BOOST_TEST(eval::frechet_distance(a, a) < 1e-6);
  BOOST_TEST(eval::frechet_distance(a, b) > 1.0);
}

BOOST_AUTO_TEST_CASE(frechet_distance_errors) {
  const auto a = samples(10, 4, 1);
  BOOST_CHECK_THROW(eval::frechet_distance(a, samples(10, 5, 1)), shape_error);
  BOOST_CHECK_THROW(eval::frechet_distance(a, samples(1, 4, 1)), shape_error);
  BOOST_CHECK_THROW(eval::frechet_distance(a, tensor<float, host>::zeros(shape{10})), shape_error);
  auto v = a.to_vector();
  v[7] = std::numeric_limits<float>::quiet_NaN();
  try {
    (void)eval::frechet_distance(a, tensor<float, host>::from(v, a.shape()));
    BOOST_FAIL("a NaN descriptor was accepted");
  } catch (const value_error& e) {
    BOOST_TEST(std::string(e.what()).find("row 1") != std::string::npos, e.what());
  }
}

/// (n, c, r, r) images of value f(y, x) in every channel.
template <class F>
tensor<float, host> images(index_t n, index_t c, index_t r, F f) {
  std::vector<float> v;
  for (index_t i = 0; i < n * c; ++i)
    for (index_t y = 0; y < r; ++y)
      for (index_t x = 0; x < r; ++x) v.push_back(static_cast<float>(f(y, x)));
  return tensor<float, host>::from(v, shape{n, c, r, r});
}

BOOST_AUTO_TEST_CASE(power_spectrum_of_a_cosine) {
  const index_t r = 16;
  // cos(2π 3 x / 16) + 0.7: the mean is removed, the energy (r² / 2)² sits at (0, 3) and (0, 13).
  const auto img =
      images(2, 3, r, [](index_t, index_t x) { return 0.7 + std::cos(2 * std::numbers::pi * 3 * x / 16.0); });
  const auto p = eval::mean_power_spectrum(img);
  const double peak = (r * r / 2.0) * (r * r / 2.0);
  for (index_t u = 0; u < r; ++u)
    for (index_t v = 0; v < r; ++v) {
      const double want = (u == 0 && (v == 3 || v == 13)) ? peak : 0.0;
      BOOST_TEST(p[static_cast<std::size_t>(u * r + v)] == want, boost::test_tools::tolerance(1e-6 * peak));
    }
}

/// Images (n, 1, r, r) of white noise, optionally blurred by a 2x2 box (cyclic), plus `grid`
/// times a pattern that repeats every 8 pixels.
tensor<float, host> noise_images(index_t n, index_t r, bool blur, float grid, std::uint64_t seed) {
  rng gen(seed);
  const auto z = tensor<float, host>::random(shape{n, 1, r, r}, gen, {distribution::normal, 0, 1});
  std::vector<float> v(static_cast<std::size_t>(n * r * r));
  const float* p = z.data();
  for (index_t i = 0; i < n; ++i)
    for (index_t y = 0; y < r; ++y)
      for (index_t x = 0; x < r; ++x) {
        const auto px = [&](index_t yy, index_t xx) { return p[i * r * r + (yy % r) * r + (xx % r)]; };
        float e = blur ? (px(y, x) + px(y + 1, x) + px(y, x + 1) + px(y + 1, x + 1)) / 4 : px(y, x);
        if (y % 8 == 0 || x % 8 == 0) e += grid;
        v[static_cast<std::size_t>((i * r + y) * r + x)] = e;
      }
  return tensor<float, host>::from(v, shape{n, 1, r, r});
}

BOOST_AUTO_TEST_CASE(lattice_peak_ratio_sees_a_grid_not_blur) {
  const index_t r = 32;
  // A flat spectrum: every lattice point is like its neighbours.
  const double flat = eval::lattice_peak_ratio(noise_images(300, r, false, 0, 4), 8);
  BOOST_TEST(flat == 1.0, boost::test_tools::tolerance(0.1));
  // Blur changes the spectrum smoothly; the 2x2 box's zeros at Nyquist (15 of the 63 lattice
  // points) pull the figure below 1, never above.
  const double blurred = eval::lattice_peak_ratio(noise_images(300, r, true, 0, 5), 8);
  BOOST_TEST(blurred > 0.6);
  BOOST_TEST(blurred < 1.1);
  // A faint period-8 grid of lines on blurred noise stands out at its lattice (on the axes).
  BOOST_TEST(eval::lattice_peak_ratio(noise_images(300, r, true, 0.5f, 6), 8) > 5.0);
  // A constant image has no energy off DC: 1 by convention.
  BOOST_TEST(eval::lattice_peak_ratio(images(1, 1, 12, [](index_t, index_t) { return 0.3; }), 4) == 1.0);
}

BOOST_AUTO_TEST_CASE(lattice_peak_ratio_errors) {
  const auto img = images(1, 1, 12, [](index_t, index_t) { return 0.0; });
  BOOST_CHECK_THROW((void)eval::lattice_peak_ratio(img, 5), value_error);   // does not divide 12
  BOOST_CHECK_THROW((void)eval::lattice_peak_ratio(img, 1), value_error);   // no period
  BOOST_CHECK_THROW((void)eval::lattice_peak_ratio(img, 12), value_error);  // step 1: no neighbours off the lattice
  BOOST_CHECK_THROW((void)eval::mean_power_spectrum(tensor<float, host>::zeros(shape{1, 1, 4, 5})), shape_error);
  BOOST_CHECK_THROW((void)eval::lattice_peak_ratio(tensor<float, host>::zeros(shape{4, 4}), 2), shape_error);
  BOOST_CHECK_THROW((void)eval::lattice_peak_ratio(std::vector<double>(15, 1.0), 4, 2), shape_error);
  // The spectrum form gives what the image form gives.
  const auto noisy = noise_images(4, 16, false, 0.3f, 8);
  BOOST_TEST(eval::lattice_peak_ratio(eval::mean_power_spectrum(noisy), 16, 4) == eval::lattice_peak_ratio(noisy, 4));
}

BOOST_AUTO_TEST_CASE(block_edge_ratio_sees_a_mosaic) {
  const index_t r = 32;
  // Noise, blurred noise and a linear ramp have no preferred phase.
  BOOST_TEST(eval::block_edge_ratio(noise_images(50, r, false, 0, 11), 4) == 1.0, boost::test_tools::tolerance(0.05));
  BOOST_TEST(eval::block_edge_ratio(noise_images(50, r, true, 0, 12), 4) == 1.0, boost::test_tools::tolerance(0.05));
  BOOST_TEST(
      eval::block_edge_ratio(images(2, 3, r, [](index_t y, index_t x) { return 0.01 * double(x + 2 * y); }), 8) == 1.0,
      boost::test_tools::tolerance(1e-6));
  // Noise upsampled by nearest neighbour: nothing changes inside a block.
  const auto coarse = noise_images(50, r / 4, false, 0, 13);
  const auto mosaic = upsample(constant(coarse), 4, interpolation::nearest).value();
  BOOST_TEST(std::isinf(eval::block_edge_ratio(mosaic, 4)));
  // The same with a little fine noise on top: large but finite; at period 8 one pair in 7 of
  // those counted inside crosses a 4-block edge, so the figure stays below 7.
  const auto fine = noise_images(50, r, false, 0, 14);
  const auto noisy_mosaic = (constant(mosaic) + constant(fine) * 0.05f).value();
  const double at4 = eval::block_edge_ratio(noisy_mosaic, 4), at8 = eval::block_edge_ratio(noisy_mosaic, 8);
  BOOST_TEST_MESSAGE("block figure of a noisy 4-pixel mosaic: p = 4 " << at4 << ", p = 8 " << at8);
  BOOST_TEST(at4 > 5.0);
  BOOST_TEST(at8 > 1.5);
  BOOST_TEST(at8 < 7.0);
  BOOST_TEST(at8 < at4);
  // Bilinear upsampling leaves no edges.
  const auto smooth = upsample(constant(coarse), 4, interpolation::bilinear).value();
  BOOST_TEST(eval::block_edge_ratio(smooth, 4) < 1.5);
  // Flat images: 1 by convention; errors.
  BOOST_TEST(eval::block_edge_ratio(images(1, 1, 8, [](index_t, index_t) { return 0.5; }), 4) == 1.0);
  const auto img = images(1, 1, 12, [](index_t, index_t) { return 0.0; });
  BOOST_CHECK_THROW((void)eval::block_edge_ratio(img, 5), value_error);
  BOOST_CHECK_THROW((void)eval::block_edge_ratio(img, 1), value_error);
  BOOST_CHECK_THROW((void)eval::block_edge_ratio(img, 12), shape_error);  // one block
  BOOST_CHECK_THROW((void)eval::block_edge_ratio(tensor<float, host>::zeros(shape{1, 1, 4, 8}), 2), shape_error);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace realism_test
