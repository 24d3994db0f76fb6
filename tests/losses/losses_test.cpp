// Distances and losses: closed forms of the Gaussian W2, reference values and gradients from
// SciPy and PyTorch (tests/data/loss_reference.json, made by tools/reference/loss_reference.py),
// matrix square roots on ill-conditioned and rank-deficient inputs (finite results and
// gradients), finite-difference gradient checks, and the WGAN-GP penalty's parameter gradient.
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/distances/gaussian_w2.hpp>
#include <bijgan/losses/adversarial.hpp>
#include <bijgan/losses/bijective.hpp>
#include <bijgan/losses/classification.hpp>
#include <bijgan/losses/contrastive.hpp>
#include <bijgan/losses/distill.hpp>
#include <bijgan/testing/gradcheck.hpp>
#include <bijgan/train/weighting.hpp>

#include <cmath>
#include <filesystem>

using namespace bijgan;
using vd = var<double>;
using td = tensor<double>;
using args = std::vector<vd>;

namespace losses_test {

const io::json& ref() {
  static const io::json j = io::read_json(std::filesystem::path(BIJGAN_TEST_DATA_DIR) / "loss_reference.json");
  return j;
}
std::vector<double> flat(const io::json& a) {
  std::vector<double> v;
  for (const auto& x : a.items()) {
    if (x.is_array()) {
      const auto inner = flat(x);
      v.insert(v.end(), inner.begin(), inner.end());
    } else {
      v.push_back(x.number());
    }
  }
  return v;
}
td mat(const io::json& a, const shape& s) { return td::from(flat(a), s); }
double max_err(const std::vector<double>& a, const std::vector<double>& b) {
  BOOST_REQUIRE(a.size() == b.size());
  double e = 0;
  for (std::size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(a[i] - b[i]));
  return e;
}
td randn(const shape& s, std::uint64_t seed) {
  rng g(seed);
  return td::random(s, g, {distribution::normal, 0, 1});
}
td spd(index_t d, std::uint64_t seed) {
  const auto a = randn({d, d}, seed);
  return (matmul(constant(a), constant(a), false, true) + linalg::identity<double, host>(d) * 0.1).value();
}
bool finite(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

}  // namespace losses_test

BOOST_AUTO_TEST_SUITE(losses_suite)
using namespace losses_test;

BOOST_AUTO_TEST_CASE(w2_closed_forms) {
  const index_t D = 4;
  const auto mu1 = constant(randn({D}, 1)), mu2 = constant(randn({D}, 2));
  const auto s1 = constant(spd(D, 3)), s2 = constant(spd(D, 4));
  for (auto method : {distances::sqrtm_method::eig, distances::sqrtm_method::newton_schulz}) {
    const distances::w2_options o{.method = method, .newton_schulz_iterations = 30};
    // Identical Gaussians: 0. Symmetric.
    BOOST_TEST(std::abs(distances::gaussian_w2(mu1, s1, mu1, s1, o).item()) < 1e-6);
    BOOST_TEST(std::abs(distances::gaussian_w2(mu1, s1, mu2, s2, o).item() -
                        distances::gaussian_w2(mu2, s2, mu1, s1, o).item()) < 1e-6);
  }
  // Diagonal inputs: the full and diagonal forms agree.
  const auto v1 = constant(td::from(std::vector<double>{0.5, 2, 1, 3}, {4})),
             v2 = constant(td::from(std::vector<double>{1, 1, 4, 0.25}, {4}));
  auto diag = [&](const vd& v) { return v.value().reshape({1, 4}); };
  const auto d1 = constant(apply(fn::mul{}, diag(v1), linalg::identity<double, host>(4).value()));
  const auto d2 = constant(apply(fn::mul{}, diag(v2), linalg::identity<double, host>(4).value()));
  const double full = distances::gaussian_w2(mu1, d1, mu2, d2).item();
  BOOST_TEST(std::abs(full - distances::gaussian_w2_diagonal(mu1, v1, mu2, v2).item()) < 1e-10);
  // Commuting covariances (S2 = S1²): ‖S1^½ − S2^½‖²_F; with S1 = I: ‖S2^½ − I‖²_F.
  const auto s1sq = matmul(s1, s1);
  const auto r1 = linalg::sqrtm_eig(s1);
  const double want = sum(square(r1 - s1)).item();
  BOOST_TEST(std::abs(distances::gaussian_w2(mu1, s1, mu1, s1sq).item() - want) < 1e-8 * (1 + want));
  const auto I = linalg::identity<double, host>(D);
  const double want_i = sum(square(linalg::sqrtm_eig(s2) - I)).item();
  BOOST_TEST(std::abs(distances::gaussian_w2(mu1, I, mu1, s2).item() - want_i) < 1e-8 * (1 + want_i));
}

BOOST_AUTO_TEST_CASE(w2_matches_scipy_and_pytorch) {
  const auto& r = ref().at("w2_full");
  const auto mu1 = parameter(mat(r.at("mu1"), {4})), mu2 = parameter(mat(r.at("mu2"), {4}));
  const auto s1 = parameter(mat(r.at("cov1"), {4, 4})), s2 = parameter(mat(r.at("cov2"), {4, 4}));
  for (auto method : {distances::sqrtm_method::eig, distances::sqrtm_method::newton_schulz}) {
    BOOST_TEST_CONTEXT("method " << int(method)) {
      const auto w = distances::gaussian_w2(mu1, s1, mu2, s2, {.method = method, .newton_schulz_iterations = 40});
      BOOST_TEST(std::abs(w.item() - r.at("value").number()) < 1e-8);
      const auto g = grad(std::vector{w}, std::vector{mu1, s1, s2});
      BOOST_TEST(max_err(g[0].value().to_vector(), flat(r.at("grad_mu1"))) < 1e-8);
      // Symmetric gradients (our square roots read the symmetric part).
      const auto sym = [](const vd& x) { return ((x + transpose(x)) * 0.5).value().to_vector(); };
      BOOST_TEST(max_err(sym(g[1]), flat(r.at("grad_cov1"))) < 1e-6);
      BOOST_TEST(max_err(sym(g[2]), flat(r.at("grad_cov2"))) < 1e-6);
    }
  }
  const auto& sr = ref().at("w2_samples");
  const auto x1 = constant(mat(sr.at("x1"), {6, 3})), x2 = constant(mat(sr.at("x2"), {5, 3}));
  BOOST_TEST(std::abs(distances::gaussian_w2_samples(x1, x2).item() - sr.at("value").number()) < 1e-8);
  // The cross-Gram form equals the full form on the fitted Gaussians; the diagonal form on
  // diagonal fits.
  const auto a = distances::fit_gaussian(x1), b = distances::fit_gaussian(x2);
  BOOST_TEST(std::abs(distances::gaussian_w2(a.mean, a.covariance, b.mean, b.covariance).item() -
                      sr.at("value").number()) < 1e-8);
  const auto ad = distances::fit_gaussian(x1, true), bd = distances::fit_gaussian(x2, true);
  BOOST_TEST(std::abs(distances::gaussian_w2_samples(x1, x2, distances::covariance_form::diagonal).item() -
                      distances::gaussian_w2_diagonal(ad.mean, ad.covariance, bd.mean, bd.covariance).item()) < 1e-12);
}

BOOST_AUTO_TEST_CASE(sqrtm_on_ill_conditioned_and_rank_deficient_inputs) {
  for (const auto& c : ref().at("sqrtm").items()) {
    const auto a = parameter(mat(c.at("a"), {4, 4}));
    const auto want = flat(c.at("sqrt"));
    const auto e = linalg::sqrtm_eig(a);
    BOOST_TEST(max_err(e.value().to_vector(), want) < 1e-6);
    const auto g = grad(std::vector{sum(e)}, std::vector{a})[0].value().to_vector();
    BOOST_TEST(finite(g));
    const auto ns = linalg::sqrtm_newton_schulz(a, {.iterations = 30, .eps = 0});
    BOOST_TEST(finite(ns.value().to_vector()));
    BOOST_TEST(finite(grad(std::vector{sum(ns)}, std::vector{a})[0].value().to_vector()));
  }
  // Nuclear norm: singular values of diag(3, 4) rotated are 3 and 4; of a rank-1 matrix, its norm.
  const auto rot = constant(td::from(std::vector<double>{0.6, -0.8, 0.8, 0.6}, {2, 2}));
  const auto dm = constant(td::from(std::vector<double>{3, 0, 0, 4}, {2, 2}));
  BOOST_TEST(std::abs(linalg::nuclear_norm(matmul(rot, dm)).item() - 7) < 1e-12);
  const auto r1 = parameter(td::from(std::vector<double>{1, 2, 3, 2, 4, 6}, {2, 3}));
  BOOST_TEST(std::abs(linalg::nuclear_norm(r1).item() - std::sqrt(70.0)) < 1e-12);
  BOOST_TEST(finite(grad(std::vector{linalg::nuclear_norm(r1)}, std::vector{r1})[0].value().to_vector()));
  // A batch covariance with n < D (many zero eigenvalues): W2 from samples stays finite, with
  // finite gradients.
  const auto x1 = parameter(randn({3, 10}, 5)), x2 = parameter(randn({4, 10}, 6));
  const auto w = distances::gaussian_w2_samples(x1, x2);
  BOOST_TEST(std::isfinite(w.item()));
  for (const auto& g : grad(std::vector{w}, std::vector{x1, x2})) BOOST_TEST(finite(g.value().to_vector()));
}

BOOST_AUTO_TEST_CASE(losses_match_references) {
  const auto& c = ref().at("contrastive");
  const auto d = constant(mat(c.at("d"), {8}));
  BOOST_TEST(std::abs(losses::large_margin_contrastive(d, mat(c.at("same"), {8}), c.at("margin").number()).item() -
                      c.at("value").number()) < 1e-12);
  // Pairwise: 3 items, labels 0 0 1: pairs (0,1) same, (0,2), (1,2) different.
  const auto dm = constant(td::from(std::vector<double>{0, 0.5, 0.2, 0, 0, 1.5, 0, 0, 0}, {3, 3}));
  BOOST_TEST(std::abs(losses::pairwise_contrastive(dm, {0, 0, 1}, 1.0).item() - (0.5 + 0.8 + 0.0) / 3) < 1e-12);

  const auto& k = ref().at("cosine_distill");
  const auto s = parameter(mat(k.at("student"), {3, 5}));
  const auto cd = losses::cosine_distill(mat(k.at("teacher"), {3, 5}), s);
  BOOST_TEST(std::abs(cd.item() - k.at("value").number()) < 1e-12);
  BOOST_TEST(max_err(grad(std::vector{cd}, std::vector{s})[0].value().to_vector(), flat(k.at("grad_student"))) < 1e-10);

  const auto& fd = ref().at("feature_distill");
  const auto f0 = parameter(mat(fd.at("fake_stages").items()[0], {2, 3, 2, 2})),
             f1 = constant(mat(fd.at("fake_stages").items()[1], {2, 4}));
  const auto ffin = parameter(mat(fd.at("fake_final"), {2, 5}));
  const auto fdl = losses::feature_distill(std::vector{f0, f1},
                                           std::vector{constant(mat(fd.at("real_stages").items()[0], {2, 3, 2, 2})),
                                                       constant(mat(fd.at("real_stages").items()[1], {2, 4}))},
                                           ffin, constant(mat(fd.at("real_final"), {2, 5})),
                                           {.stage_weights = {1.0, 0.5}, .final_weight = 10});
  BOOST_TEST(std::abs(fdl.item() - fd.at("value").number()) < 1e-12);
  const auto fg = grad(std::vector{fdl}, std::vector{f0, ffin});
  BOOST_TEST(max_err(fg[0].value().to_vector(), flat(fd.at("grad_fake_stage0"))) < 1e-10);
  BOOST_TEST(max_err(fg[1].value().to_vector(), flat(fd.at("grad_fake_final"))) < 1e-10);

  const auto& p = ref().at("gradient_penalty");
  const auto W1 = parameter(mat(p.at("W1"), {3, 5})), b1 = parameter(mat(p.at("b1"), {5})),
             w2 = parameter(mat(p.at("w2"), {5, 1}));
  const auto critic = [&](const vd& x) { return matmul(tanh(matmul(x, W1) + b1), w2); };
  const auto gp = losses::gradient_penalty(critic, mat(p.at("points"), {4, 3}));
  BOOST_TEST(std::abs(gp.item() - p.at("value").number()) < 1e-10);
  const auto gs = grad(std::vector{gp}, std::vector{W1, b1, w2});
  BOOST_TEST(max_err(gs[0].value().to_vector(), flat(p.at("grad_W1"))) < 1e-9);
  BOOST_TEST(max_err(gs[1].value().to_vector(), flat(p.at("grad_b1"))) < 1e-9);
  BOOST_TEST(max_err(gs[2].value().to_vector(), flat(p.at("grad_w2"))) < 1e-9);
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  const auto s = spd(3, 7);
  struct c {
    const char* name;
    testing::checked_fn f;
    std::vector<td> in;
    bool second;
  };
  const std::vector<c> cases = {
      {"w2 full (Newton-Schulz)",
       [](const args& v) {
         return distances::gaussian_w2(
             v[0], v[1], v[2], v[3],
             {.method = distances::sqrtm_method::newton_schulz, .newton_schulz_iterations = 30});
       },
       {randn({3}, 8), s, randn({3}, 9), spd(3, 10)},
       true},
      {"w2 full (eig)",
       [](const args& v) { return distances::gaussian_w2(v[0], v[1], v[2], v[3]); },
       {randn({3}, 11), s, randn({3}, 12), spd(3, 13)},
       false},
      {"w2 diagonal",
       [](const args& v) { return distances::gaussian_w2_diagonal(v[0], v[1], v[2], v[3]); },
       {randn({4}, 14), apply(fn::add_scalar<double>{3}, randn({4}, 15)), randn({4}, 16),
        apply(fn::add_scalar<double>{3}, randn({4}, 17))},
       true},  // variances > 0
      {"w2 samples (cross-Gram)",
       [](const args& v) { return distances::gaussian_w2_samples(v[0], v[1]); },
       {randn({5, 3}, 18), randn({4, 3}, 19)},
       false},
      {"fit_gaussian",
       [](const args& v) { return distances::fit_gaussian(v[0]).covariance; },
       {randn({5, 3}, 20)},
       true},
      {"contrastive",
       [](const args& v) {
         return losses::large_margin_contrastive(v[0], td::from(std::vector<double>{1, 0, 0, 1}, {4}), 1.0);
       },
       {td::from(std::vector<double>{0.3, 0.4, 1.7, 2.0}, {4})},
       true},
      {"cosine_distill",
       [](const args& v) {
         return losses::cosine_distill(randn({2, 4}, 21), v[0]);
       },
       {randn({2, 4}, 22)},
       true},
      {"feature_distill",
       [](const args& v) {
         return losses::feature_distill(std::vector{v[0]}, std::vector{constant(randn({2, 2, 2, 2}, 23))}, v[1],
                                        constant(randn({2, 3}, 24)));
       },
       {randn({2, 2, 2, 2}, 25), randn({2, 3}, 26)},
       true},
      {"l1", [](const args& v) { return losses::l1(v[0], v[1]); }, {randn({3, 2}, 27), randn({3, 2}, 28)}, false},
      {"cross_entropy",
       [](const args& v) {
         return losses::cross_entropy(v[0], {2, 0, 1});
       },
       {randn({3, 4}, 33)},
       true},
  };
  for (const auto& t : cases) {
    BOOST_TEST_CONTEXT(t.name) {
      const auto r = testing::gradcheck(t.f, t.in, {.second_order = t.second});
      BOOST_TEST(r.passed, r.message);
    }
  }
  // The gradient penalty's parameter gradient on a small critic, by finite differences.
  const auto pts = randn({3, 2}, 29);
  const auto r = testing::gradcheck(
      [&](const args& v) {
        const auto critic = [&](const vd& x) { return matmul(tanh(matmul(x, v[0]) + v[1]), v[2]); };
        return losses::gradient_penalty(critic, pts);
      },
      {randn({2, 4}, 30), randn({4}, 31), randn({4, 1}, 32)});
  BOOST_TEST(r.passed, "gradient penalty: " << r.message);
}

BOOST_AUTO_TEST_CASE(cross_entropy_values_and_errors) {
  // Row (0, ln 3): softmax (1/4, 3/4); label 1 costs ln(4/3), label 0 costs ln 4.
  const auto logits = td::from({0, std::log(3.0), 5, 5}, {2, 2});
  const auto ce = losses::cross_entropy(constant(logits), {1, 0}).item();
  BOOST_TEST(std::abs(ce - 0.5 * (std::log(4.0 / 3.0) + std::log(2.0))) < 1e-14);
  // Large logits stay finite (log-softmax, not log of softmax).
  const auto big = td::from({1000, -1000}, {1, 2});
  BOOST_TEST(std::abs(losses::cross_entropy(constant(big), {1}).item() - 2000) < 1e-9);
  BOOST_CHECK_THROW(losses::cross_entropy(constant(logits), {0, 2}), value_error);
  BOOST_CHECK_THROW(losses::cross_entropy(constant(logits), {0}), shape_error);
  BOOST_CHECK_THROW(losses::cross_entropy(constant(td::zeros({2})), {0, 1}), shape_error);
}

BOOST_AUTO_TEST_CASE(wgan_losses_and_weighting) {
  const auto W = parameter(randn({3, 1}, 33));
  const auto critic = [&](const vd& x) { return matmul(x, W); };  // linear: ‖∇D‖ = ‖W‖ everywhere
  rng g(34);
  const auto real = constant(randn({5, 3}, 35)), fake = constant(randn({5, 3}, 36));
  const auto r = losses::wgan_critic(critic, real, fake, g, {.lambda = 10, .drift = 0.001});
  const double wn = std::sqrt(sum(square(W)).item());
  BOOST_TEST(std::abs(r.gradient_penalty.item() - (wn - 1) * (wn - 1)) < 1e-10);
  const double dr = mean(critic(real)).item(), df = mean(critic(fake)).item();
  BOOST_TEST(std::abs(r.wasserstein.item() - (dr - df)) < 1e-12);
  BOOST_TEST(std::abs(r.loss.item() -
                      (df - dr + 10 * (wn - 1) * (wn - 1) + 0.001 * mean(square(critic(real))).item())) < 1e-10);
  BOOST_TEST(std::abs(losses::wgan_generator(critic, fake).item() + df) < 1e-12);

  const auto w1 = train::exponential_weighting(1, 5);
  BOOST_TEST(std::abs(w1.biject - 0.001 * std::exp(4.0)) < 1e-12);
  BOOST_TEST(std::abs(w1.adversarial - std::exp(1.0)) < 1e-12);
  const auto w5 = train::exponential_weighting(5, 5);
  BOOST_TEST(w5.distill == 1.0);
  BOOST_TEST(w5.recon == 1.0);
  const auto half = train::exponential_weighting(2.5, 5);  // during a fade-in
  BOOST_TEST(std::abs(half.distill - std::exp(2.5)) < 1e-12);
  BOOST_CHECK_THROW(train::exponential_weighting(0, 5), value_error);
  BOOST_CHECK_THROW(distances::gaussian_w2(constant(td::zeros({3})), constant(td::zeros({3, 2})),
                                           constant(td::zeros({3})), constant(td::zeros({3, 3}))),
                    shape_error);
}

BOOST_AUTO_TEST_CASE(one_algorithm_for_numbers_eigen_and_var) {
  static_assert(algebra::matrix_algebra<double> && algebra::matrix_algebra<Eigen::MatrixXd> &&
                algebra::matrix_algebra<vd>);
  static_assert(algebra::vector_space<Eigen::VectorXd> && !algebra::vector_space<int>);
  // 1-D Gaussians: (μ1 − μ2)² + (σ1 − σ2)².
  BOOST_TEST(std::abs(distances::gaussian_w2(1.0, 4.0, -1.0, 9.0) - (4.0 + 1.0)) < 1e-12);
  BOOST_TEST(std::abs(distances::gaussian_w2_diagonal(1.0, 4.0, -1.0, 9.0) - 5.0) < 1e-12);
  // Eigen in double equals var in double on the reference inputs.
  const auto& r = ref().at("w2_full");
  const auto to_eigen = [](const std::vector<double>& v, index_t rows, index_t cols) {
    Eigen::MatrixXd m(rows, cols);
    for (index_t i = 0; i < rows; ++i)
      for (index_t j = 0; j < cols; ++j) m(i, j) = v[static_cast<std::size_t>(i * cols + j)];
    return m;
  };
  const Eigen::MatrixXd m1 = to_eigen(flat(r.at("mu1")), 4, 1), m2 = to_eigen(flat(r.at("mu2")), 4, 1);
  const Eigen::MatrixXd c1 = to_eigen(flat(r.at("cov1")), 4, 4), c2 = to_eigen(flat(r.at("cov2")), 4, 4);
  BOOST_TEST(std::abs(distances::gaussian_w2(m1, c1, m2, c2) - r.at("value").number()) < 1e-10);
  const Eigen::MatrixXd v1 = c1.diagonal(), v2 = c2.diagonal();
  const double eig_diag = distances::gaussian_w2_diagonal(m1, v1, m2, v2);
  const auto var_diag = distances::gaussian_w2_diagonal(
      constant(mat(r.at("mu1"), {4})), constant(td::from(std::vector<double>(v1.data(), v1.data() + 4), {4})),
      constant(mat(r.at("mu2"), {4})), constant(td::from(std::vector<double>(v2.data(), v2.data() + 4), {4})));
  BOOST_TEST(std::abs(eig_diag - var_diag.item()) < 1e-12);
}

BOOST_AUTO_TEST_CASE(bijective_metric_pulls_identities_together_and_pushes_others_apart) {
  // With H the identity map and perfect reconstructions, positives vanish; the negatives'
  // hinge is what remains (identities far apart: zero; close: positive).
  const auto h = [](const vd& x) { return x; };
  const std::vector<int> labels{0, 0, 0, 1, 1, 1};
  auto real = randn({6, 2, 2}, 40);
  const auto far = apply(
      fn::add{}, real,
      td::from(std::vector<double>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, {6, 2, 2}));
  BOOST_TEST(losses::bijective_metric(h, constant(far), constant(far), labels).item() == 0.0);
  const auto close = losses::bijective_metric(h, constant(real), constant(real), labels, {.margin = 100});
  BOOST_TEST(close.item() > 0);
  // Positive term alone: reconstructions shifted by 1 in every dimension give ‖Δμ‖² = 4.
  const auto shifted = apply(fn::add_scalar<double>{1}, far);
  const auto l = losses::bijective_metric(h, constant(far), constant(shifted), labels, {.margin = 0});
  BOOST_TEST(std::abs(l.item() - (4 + 4) / 4.0) < 1e-9);  // 2 positives of 4 each, 2 negatives at 0, over 4 terms
  const auto r = testing::gradcheck(
      [&](const args& v) { return losses::bijective_metric(h, constant(far), v[0], labels, {.margin = 0}); },
      {randn({6, 2, 2}, 41)});
  BOOST_TEST(r.passed, r.message);
  BOOST_CHECK_THROW(losses::bijective_metric(h, constant(far), constant(far), {0, 1, 2, 3, 4, 5}), value_error);
}

BOOST_AUTO_TEST_SUITE_END()
