// Bijections: the flow-invariant fixture (round trip, brute-force log|det J|) on every step and
// on compositions, compile-time concept checks, NLL gradients, and shape errors.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include <bijgan/bijgan.hpp>
#include <bijgan/flows/flows.hpp>
#include <bijgan/testing/flow_check.hpp>
#include <bijgan/testing/module_check.hpp>
#include <bijgan/train/flow_training.hpp>

#include <filesystem>
#include <sstream>

using namespace bijgan;
using vd = var<double>;
using td = tensor<double>;

namespace flow_test {

td randn(const shape& s, std::uint64_t seed, double scale = 1) {
  rng g(seed);
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

/// A small H with random (non-identity) coupling scales and shifts.
flows::realnvp_multiscale<double> small_h(std::uint64_t seed) {
  flows::realnvp_multiscale<double> h(
      {.channels = 1, .height = 8, .width = 8, .scales = 3, .blocks = 1, .features = 4});
  rng g(seed);
  for (auto& [name, p] : nn::named_parameters(h))
    if (name.ends_with("scale") || name.ends_with("shift"))
      p.set_value(td::random(p.shape(), g, {distribution::normal, 0, 0.5}));
  return h;
}

/// An ActNorm already initialised on other data, with non-trivial parameters.
flows::actnorm<double> ready_actnorm(index_t c, std::uint64_t seed) {
  flows::actnorm<double> a(c);
  a.forward(constant(randn({4, c, 3, 3}, seed, 2.0)));
  return a;
}

static_assert(flows::check_bijection<flows::squeeze<double>>());
static_assert(flows::check_bijection<flows::actnorm<double>>());
static_assert(flows::check_bijection<flows::invertible_conv1x1<double>>());
static_assert(flows::check_bijection<flows::logit_transform<double>>());
static_assert(flows::check_bijection<flows::realnvp_multiscale<double>>());
static_assert(flows::check_bijection<flows::factor_out<flows::squeeze<double>>>());
static_assert(nn::module<flows::realnvp_multiscale<float>>);
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

BOOST_AUTO_TEST_CASE(glow_steps_logit_and_additive_coupling_pass_the_fixture) {
  nn::manual_seed(11);
  const auto x = randn({2, 4, 3, 3}, 12);
  const auto an = ready_actnorm(4, 13);
  auto r = testing::check_flow(an, x);
  BOOST_TEST(r.passed, "actnorm: " << r.message);
  const flows::invertible_conv1x1<double> ic(4);
  r = testing::check_flow(ic, x);
  BOOST_TEST(r.passed, "invertible_conv1x1: " << r.message);
  ic.log_s.set_value(randn({4}, 14, 0.5));  // away from the volume-preserving start
  r = testing::check_flow(ic, x);
  BOOST_TEST(r.passed, "invertible_conv1x1 (trained): " << r.message);
  BOOST_TEST(std::abs(ic.forward(constant(x)).logdet.value().to_vector()[0]) > 1e-3);
  for (auto mask : {flows::mask_kind::checkerboard, flows::mask_kind::channel}) {
    flows::additive_coupling<decltype(conditioner(2))> ad(
        4,
        nn::conv2d<double>({.in = 4, .out = 6, .kernel = 3, .padding = 1}) | nn::act::tanh{} |
            nn::conv2d<double>({.in = 6, .out = 4, .kernel = 3, .padding = 1}),
        {.mask = mask, .parity = 1});
    ad.shift.set_value(randn({4, 1, 1}, 15));
    r = testing::check_flow(ad, x);
    BOOST_TEST(r.passed, "additive_coupling: " << r.message);
    BOOST_TEST(ad.forward(constant(x)).z.value().to_vector() != x.to_vector());
  }
  rng g(16);
  const auto y = td::random({2, 1, 3, 3}, g, {distribution::uniform, 0, 1});
  r = testing::check_flow(flows::logit_transform<double>{}, y);
  BOOST_TEST(r.passed, "logit_transform: " << r.message);
  const auto fo = flows::factor_out(shape{4, 2, 2}, flows::squeeze<double>{} | ready_actnorm(8, 17));
  r = testing::check_flow(fo, randn({2, 4, 2, 2}, 18));
  BOOST_TEST(r.passed, "factor_out: " << r.message);
  BOOST_TEST(fo.forward(constant(randn({2, 4, 2, 2}, 18))).z.shape() == (shape{2, 16}));
}

// realnvp_options::recompute: every coupling under checkpoint gives the same z, log-det and
// gradients (input and parameters), and keeps no conditioner activations in the graph.
BOOST_AUTO_TEST_CASE(realnvp_recompute_matches_the_plain_flow) {
  nn::manual_seed(31);
  const auto h = small_h(32);
  auto hr = h;  // shares the parameters
  hr.options.recompute = true;
  const auto x0 = randn({2, 1, 8, 8}, 33);
  const auto r = testing::check_flow(hr, x0);
  BOOST_TEST(r.passed, r.message);
  const auto loss = [&x0](const flows::realnvp_multiscale<double>& f, vd& x) {
    x = parameter(x0);
    const auto o = f.forward(x);
    return sum(mean(square(o.z), {1}) - o.logdet);
  };
  vd xa, xb;
  const auto la = loss(h, xa), lb = loss(hr, xb);
  BOOST_TEST(std::abs(la.item() - lb.item()) < 1e-12);
  const auto params = nn::parameters(h);
  std::vector<vd> wrt_a{xa}, wrt_b{xb};
  wrt_a.insert(wrt_a.end(), params.begin(), params.end());
  wrt_b.insert(wrt_b.end(), params.begin(), params.end());
  const auto ga = grad(std::vector{la}, wrt_a), gb = grad(std::vector{lb}, wrt_b);
  double worst = 0;
  for (std::size_t i = 0; i < ga.size(); ++i) {
    const auto u = ga[i].value().to_vector(), v = gb[i].value().to_vector();
    for (std::size_t j = 0; j < u.size(); ++j) worst = std::max(worst, std::abs(u[j] - v[j]));
  }
  BOOST_TEST(worst < 1e-12);
  // What the graphs hold beyond the leaves (scalars of interior results).
  const auto held = [](const vd& root) {
    index_t n = 0;
    for (const auto& v : detail::reverse_topological(std::vector{root}))
      if (!v.is_leaf()) n += v.numel();
    return n;
  };
  BOOST_TEST(held(lb) * 4 < held(la));
}

BOOST_AUTO_TEST_CASE(realnvp_multiscale_is_a_flow_with_the_paper_layout) {
  nn::manual_seed(19);
  const auto h = small_h(20);
  // 2 scales of 3 + 3 couplings, then 4; names follow the layout.
  BOOST_TEST(h.levels.size() == 2U);
  BOOST_TEST(h.last.size() == 4U);
  BOOST_TEST(nn::named_parameters(h).front().first == "levels.0.checkerboard.0.net.head.weight");
  BOOST_TEST(h.levels[1].channel[2].options.parity == 0);
  BOOST_TEST((h.levels[1].channel[1].options.mask == flows::mask_kind::channel));
  BOOST_TEST(h.last_shape() == (shape{4, 2, 2}));
  const auto x = randn({2, 1, 8, 8}, 21);
  const auto r = testing::check_flow(h, x);
  BOOST_TEST(r.passed, r.message);
  // The latent is flat and its first 32 values are the first scale's factor (channels 0-1 of
  // the squeezed 4x4 map), untouched by later scales.
  const auto z = h.forward(constant(x)).z;
  BOOST_TEST(z.shape() == (shape{2, 64}));
  nn::manual_seed(19);
  auto h2 = small_h(20);
  h2.last[0].shift.set_value(randn(h2.last[0].shift.shape(), 22));
  const auto z2 = h2.forward(constant(x)).z.value().to_vector();
  const auto zv = z.value().to_vector();
  BOOST_TEST(std::equal(zv.begin(), zv.begin() + 32, z2.begin()));
  BOOST_TEST(!std::equal(zv.begin() + 48, zv.begin() + 64, z2.begin() + 48));
  // The whole pipeline of the examples: logit pre-processing then H, and its float round trip.
  nn::manual_seed(23);
  flows::realnvp_multiscale<float> hf(
      {.channels = 3, .height = 16, .width = 16, .scales = 3, .blocks = 2, .features = 8});
  rng g(24);
  for (auto& [name, p] : nn::named_parameters(hf))
    if (name.ends_with("scale") || name.ends_with("shift"))
      p.set_value(tensor<float>::random(p.shape(), g, {distribution::normal, 0, 0.5f}));
  const auto pipeline = flows::logit_transform<float>{} | hf;
  const auto img = flows::dequantize(tensor<float>::random({2, 3, 16, 16}, g, {distribution::uniform, 0, 1}), g);
  BOOST_TEST(testing::round_trip_error(pipeline, img) < 1e-4);
  const auto zf = pipeline.forward(constant(img)).z.value();
  BOOST_TEST(flows::sample(pipeline, zf).to_vector().size() == img.to_vector().size());
}

BOOST_AUTO_TEST_CASE(actnorm_initialises_from_data_and_invconv_starts_as_a_rotation) {
  const auto x = randn({16, 3, 4, 4}, 25, 3.0);
  const flows::actnorm<double> a(3);
  BOOST_TEST(!a.is_initialized());
  BOOST_CHECK_THROW(a.inverse(constant(x)), value_error);
  const auto y = a.forward(constant(x)).z.value();
  BOOST_TEST(a.is_initialized());
  const auto yv = y.to_vector();
  for (index_t c = 0; c < 3; ++c) {
    double m = 0, v = 0;
    for (index_t n = 0; n < 16; ++n)
      for (index_t k = 0; k < 16; ++k) m += yv[static_cast<std::size_t>((n * 3 + c) * 16 + k)];
    m /= 256;
    for (index_t n = 0; n < 16; ++n)
      for (index_t k = 0; k < 16; ++k) v += std::pow(yv[static_cast<std::size_t>((n * 3 + c) * 16 + k)] - m, 2);
    BOOST_TEST(std::abs(m) < 1e-12);
    BOOST_TEST(std::abs(v / 256 - 1) < 1e-5);
  }
  // A second batch does not re-initialise; a checkpoint keeps the flag.
  const auto before = a.bias.value().to_vector();
  a.forward(constant(randn({4, 3, 4, 4}, 26)));
  BOOST_TEST(a.bias.value().to_vector() == before, boost::test_tools::per_element());
  io::state_dict sd;
  sd.put_module("an", a);
  flows::actnorm<double> b(3);
  sd.load_module("an", b);
  BOOST_TEST(b.is_initialized());
  BOOST_TEST(b.forward(constant(x)).z.value().to_vector() == yv, boost::test_tools::per_element());

  nn::manual_seed(27);
  const flows::invertible_conv1x1<double> ic(5);
  const auto w = ic.weight().value().to_vector();
  for (index_t i = 0; i < 5; ++i)
    for (index_t j = 0; j < 5; ++j) {
      double d = 0;
      for (index_t k = 0; k < 5; ++k)
        d += w[static_cast<std::size_t>(i * 5 + k)] * w[static_cast<std::size_t>(j * 5 + k)];
      BOOST_TEST(std::abs(d - (i == j ? 1.0 : 0.0)) < 1e-12);  // W Wᵀ = I
    }
  BOOST_TEST(std::abs(ic.forward(constant(randn({1, 5, 2, 2}, 28))).logdet.item()) < 1e-12);
}

BOOST_AUTO_TEST_CASE(matrix_inverse_values_gradients_and_errors) {
  const auto a = td::from({4, 7, 2, 6}, {2, 2});
  const auto inv = linalg::inverse(a).to_vector();
  const std::vector<double> expect{0.6, -0.7, -0.2, 0.4};
  for (std::size_t i = 0; i < 4; ++i) BOOST_TEST(std::abs(inv[i] - expect[i]) < 1e-14);
  const auto r = testing::gradcheck([](const std::vector<vd>& v) { return linalg::inverse(v[0]); },
                                    {td::from({3, 1, 0.5, 0.2, 2, 0.1, 0.3, -0.4, 4}, {3, 3})}, {.second_order = true});
  BOOST_TEST(r.passed, r.message);
  BOOST_CHECK_THROW(linalg::inverse(td::from({1, 2, 2, 4}, {2, 2})), value_error);
  BOOST_CHECK_THROW(linalg::inverse(td::zeros({2, 3})), shape_error);
}

BOOST_AUTO_TEST_CASE(priors_closed_forms_classification_and_sampling) {
  const double ln2pi = std::log(2 * std::numbers::pi);
  const flows::standard_normal<double> sn{.dim = 2};
  const auto z = td::from({1, 2, 0, -1}, {2, 2});
  const auto lp = sn.log_prob(constant(z)).value().to_vector();
  BOOST_TEST(std::abs(lp[0] - (-2.5 - ln2pi)) < 1e-14);
  BOOST_TEST(std::abs(lp[1] - (-0.5 - ln2pi)) < 1e-14);
  // μ_c = δ(c − C/2)·1 with C = 4, δ = 0.5: μ = −1, −0.5, 0, 0.5.
  const flows::class_gaussian<double> cg{.classes = 4, .dim = 2, .delta = 0.5};
  BOOST_TEST(cg.mean_of(0) == -1.0);
  const auto lc = cg.log_prob(constant(z), {0, 3}).value().to_vector();
  BOOST_TEST(std::abs(lc[0] - (-0.5 * (4 + 9) - ln2pi)) < 1e-14);
  BOOST_TEST(std::abs(lc[1] - (-0.5 * (0.25 + 2.25) - ln2pi)) < 1e-14);
  const auto all = cg.log_prob_all(z);
  BOOST_TEST(std::abs(all[1][3] - lc[1]) < 1e-12);
  // (1, 2): nearest mean 0.5 (class 3); (0, −1): mean coordinate −0.5 (class 1).
  BOOST_TEST(cg.classify(z) == (std::vector<index_t>{3, 1}), boost::test_tools::per_element());
  // Marginal under the class mixture: log((p_0 + ... + p_3)/4), checked against the four terms.
  const auto marg = cg.log_prob_marginal(z);
  double mix = 0;
  for (double v : all[0]) mix += std::exp(v);
  BOOST_TEST(std::abs(marg[0] - std::log(mix / 4)) < 1e-12);
  const flows::class_gaussian<double> one{.classes = 1, .dim = 2, .delta = 0.5};
  BOOST_TEST(std::abs(one.log_prob_marginal(z)[1] - one.log_prob(constant(z), {0, 0}).value().to_vector()[1]) < 1e-12);
  rng g(29);
  const auto s = cg.sample(std::vector<index_t>(4000, 1), g).to_vector();
  double m = 0, v = 0;
  for (double e : s) m += e;
  m /= double(s.size());
  for (double e : s) v += (e - m) * (e - m);
  BOOST_TEST(std::abs(m - (-0.5)) < 0.03);
  BOOST_TEST(std::abs(v / double(s.size()) - 1) < 0.05);
  BOOST_CHECK_THROW(cg.log_prob(constant(z), {0, 4}), value_error);
  BOOST_CHECK_THROW(cg.log_prob(constant(z), {0}), shape_error);
  BOOST_CHECK_THROW(sn.log_prob(constant(td::zeros({2, 3}))), shape_error);
  // The random layout: fixed, nearly orthogonal means δ·r_c, about δ·√(2D) apart.
  const flows::class_gaussian<double> rg{
      .classes = 5, .dim = 256, .delta = 0.5, .layout = flows::mean_layout::random, .seed = 3};
  const auto mu = rg.means().to_vector();
  BOOST_TEST(mu == rg.means().to_vector(), boost::test_tools::per_element());  // same seed, same means
  BOOST_TEST(mu != (flows::class_gaussian<double>{
                       .classes = 5, .dim = 256, .delta = 0.5, .layout = flows::mean_layout::random, .seed = 4}
                        .means()
                        .to_vector()));
  for (std::size_t a = 0; a < 5; ++a)
    for (std::size_t b = a + 1; b < 5; ++b) {
      double d2 = 0;
      for (std::size_t k = 0; k < 256; ++k) d2 += std::pow(mu[a * 256 + k] - mu[b * 256 + k], 2);
      BOOST_TEST(std::abs(std::sqrt(d2) / (0.5 * std::sqrt(512.0)) - 1) < 0.12, "classes " << a << ", " << b);
    }
  rng gr(30);
  const std::vector<index_t> lab{0, 1, 2, 3, 4, 4, 2};
  const auto zr = rg.sample(lab, gr);
  const auto direct = rg.log_prob(constant(zr), lab).value().to_vector();
  const auto zv = zr.to_vector();
  const auto rows = rg.log_prob_all(zr);
  for (std::size_t i = 0; i < lab.size(); ++i) {
    double q = 0;  // −½‖z − μ_c‖² − D/2·ln 2π by hand
    for (std::size_t k = 0; k < 256; ++k)
      q += std::pow(zv[i * 256 + k] - mu[static_cast<std::size_t>(lab[i]) * 256 + k], 2);
    BOOST_TEST(std::abs(direct[i] - (-0.5 * q - 128 * ln2pi)) < 1e-9);
    BOOST_TEST(std::abs(rows[i][static_cast<std::size_t>(lab[i])] - direct[i]) < 1e-9);
  }
  BOOST_TEST(rg.classify(zr) == lab, boost::test_tools::per_element());  // means 11 apart, unit noise
  // class_logits = log N(z; μ_c, I) + ½‖z‖² + D/2·ln 2π: each row differs from log_prob_all by
  // one per-sample constant, for both layouts.
  for (const auto* prior : {&rg, &cg}) {
    const auto zz = prior == &rg ? zr : z;
    const auto lg = prior->class_logits(constant(zz)).value().to_vector();
    const auto full = prior->log_prob_all(zz);
    const auto d = static_cast<std::size_t>(prior->dim), c = static_cast<std::size_t>(prior->classes);
    const auto zzv = zz.to_vector();
    for (std::size_t i = 0; i < full.size(); ++i) {
      double sq = 0;
      for (std::size_t k = 0; k < d; ++k) sq += zzv[i * d + k] * zzv[i * d + k];
      for (std::size_t k = 0; k < c; ++k)
        BOOST_TEST(std::abs(lg[i * c + k] - (full[i][k] + 0.5 * sq + 0.5 * double(d) * ln2pi)) < 1e-8 * (1 + sq));
    }
  }
  // The memo of the means follows the fields: a changed seed or delta gives new means.
  auto changed = rg;
  changed.seed = 4;
  BOOST_TEST(changed.means().to_vector() != mu);
  changed.seed = 3;
  BOOST_TEST(changed.means().to_vector() == mu, boost::test_tools::per_element());
  changed.delta = 1.0;
  BOOST_TEST(std::abs(changed.means().to_vector()[5] - 2 * mu[5]) < 1e-12);
  BOOST_TEST(rg.means().to_vector() == mu, boost::test_tools::per_element());  // the original is untouched
  BOOST_TEST((flows::mean_layout_from("random") == flows::mean_layout::random));
  BOOST_TEST((flows::mean_layout_from("line") == flows::mean_layout::line));
  BOOST_CHECK_THROW(flows::mean_layout_from("grid"), value_error);
  // bits/dim: an NLL of 0 nats in [0, 1)-space is exactly 8 bits per dimension.
  BOOST_TEST(std::abs(flows::bits_per_dim(0, 10) - 8) < 1e-12);
  BOOST_TEST(std::abs(flows::bits_per_dim(-10 * std::log(2.0), 10) - 7) < 1e-12);
}

BOOST_AUTO_TEST_CASE(class_conditional_nll_of_h_passes_gradcheck) {
  nn::manual_seed(31);
  flows::realnvp_multiscale<double> h(
      {.channels = 1, .height = 4, .width = 4, .scales = 2, .blocks = 1, .features = 2});
  rng g(32);
  for (auto& [name, p] : nn::named_parameters(h))
    if (name.ends_with("scale") || name.ends_with("shift"))
      p.set_value(td::random(p.shape(), g, {distribution::normal, 0, 0.5}));
  const flows::class_gaussian<double> prior{.classes = 3, .dim = 16, .delta = 0.3};
  const auto r = testing::module_gradcheck(h, {randn({2, 1, 4, 4}, 33)}, [&](const auto& m, const std::vector<vd>& v) {
    const auto f = m.forward(v[0]);
    return -(prior.log_prob(f.z, {0, 2}) + f.logdet);
  });
  BOOST_TEST(r.passed, r.message);
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
  rng g(10);
  k.scale.set_value(tensor<float>::random({2, 1, 1}, g, {distribution::normal, 0, 0.8f}));
  k.shift.set_value(tensor<float>::random({2, 1, 1}, g, {distribution::normal, 0, 1}));
  const auto x = tensor<float>::random({3, 2, 8, 8}, g, {distribution::normal, 0, 1});
  BOOST_TEST(testing::round_trip_error(k, x) < 1e-4);
  auto says = [](const char* what) {
    return [what](const shape_error& e) { return std::string(e.what()).find(what) != std::string::npos; };
  };
  BOOST_CHECK_EXCEPTION(flows::squeeze<double>{}.forward(constant(td::zeros({1, 1, 3, 4}))), shape_error,
                        says("even H and W"));
  BOOST_CHECK_EXCEPTION(coupling(3, conditioner(3), {.mask = flows::mask_kind::channel}), shape_error,
                        says("even channel count"));
  BOOST_CHECK_EXCEPTION(make_coupling(2, {}, 50).forward(constant(td::zeros({1, 3, 4, 4}))), shape_error,
                        says("(N, 2, H, W)"));
  BOOST_CHECK_EXCEPTION(flows::realnvp_multiscale<double>({.channels = 1, .height = 12, .width = 12, .scales = 4}),
                        shape_error, says("multiples of 8"));
  BOOST_CHECK_EXCEPTION(small_h(1).forward(constant(td::zeros({1, 3, 8, 8}))), shape_error, says("(N, 1, 8, 8)"));
  BOOST_CHECK_EXCEPTION(small_h(1).inverse(constant(td::zeros({1, 63}))), shape_error, says("(N, 64)"));
  BOOST_CHECK_EXCEPTION(flows::invertible_conv1x1<double>(3).forward(constant(td::zeros({1, 2, 2, 2}))), shape_error,
                        says("(N, 3, H, W)"));
  BOOST_CHECK_EXCEPTION(flows::actnorm<double>(3).forward(constant(td::zeros({1, 2, 2, 2}))), shape_error,
                        says("(N, 3, H, W)"));
  BOOST_CHECK_EXCEPTION(
      flows::factor_out(shape{4, 2, 2}, flows::squeeze<double>{}).forward(constant(td::zeros({1, 4, 4, 4}))),
      shape_error, says("(N, 4, 2, 2)"));
}

BOOST_AUTO_TEST_CASE(fit_flow_gate_groups_and_exact_resume) {
  namespace fs = std::filesystem;
  const flows::realnvp_options arch{.channels = 1, .height = 8, .width = 8, .scales = 2, .blocks = 1, .features = 4};
  const auto make = [&] {
    nn::manual_seed(21);
    return flows::logit_transform<float>{} | flows::realnvp_multiscale<float>(arch);
  };
  // The couplings' scale/shift gates form their own group at lr · factor.
  const auto h = make();
  const auto groups = train::flow_param_groups(h, 1e-3, 10);
  BOOST_TEST_REQUIRE(groups.size() == 2u);
  std::size_t gates = 0;
  for (const auto& [name, p] : nn::named_parameters(h)) gates += name.ends_with(".scale") || name.ends_with(".shift");
  BOOST_TEST(gates == 2u * 10u);  // 3 + 3 couplings at scale 1, 4 at the last
  BOOST_TEST(groups[1].params.size() == gates);
  BOOST_TEST(groups[0].params.size() + gates == nn::parameters(h).size());
  BOOST_TEST(*groups[1].lr == 1e-2);

  // 16 images of k/255 in two classes; 2 epochs of 4 batches.
  rng g(22);
  auto pix = tensor<float>::random({16, 1, 8, 8}, g, {distribution::uniform, 0, 1}).to_vector();
  for (auto& v : pix) v = std::floor(v * 255.0f) / 255.0f;
  const auto images = tensor<float>::from(pix, {16, 1, 8, 8});
  std::vector<int> labels(16);
  for (int i = 0; i < 16; ++i) labels[static_cast<std::size_t>(i)] = i % 2;
  const flows::class_gaussian<float> prior{.classes = 2, .dim = 64, .delta = 0.2};
  std::ostringstream quiet;
  train::flow_fit_options o;
  o.epochs = 2, o.batch = 4, o.warmup_steps = 2, o.checkpoint_every = 3, o.log = &quiet;

  // Uninterrupted: 8 steps.
  auto whole = make();
  o.checkpoint = fs::temp_directory_path() / "bijgan_flow_whole.safetensors";
  const auto a = train::fit_flow(whole, prior, images, labels, o);
  BOOST_TEST(a.steps == 8);
  // Interrupted after 5 steps (mid-epoch), then resumed by a fresh process-like flow.
  o.checkpoint = fs::temp_directory_path() / "bijgan_flow_resumed.safetensors";
  fs::remove(o.checkpoint);
  auto first = make();
  o.max_steps = 5;
  BOOST_TEST(train::fit_flow(first, prior, images, labels, o).steps == 5);
  auto second = make();
  o.max_steps = 0, o.resume = true;
  const auto b = train::fit_flow(second, prior, images, labels, o);
  BOOST_TEST(b.resumed_from == 5);
  BOOST_TEST(b.steps == 8);
  const auto pa = nn::parameters(whole), pb = nn::parameters(second);
  double worst = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    const auto u = pa[i].value().to_vector(), v = pb[i].value().to_vector();
    for (std::size_t j = 0; j < u.size(); ++j) worst = std::max(worst, double(std::abs(u[j] - v[j])));
  }
  BOOST_TEST(worst == 0.0);  // same batches, noise, Adam state and schedule: bit-identical
  // The checkpoint recorded the run's options: another learning rate or prior is refused with
  // each difference named, unless allowed.
  {
    auto third = make();
    auto changed = o;
    changed.lr = 2e-3;
    const flows::class_gaussian<float> other_prior{.classes = 2, .dim = 64, .delta = 0.3};
    std::string what;
    try {
      train::fit_flow(third, other_prior, images, labels, changed);
    } catch (const value_error& e) {
      what = e.what();
    }
    BOOST_TEST(what.find("cannot resume from") != std::string::npos, what);
    BOOST_TEST(what.find("lr: checkpoint 0.001, this run 0.002") != std::string::npos, what);
    BOOST_TEST(what.find("prior.delta: checkpoint 0.2, this run 0.3") != std::string::npos, what);
    changed.allow_option_changes = true;
    std::ostringstream said;
    changed.log = &said;
    BOOST_TEST(train::fit_flow(third, other_prior, images, labels, changed).resumed_from == 8);
    BOOST_TEST(said.str().find("resuming with changed options") != std::string::npos, said.str());
  }
  // A NaN pixel makes the NLL of its batch NaN: the run stops naming it and the step (before
  // that step's update), or skips that step when asked; the callbacks see every step.
  {
    auto bad_pix = pix;
    bad_pix[5 * 64] = std::numeric_limits<float>::quiet_NaN();  // image 5
    const auto bad = tensor<float>::from(bad_pix, {16, 1, 8, 8});
    auto plain = o;
    plain.checkpoint.clear(), plain.resume = false, plain.epochs = 1;
    auto third = make();
    std::string what;
    try {
      train::fit_flow(third, prior, bad, labels, plain);
    } catch (const value_error& e) {
      what = e.what();
    }
    BOOST_TEST(what.find("train::fit_flow: step ") != std::string::npos, what);
    BOOST_TEST(what.find("the NLL is not finite") != std::string::npos, what);
    plain.on_nonfinite = train::nonfinite::skip;
    int skipped = 0, steps = 0;
    const auto r = train::fit_flow(third, prior, bad, labels, plain, {[&](const train::step_report& rep) {
                                     ++steps;
                                     skipped += rep.skipped ? 1 : 0;
                                   }});
    BOOST_TEST(r.steps == 4);
    BOOST_TEST(steps == 4);
    BOOST_TEST(skipped == 1);  // the one batch holding image 5
    for (const auto& p : nn::parameters(third))
      for (const float v : p.value().to_vector()) BOOST_REQUIRE(std::isfinite(v));
  }
  // Training moved the gates and evaluation gives finite figures for both classes.
  const auto ev = train::evaluate_flow(whole, prior, images, labels, 8);
  BOOST_TEST(std::isfinite(ev.bits_per_dim));
  BOOST_TEST(ev.accuracy >= 0.0);
  BOOST_CHECK_THROW(train::evaluate_flow(whole, prior, images, std::vector<int>(16, 2)), value_error);
  // The hybrid loss is the NLL per dimension plus the weighted cross-entropy of p(c | z).
  {
    rng noise(5);
    const auto y = flows::dequantize(images.slice_rows(0, 4), noise);
    const std::vector<int> lab4(labels.begin(), labels.begin() + 4);
    const auto [loss, nll, ce] = train::flow_loss(whole, prior, y, lab4, 0.5);
    BOOST_TEST(std::abs(loss.item() - (nll.item() + 0.5f * ce.item())) < 1e-5 * std::abs(loss.item()));
    const float nats = mean(train::flow_nll(whole, prior, y, lab4)).item();
    BOOST_TEST(std::abs(nll.item() * 64 - nats) < 1e-5f * std::abs(nats));
    BOOST_TEST(ce.item() > 0.0f);
    const auto [plain, nll2, zero] = train::flow_loss(whole, prior, y, lab4, 0);
    BOOST_TEST(plain.item() == nll2.item());
    BOOST_TEST(zero.item() == 0.0f);
  }
  fs::remove(fs::temp_directory_path() / "bijgan_flow_whole.safetensors");
  fs::remove(o.checkpoint);
}

BOOST_AUTO_TEST_SUITE_END()
