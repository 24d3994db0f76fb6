// Tests of the Philox stream: known-answer vectors of Philox4x32-10 (Random123), determinism,
// offsets, and the moments of uniform, normal and truncated-normal draws.
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>

#include <cmath>

using namespace bijgan;

BOOST_AUTO_TEST_SUITE(random_suite)

BOOST_AUTO_TEST_CASE(philox_known_answers) {
  // Random123's kat_vectors for philox4x32_10: counter (c0..c3), key (k0, k1) -> output.
  auto run = [](std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3, std::uint32_t k0,
                std::uint32_t k1) {
    return detail::philox4x32_10((std::uint64_t(c1) << 32) | c0, (std::uint64_t(c3) << 32) | c2,
                                 (std::uint64_t(k1) << 32) | k0);
  };
  const auto z = run(0, 0, 0, 0, 0, 0);
  BOOST_TEST(z.w[0] == 0x6627e8d5u);
  BOOST_TEST(z.w[1] == 0xe169c58du);
  BOOST_TEST(z.w[2] == 0xbc57ac4cu);
  BOOST_TEST(z.w[3] == 0x9b00dbd8u);
  const auto f = run(~0u, ~0u, ~0u, ~0u, ~0u, ~0u);
  BOOST_TEST(f.w[0] == 0x408f276du);
  BOOST_TEST(f.w[1] == 0x41c83b0eu);
  BOOST_TEST(f.w[2] == 0xa20bc7c6u);
  BOOST_TEST(f.w[3] == 0x6d5451fdu);
  const auto p = run(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u);
  BOOST_TEST(p.w[0] == 0xd16cfe09u);
  BOOST_TEST(p.w[1] == 0x94fdccebu);
  BOOST_TEST(p.w[2] == 0x5001e420u);
  BOOST_TEST(p.w[3] == 0x24126ea1u);
}

BOOST_AUTO_TEST_CASE(deterministic_and_offset) {
  rng a(9), b(9);
  const auto whole = tensor<float>::random({20}, a, {distribution::normal, 0, 1}).to_vector();
  const auto first = tensor<float>::random({10}, b, {distribution::normal, 0, 1}).to_vector();
  const auto second = tensor<float>::random({10}, b, {distribution::normal, 0, 1}).to_vector();
  for (std::size_t i = 0; i < 10; ++i) {
    BOOST_TEST(whole[i] == first[i]);
    BOOST_TEST(whole[10 + i] == second[i]);
  }
  rng c(10);
  BOOST_TEST(tensor<float>::random({10}, c, {distribution::normal, 0, 1}).to_vector() != first);
}

BOOST_AUTO_TEST_CASE(moments) {
  rng g(1);
  const index_t n = 200000;
  auto stats = [](const std::vector<double>& v) {
    double m = 0, s = 0;
    for (double x : v) m += x;
    m /= static_cast<double>(v.size());
    for (double x : v) s += (x - m) * (x - m);
    return std::pair{m, std::sqrt(s / static_cast<double>(v.size() - 1))};
  };
  const auto u = tensor<double>::random({n}, g, {distribution::uniform, -1, 3}).to_vector();
  BOOST_TEST(*std::min_element(u.begin(), u.end()) >= -1.0);
  BOOST_TEST(*std::max_element(u.begin(), u.end()) < 3.0);
  BOOST_TEST(std::abs(stats(u).first - 1.0) < 0.02);
  const auto nrm = tensor<double>::random({n}, g, {distribution::normal, 2, 0.5}).to_vector();
  BOOST_TEST(std::abs(stats(nrm).first - 2.0) < 0.01);
  BOOST_TEST(std::abs(stats(nrm).second - 0.5) < 0.01);
  const auto tn = tensor<double>::random({n}, g, {distribution::truncated_normal, 0, 1, -2, 2}).to_vector();
  BOOST_TEST(*std::min_element(tn.begin(), tn.end()) >= -2.0);
  BOOST_TEST(*std::max_element(tn.begin(), tn.end()) <= 2.0);
  BOOST_TEST(std::abs(stats(tn).first) < 0.01);
  // Stddev of N(0,1) truncated to [-2, 2] is 0.8796.
  BOOST_TEST(std::abs(stats(tn).second - 0.8796) < 0.01);
  const auto tf = tensor<float>::random({n}, g, {distribution::truncated_normal, 0, 1, -2, 2}).to_vector();
  BOOST_TEST(std::isfinite(tf[0]));
  BOOST_TEST(std::abs(math::erfinv(0.5) - 0.4769362762044699) < 1e-12);
}

BOOST_AUTO_TEST_SUITE_END()
