// Bijections: the flow-invariant fixture (round trip, brute-force log|det J|) on every step and
// on compositions, compile-time concept checks, NLL gradients, and shape errors.
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/flows/flows.hpp>
#include <bijgan/testing/flow_check.hpp>
#include <bijgan/testing/module_check.hpp>

using namespace bijgan;
using vd = var<double>;
using td = tensor<double>;

namespace flow_test {

td randn(const shape& s, std::uint64_t seed, double scale = 1) {
  generator g(seed);
  return td::random(s, g, {distribution::normal, 0, scale});
}

auto conditioner(index_t c) {
  return nn::conv2d<double>({.in = c, .out = 6, .kernel = 3, .padding = 1}) | nn::act::tanh{} |
         nn::conv2d<double>({.in = 6, .out = 2 * c, .kernel = 3, .padding = 1});
}
using coupling = flows::affine_coupling<decltype(conditioner(2))>;

/// A coupling with non-zero scale and shift (a new one is the identity, which would test little).
coupling make_coupling(index_t c, flows::coupling_options o, std::uint64_t seed) {
  coupling k(c, conditioner(c), o);
  k.scale.set_value(randn({c, 1, 1}, seed, 0.8));
  k.shift.set_value(randn({c, 1, 1}, seed + 1000, 1.0));
  return k;
}

static_assert(flows::check_bijection<flows::squeeze<double>>());
static_assert(flows::check_bijection<coupling>());
static_assert(flows::check_bijection<flows::inverse_of<coupling>>());
static_assert(!flows::bijection<nn::linear<double>>);

}  // namespace flow_test

BOOST_AUTO_TEST_SUITE(flows_suite)
using namespace flow_test;

BOOST_AUTO_TEST_CASE(new_coupling_is_the_identity) {
  nn::manual_seed(1);
  const coupling k(2, conditioner(2));
  const auto x = randn({2, 2, 4, 4}, 2);
  const auto r = k.forward(constant(x));
  BOOST_TEST(r.z.value().to_vector() == x.to_vector(), boost::test_tools::per_element());
  BOOST_TEST(r.logdet.value().to_vector() == (std::vector<double>{0, 0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(every_step_passes_the_flow_fixture) {
  nn::manual_seed(3);
  const auto x = randn({2, 2, 4, 4}, 4);
  for (auto mask : {flows::mask_kind::checkerboard, flows::mask_kind::channel})
    for (int parity : {0, 1}) {
      BOOST_TEST_CONTEXT("mask " << int(mask) << " parity " << parity) {
        const auto k = make_coupling(2, {.mask = mask, .parity = parity}, 10 + static_cast<std::uint64_t>(parity));
        const auto r = testing::check_flow(k, x);
        BOOST_TEST(r.passed, r.message);
        BOOST_TEST(std::abs(k.forward(constant(x)).logdet.value().to_vector()[0]) > 1e-3);  // not trivially 0
      }
    }
  const auto sq = testing::check_flow(flows::squeeze<double>{}, x);
  BOOST_TEST(sq.passed, sq.message);
  const auto inv = testing::check_flow(flows::inverse_of(make_coupling(2, {}, 20)), x);
  BOOST_TEST(inv.passed, inv.message);
}

BOOST_AUTO_TEST_CASE(compositions_add_their_log_dets) {
  nn::manual_seed(5);
  const auto a = make_coupling(2, {.mask = flows::mask_kind::checkerboard, .parity = 0}, 30);
  const auto c = make_coupling(8, {.mask = flows::mask_kind::channel, .parity = 1}, 31);
  const auto flow = a | flows::squeeze<double>{} | c;
  static_assert(flows::check_bijection<decltype(flow)>());
  const auto x = randn({2, 2, 4, 4}, 32);
  const auto r = testing::check_flow(flow, x);
  BOOST_TEST(r.passed, r.message);
  const auto whole = flow.forward(constant(x));
  const auto ra = a.forward(constant(x));
  const auto rs = flows::squeeze<double>{}.forward(ra.z);
  const auto rc = c.forward(rs.z);
  const auto parts = (ra.logdet + rs.logdet + rc.logdet).value().to_vector();
  const auto total = whole.logdet.value().to_vector();
  for (std::size_t i = 0; i < total.size(); ++i) BOOST_TEST(std::abs(total[i] - parts[i]) < 1e-12);
  BOOST_TEST(whole.z.shape() == (shape{2, 8, 2, 2}));
  // Named parameters go through the sequence: "0.net.0.weight", ..., "2.scale".
  BOOST_TEST(nn::named_parameters(flow).back().first == "2.shift");
}

BOOST_AUTO_TEST_CASE(nll_gradients_pass_gradcheck) {
  nn::manual_seed(7);
  auto k = make_coupling(2, {.mask = flows::mask_kind::checkerboard, .parity = 1}, 40);
  // Standard-normal NLL per sample, up to a constant: ½‖z‖² − log-det.
  const auto r = testing::module_gradcheck(k, {randn({2, 2, 2, 2}, 41)}, [](const auto& m, const std::vector<vd>& v) {
    const auto f = m.forward(v[0]);
    return sum(square(f.z), {1, 2, 3}) * 0.5 - f.logdet;
  });
  BOOST_TEST(r.passed, r.message);
}

BOOST_AUTO_TEST_CASE(float_round_trip_and_shape_errors) {
  nn::manual_seed(9);
  auto net = nn::conv2d<float>({.in = 2, .out = 4, .kernel = 3, .padding = 1});
  flows::affine_coupling<decltype(net)> k(2, net, {});
  generator g(10);
  k.scale.set_value(tensor<float>::random({2, 1, 1}, g, {distribution::normal, 0, 0.8f}));
  k.shift.set_value(tensor<float>::random({2, 1, 1}, g, {distribution::normal, 0, 1}));
  const auto x = tensor<float>::random({3, 2, 8, 8}, g, {distribution::normal, 0, 1});
  BOOST_TEST(testing::round_trip_error(k, x) < 1e-4);
  auto says = [](const char* what) {
    return [what](const shape_error& e) { return std::string(e.what()).find(what) != std::string::npos; };
  };
  BOOST_CHECK_EXCEPTION(flows::squeeze<double>{}.forward(constant(td::zeros({1, 1, 3, 4}))), shape_error, says("even H and W"));
  BOOST_CHECK_EXCEPTION(coupling(3, conditioner(3), {.mask = flows::mask_kind::channel}), shape_error, says("even channel count"));
  BOOST_CHECK_EXCEPTION(make_coupling(2, {}, 50).forward(constant(td::zeros({1, 3, 4, 4}))), shape_error, says("(N, 2, H, W)"));
}

BOOST_AUTO_TEST_SUITE_END()
