// Models and adversarial training: output shapes at every progressive stage, fade-in at
// alpha 0 equal to the previous stage upsampled, finite-difference gradients of tiny
// generators and critics (second order for the critics: the gradient penalty differentiates
// their input gradient), the stage schedule, identity-balanced batches, the CSV log, exact
// resume of fit_gan, the student's distillation, and MS-SSIM closed forms.
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/engines/whitebox.hpp>
#include <bijgan/eval/latent_view.hpp>
#include <bijgan/eval/reconstruction.hpp>
#include <bijgan/eval/verification.hpp>
#include <bijgan/models/models.hpp>
#include <bijgan/testing/module_check.hpp>
#include <bijgan/train/adversarial.hpp>
#include <bijgan/train/classifier.hpp>
#include <bijgan/train/student.hpp>
#include <bijgan/train/student_refresh.hpp>

#include "../support/tiny_gan.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

using namespace bijgan;

namespace gan_test {

constexpr models::gan_config tiny = test_support::tiny_gan;
constexpr models::gan_config small{.channels = 1,
                                   .resolution = 16,
                                   .feature_dim = 10,
                                   .noise_dim = 4,
                                   .width = 8,
                                   .mapping_layers = 2,
                                   .style_dim = 8,
                                   .embed = 32,
                                   .heads = 2,
                                   .bicubic_stages = 2,
                                   .critic_patch = 2,
                                   .critic_embed = 16};

tensor<double> randn(const shape& s, std::uint64_t seed) {
  rng g(seed);
  return tensor<double>::random(s, g, {distribution::normal, 0, 1});
}
tensor<float> randnf(const shape& s, std::uint64_t seed) {
  rng g(seed);
  return tensor<float>::random(s, g, {distribution::normal, 0, 1});
}
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0;
  for (std::size_t i = 0; i < a.size(); ++i) e = std::max(e, double(std::abs(a[i] - b[i])));
  return e;
}

/// Shapes at each stage and the fade-in: at alpha = 0 stage s equals stage s − 1 upsampled.
template <class G>
void check_progressive_generator(G& g, const char* name) {
  constexpr index_t n = 4;
  const auto f = constant(randnf({n, G::feature_dim}, 1));
  const auto v = constant(randnf({n, std::max<index_t>(G::noise_dim, 1)}, 2));
  const no_grad off;
  for (int s = 1; s <= g.stages(); ++s) {
    g.set_stage(s, 1);
    const auto x = g(f, v).value();
    const index_t r = index_t{4} << (s - 1);
    BOOST_TEST((x.shape() == shape{n, G::image_shape[0], r, r}), name << " stage " << s << ": " << x.shape());
    const auto xv = x.to_vector();
    BOOST_TEST(std::all_of(xv.begin(), xv.end(), [](float e) { return e >= 0 && e <= 1; }),
               name << ": values in [0, 1]");
    if (s > 1) {
      g.set_stage(s - 1, 1);
      const auto before = upsample(g(f, v), 2).value().to_vector();
      g.set_stage(s, 0);
      BOOST_TEST(max_abs_diff(g(f, v).value().to_vector(), before) < 1e-6, name << ": fade-in at alpha 0, stage " << s);
      g.set_stage(s, 1);
    }
  }
  BOOST_CHECK_THROW(g.set_stage(0, 1), value_error);
  BOOST_CHECK_THROW(g.set_stage(g.stages() + 1, 1), value_error);
  BOOST_CHECK_THROW(g.set_stage(1, 1.5), value_error);
  BOOST_CHECK_THROW(g(constant(randnf({n, G::feature_dim + 1}, 3)), v), shape_error);
}

}  // namespace gan_test

BOOST_AUTO_TEST_SUITE(gan_suite)

using namespace gan_test;

BOOST_AUTO_TEST_CASE(generators_grow_by_stages_and_fade_in) {
  static_assert(feature_generator<models::dibigan<small>::generator<>> &&
                feature_generator<models::dabgan<small>::generator<>> &&
                feature_generator<models::po_gan<small>::generator<>>);
  static_assert(critic<models::dibigan<small>::critic<>> && critic<models::dabgan<small>::critic<>>);
  static_assert(progressive<models::dibigan<small>::generator<>> && !progressive<models::dabgan<small>::critic<>>);
  static_assert(!feature_generator<nn::linear<float>> && !critic<int>);
  static_assert(staged_network<engines::lenet<>> && staged_network<models::student<models::student_config{}>>);
  static_assert(models::po_gan<small>::generator<>::noise_dim == 0);
  nn::manual_seed(5);
  models::dibigan<small>::generator<> a;
  models::po_gan<small>::generator<> b;
  models::dabgan<small>::generator<> c;
  check_progressive_generator(a, "dibigan");
  check_progressive_generator(b, "po_gan");
  check_progressive_generator(c, "dabgan");
  // DiBiGAN's output depends on v; PO-GAN's does not.
  const no_grad off;
  const auto f = constant(randnf({4, small.feature_dim}, 1));
  const auto v1 = constant(randnf({4, small.noise_dim}, 2)), v2 = constant(randnf({4, small.noise_dim}, 3));
  BOOST_TEST(max_abs_diff(a(f, v1).value().to_vector(), a(f, v2).value().to_vector()) > 1e-4);
  BOOST_TEST(max_abs_diff(c(f, v1).value().to_vector(), c(f, v2).value().to_vector()) > 1e-4);
  BOOST_TEST(max_abs_diff(b(f, v1).value().to_vector(), b(f, v2).value().to_vector()) == 0.0);
}

BOOST_AUTO_TEST_CASE(critics_score_every_stage_and_reject_wrong_sizes) {
  nn::manual_seed(6);
  models::dibigan<small>::critic<> d;
  models::dabgan<small>::critic<> t;
  const no_grad off;
  for (int s = 1; s <= d.stages(); ++s) {
    d.set_stage(s, s > 1 ? 0.5 : 1);
    const index_t r = index_t{4} << (s - 1);
    BOOST_TEST((d(constant(randnf({8, 1, r, r}, 7))).shape() == shape{8, 1}));
    BOOST_CHECK_THROW(d(constant(randnf({8, 1, 2 * r, 2 * r}, 7))), shape_error);
  }
  BOOST_TEST((t(constant(randnf({4, 1, 16, 16}, 8))).shape() == shape{4, 1}));
  BOOST_CHECK_THROW(t(constant(randnf({4, 1, 8, 8}, 8))), shape_error);
  // Minibatch-stddev makes a critic's score of one image depend on the others in its group.
  d.set_stage(d.stages(), 1);
  auto batch = randnf({4, 1, 16, 16}, 9).to_vector();
  const auto s1 = d(constant(tensor<float>::from(batch, {4, 1, 16, 16}))).value().to_vector();
  for (std::size_t i = 256; i < batch.size(); ++i) batch[i] *= 3;
  const auto s2 = d(constant(tensor<float>::from(batch, {4, 1, 16, 16}))).value().to_vector();
  BOOST_TEST(std::abs(s1[0] - s2[0]) > 1e-6);
}

BOOST_AUTO_TEST_CASE(gradient_penalty_through_tiled_attention_equals_composed) {
  // A TransGAN critic with grid attention (8x8 tokens in 4x4 windows, relative position bias)
  // and global attention after pooling: the WGAN-GP critic loss and every parameter gradient
  // through the tiled attention (double backprop through its composed create_graph path) equal
  // those of the composed ops.
  constexpr models::gan_config windowed{.channels = 1,
                                        .resolution = 16,
                                        .feature_dim = 10,
                                        .noise_dim = 4,
                                        .width = 8,
                                        .mapping_layers = 2,
                                        .style_dim = 8,
                                        .embed = 32,
                                        .heads = 2,
                                        .window = 4,
                                        .bicubic_stages = 2,
                                        .critic_patch = 2,
                                        .critic_embed = 16};
  nn::manual_seed(21);
  models::dabgan<windowed>::critic<> d;
  const auto real = constant(randnf({4, 1, 16, 16}, 22)), fake = constant(randnf({4, 1, 16, 16}, 23));
  const auto step = [&](bool reference) {
    std::optional<reference_attention> scope;
    if (reference) scope.emplace();
    rng gen(24);
    for (const auto& p : nn::parameters(d)) p.zero_grad();
    const auto r = losses::wgan_critic(d, real, fake, gen);
    backward(r.loss);
    std::vector<float> out{r.loss.item(), r.gradient_penalty.item()};
    for (const auto& p : nn::parameters(d)) {
      const auto g = p.grad().to_vector();
      out.insert(out.end(), g.begin(), g.end());
    }
    return out;
  };
  const auto tiled = step(false), composed = step(true);
  BOOST_REQUIRE_EQUAL(tiled.size(), composed.size());
  double scale = 0;
  for (float x : composed) scale = std::max(scale, double(std::abs(x)));
  BOOST_TEST(composed[1] > 0.0f);  // the penalty is active
  BOOST_TEST(max_abs_diff(tiled, composed) <= 1e-5 * (1 + scale), max_abs_diff(tiled, composed) << " of " << scale);
}

BOOST_AUTO_TEST_CASE(dabgan_bilinear_rgb_skip) {
  // bilinear_rgb: the running to-RGB sum is upsampled bilinearly, so at alpha 0 a new stage
  // shows the previous stage's pre-tanh sum upsampled bilinearly (nearest by default: the
  // fade-in test above), and no flat blocks remain.
  constexpr auto smooth_cfg = [] {
    auto c = small;
    c.bilinear_rgb = true;
    return c;
  }();
  nn::manual_seed(9);
  models::dabgan<smooth_cfg>::generator<> g;
  const auto f = constant(randnf({3, small.feature_dim}, 1));
  const auto v = constant(randnf({3, small.noise_dim}, 2));
  {
    const no_grad off;
    g.set_stage(2, 1);
    const auto before = g(f, v).value().to_vector();  // (3, 1, 8, 8) in (0, 1)
    std::vector<float> pre(before.size());
    for (std::size_t i = 0; i < pre.size(); ++i) pre[i] = std::atanh(2 * before[i] - 1);
    const auto up = upsample(constant(tensor<float>::from(pre, {3, 1, 8, 8})), 2, interpolation::bilinear).value();
    auto want = up.to_vector();
    for (auto& e : want) e = (std::tanh(e) + 1) / 2;
    g.set_stage(3, 0);
    BOOST_TEST(max_abs_diff(g(f, v).value().to_vector(), want) < 1e-5);
  }
  // Gradients through the bilinear skip, mid fade-in.
  nn::manual_seed(10);
  constexpr auto tiny_smooth = [] {
    auto c = tiny;
    c.bilinear_rgb = true;
    return c;
  }();
  models::dabgan<tiny_smooth>::generator<double> gd;
  gd.set_stage(2, 0.5);
  const auto r = testing::module_gradcheck(
      gd, {randn({2, 6}, 5), randn({2, 3}, 6)},
      [](const auto& m, const std::vector<var<double>>& x) { return m(x[0], x[1]); }, {.max_elements_per_input = 12});
  BOOST_TEST(r.passed, "dabgan generator, bilinear_rgb: " << r.message);
}

BOOST_AUTO_TEST_CASE(tiny_models_pass_gradcheck) {
  using testing::module_gradcheck;
  // Every weight tensor is checked at up to 12 strided elements (all of the small ones).
  const testing::gradcheck_options sampled{.max_elements_per_input = 12};
  nn::manual_seed(7);
  {
    models::dibigan<tiny>::generator<double> g;
    g.set_stage(2, 0.5);
    const auto r = module_gradcheck(
        g, {randn({2, 6}, 1), randn({2, 3}, 2)},
        [](const auto& m, const std::vector<var<double>>& x) { return m(x[0], x[1]); }, sampled);
    BOOST_TEST(r.passed, "dibigan generator: " << r.message);
  }
  {
    models::po_gan<tiny>::generator<double> g;
    const auto r = module_gradcheck(
        g, {randn({2, 6}, 3), randn({2, 1}, 4)},
        [](const auto& m, const std::vector<var<double>>& x) { return m(x[0], x[1]); }, sampled);
    BOOST_TEST(r.passed, "po_gan generator: " << r.message);
  }
  {
    models::dabgan<tiny>::generator<double> g;
    g.set_stage(2, 0.5);
    const auto r = module_gradcheck(
        g, {randn({2, 6}, 5), randn({2, 3}, 6)},
        [](const auto& m, const std::vector<var<double>>& x) { return m(x[0], x[1]); }, sampled);
    BOOST_TEST(r.passed, "dabgan generator: " << r.message);
  }
  {
    models::dibigan<tiny>::critic<double> d;
    d.set_stage(2, 0.5);
    const auto r = module_gradcheck(d, {randn({4, 1, 8, 8}, 7)},
                                    [](const auto& m, const std::vector<var<double>>& x) { return m(x[0]); },
                                    {.second_order = true, .max_elements_per_input = 12});
    BOOST_TEST(r.passed, "cnn critic: " << r.message);
  }
  {
    models::dabgan<tiny>::critic<double> d;
    const auto r = module_gradcheck(d, {randn({2, 1, 8, 8}, 8)},
                                    [](const auto& m, const std::vector<var<double>>& x) { return m(x[0]); },
                                    {.second_order = true, .max_elements_per_input = 12});
    BOOST_TEST(r.passed, "transformer critic: " << r.message);
  }
}

BOOST_AUTO_TEST_CASE(stage_schedule_and_balanced_batches) {
  // 4 stages of 10 steps with 4-step fades: R(i) climbs 1 → 4 and stays.
  BOOST_TEST(train::stage_at(0, 10, 4, 4).r() == 1.0);
  BOOST_TEST(train::stage_at(9, 10, 4, 4).r() == 1.0);
  BOOST_TEST(train::stage_at(10, 10, 4, 4).stage == 2);
  BOOST_TEST(train::stage_at(10, 10, 4, 4).alpha == 0.0);
  BOOST_TEST(std::abs(train::stage_at(12, 10, 4, 4).r() - 1.5) < 1e-12);
  BOOST_TEST(train::stage_at(14, 10, 4, 4).r() == 2.0);
  BOOST_TEST(train::stage_at(1000, 10, 4, 4).r() == 4.0);
  BOOST_TEST(train::stage_at(3, 0, 0, 4).r() == 4.0);  // no growing
  // Identity-balanced batches: 4 identities x 3 images, all distinct, same draw for the same seed.
  train::gan_data d{tensor<float>::zeros({30, 1, 4, 4}), tensor<float>::zeros({30, 2}), {}};
  std::map<int, std::vector<index_t>> by;
  for (int i = 0; i < 30; ++i) {
    d.labels.push_back(i % 6 == 5 ? 99 : i % 5);  // identity 99 has 5 images, 0..4 have 5 each
    by[d.labels.back()].push_back(i);
  }
  const auto rows = train::detail::draw_batch(d, 12, 3, 42, by);
  BOOST_TEST(rows.size() == 12u);
  std::map<int, int> count;
  for (auto r : rows) ++count[d.labels[static_cast<std::size_t>(r)]];
  BOOST_TEST(count.size() == 4u);
  for (const auto& [id, c] : count) BOOST_TEST(c == 3, "identity " << id);
  BOOST_TEST(std::set<index_t>(rows.begin(), rows.end()).size() == 12u);
  BOOST_TEST(rows == train::detail::draw_batch(d, 12, 3, 42, by), boost::test_tools::per_element());
  BOOST_CHECK_THROW(train::detail::draw_batch(d, 12, 6, 42, by), value_error);  // nobody has 6 images
}

BOOST_AUTO_TEST_CASE(fit_gan_resumes_exactly_and_logs) {
  namespace fs = std::filesystem;
  // 24 images of 8x8 in 3 classes, features = a fixed projection of the images.
  auto imgs = randnf({24, 1, 8, 8}, 11).to_vector();
  for (auto& v : imgs) v = 1 / (1 + std::exp(-v));
  const auto images = tensor<float>::from(imgs, {24, 1, 8, 8});
  const auto proj = randnf({64, 6}, 12);
  const auto features = matmul(constant(images.reshape({24, 64})), constant(proj)).value();
  std::vector<int> labels;
  for (int i = 0; i < 24; ++i) labels.push_back(i % 3);
  const train::gan_data data{images, features, labels};
  // H: a small flow on 8x8; distiller: a student on 8x8.
  const auto make_flow = [] {
    nn::manual_seed(13);
    return flows::logit_transform<float>{} |
           flows::realnvp_multiscale<float>(
               {.channels = 1, .height = 8, .width = 8, .scales = 2, .blocks = 1, .features = 4});
  };
  const auto flow = make_flow();
  nn::manual_seed(14);
  models::student<models::student_config{.channels = 1, .resolution = 8, .feature_dim = 6, .width = 4, .stages = 2}>
      distiller;
  nn::eval(distiller);

  train::gan_options o;
  o.steps = 6, o.batch = 12, o.n_critic = 2, o.steps_per_stage = 2, o.fade_steps = 1, o.per_identity = 4,
  o.clip_norm = 5;
  std::ostringstream quiet;
  o.log = &quiet;
  o.checkpoint_every = 0;
  const auto make = [] {
    nn::manual_seed(15);
    return std::pair{models::dibigan<tiny>::generator<>{}, models::dibigan<tiny>::critic<>{}};
  };
  auto [g1, d1] = make();
  o.checkpoint = fs::temp_directory_path() / "bijgan_gan_whole.safetensors";
  const auto csv = fs::temp_directory_path() / "bijgan_gan_log.csv";
  fs::remove(csv);
  auto ema1 = g1;
  const auto grid = fs::temp_directory_path() / "bijgan_gan_grid";
  const auto parts = [&](auto& g, auto& d) { return train::gan(g, d).with_bijection(flow).with_distiller(distiller); };
  const auto a = train::fit_gan(
      parts(g1, d1).with_ema_output(ema1), data, o,
      {train::csv_log(csv), train::png_grid(grid, 3, images.slice_rows(0, 2), features.slice_rows(0, 2))});
  BOOST_TEST(a.steps == 6);
  BOOST_TEST(!a.last.reconstruct);  // it referred to the call's EMA
  // The grids at steps 3 and 6: 2 rows x (real + 5 reconstructions) of 8x8 with 2-pixel padding.
  for (const char* step : {"_3.png", "_6.png"}) {
    auto path = grid;
    path += step;
    BOOST_TEST(io::read_png(path).shape() == (shape{1, 2 * 10 + 2, 6 * 10 + 2}), step);
    fs::remove(path);
  }
  BOOST_CHECK_THROW(train::png_grid(grid, 0, images.slice_rows(0, 2), features.slice_rows(0, 2)), value_error);
  BOOST_CHECK_THROW(train::png_grid(grid, 1, images.slice_rows(0, 2), features.slice_rows(0, 3)), shape_error);
  for (const char* k : {"critic", "gp", "adv", "recon", "distill", "biject"})
    BOOST_TEST(std::isfinite(a.last.values.at(k)), k);

  // Interrupted after 3 steps (mid fade-in of stage 2), resumed in a fresh model pair.
  o.checkpoint = fs::temp_directory_path() / "bijgan_gan_resumed.safetensors";
  fs::remove(o.checkpoint);
  auto [g2, d2] = make();
  o.max_steps = 3;
  train::fit_gan(parts(g2, d2), data, o);
  auto [g3, d3] = make();
  o.max_steps = 0, o.resume = true;
  auto ema3 = g3;
  const auto b = train::fit_gan(parts(g3, d3).with_ema_output(ema3), data, o);
  BOOST_TEST(b.resumed_from == 3);
  const auto same = [](const auto& x, const auto& y) {
    const auto px = nn::parameters(x), py = nn::parameters(y);
    double worst = 0;
    for (std::size_t i = 0; i < px.size(); ++i)
      worst = std::max(worst, max_abs_diff(px[i].value().to_vector(), py[i].value().to_vector()));
    return worst;
  };
  BOOST_TEST(same(g1, g3) == 0.0);
  BOOST_TEST(same(d1, d3) == 0.0);
  BOOST_TEST(same(ema1, ema3) == 0.0);
  BOOST_TEST(same(g1, ema1) > 0.0);  // the EMA lags the trained weights
  // Resuming with other options than the checkpoint recorded is refused, each difference named;
  // allow_option_changes resumes anyway and logs them. Resuming where there is no checkpoint
  // says so and starts at step 0.
  {
    auto [g5, d5] = make();
    auto changed = o;
    changed.lr_generator = 2e-3;
    auto rescaled = train::dabgan_objective();
    rescaled.term<train::reconstruction_term>().scale = 0.5;
    std::string what;
    try {
      train::fit_gan(parts(g5, d5), data, changed, rescaled);
    } catch (const value_error& e) {
      what = e.what();
    }
    BOOST_TEST(what.find("train::fit_gan: cannot resume from") != std::string::npos, what);
    BOOST_TEST(what.find("lr_generator: checkpoint 0.001, this run 0.002") != std::string::npos, what);
    BOOST_TEST(what.find("terms.recon.scale: checkpoint 1, this run 0.5") != std::string::npos, what);
    BOOST_TEST(what.find("lr_critic") == std::string::npos, what);  // only what differs
    changed.allow_option_changes = true;
    std::ostringstream said;
    changed.log = &said;
    BOOST_TEST(train::fit_gan(parts(g5, d5), data, changed, rescaled).resumed_from == 6);
    BOOST_TEST(said.str().find("resuming with changed options") != std::string::npos, said.str());
    changed = o;
    changed.checkpoint = fs::temp_directory_path() / "bijgan_gan_absent.safetensors";
    fs::remove(changed.checkpoint);
    changed.max_steps = 1, changed.log = &said;
    BOOST_TEST(train::fit_gan(parts(g5, d5), data, changed).resumed_from == 0);
    BOOST_TEST(said.str().find("no checkpoint at") != std::string::npos, said.str());
    fs::remove(changed.checkpoint);
  }
  // Training moved the generator.
  auto [g0, d0] = make();
  BOOST_TEST(same(g0, g1) > 0.0);

  // The CSV log: a header and one row per step.
  std::ifstream in(csv);
  std::string header, line;
  std::getline(in, header);
  BOOST_TEST(header.rfind("step,stage,alpha,batch,", 0) == 0u);
  BOOST_TEST(header.find("biject") != std::string::npos);
  int rows = 0;
  while (std::getline(in, line)) ++rows;
  BOOST_TEST(rows == 6);

  // Missing parts and bad data are errors that say what is wrong.
  o.resume = false, o.checkpoint.clear();
  // (A missing H or distiller is a compile-time error: the compile-fail test term_needs_a_slot.)
  const train::objective plain(train::adversarial_term{}, train::reconstruction_term{});
  train::gan_data bad = data;
  bad.labels.pop_back();
  BOOST_CHECK_THROW(train::fit_gan(train::gan(g1, d1), bad, o, plain), shape_error);
  o.per_identity = 5;  // 12 images cannot be 5 per identity
  BOOST_CHECK_THROW(train::fit_gan(train::gan(g1, d1), data, o, plain), value_error);
  o.steps = 1, o.per_identity = 0;
  BOOST_CHECK_NO_THROW(train::fit_gan(train::gan(g1, d1), data, o, plain));  // no H, no distiller
  fs::remove(fs::temp_directory_path() / "bijgan_gan_whole.safetensors");
  fs::remove(fs::temp_directory_path() / "bijgan_gan_resumed.safetensors");
  fs::remove(csv);
}

/// A user's own differentiable engine: a fixed linear map of 8x8 images to 6 features.
struct projection_engine {
  static constexpr index_t feature_dim = 6;
  static constexpr std::array<index_t, 3> image_shape{1, 8, 8};
  tensor<float> weights;  // (64, 6)
  [[nodiscard]] var<float> forward(const var<float>& x) const {
    return matmul(reshape(x, {x.size(0), 64}), constant(weights));
  }
};

BOOST_AUTO_TEST_CASE(fit_gan_distils_through_a_whitebox_engine) {
  // Whitebox mode: the engine itself as the distiller. With distillation as the only term the
  // generator can learn only through the engine's gradients, so its reconstructions must come
  // to agree with the engine's features of the reals.
  using box = engines::whitebox<projection_engine>;
  static_assert(staged_network<box> && engines::differentiable_engine<projection_engine> &&
                !engines::staged_engine<projection_engine>);
  auto imgs = randnf({24, 1, 8, 8}, 21).to_vector();
  for (auto& v : imgs) v = 1 / (1 + std::exp(-v));
  const auto images = tensor<float>::from(imgs, {24, 1, 8, 8});
  const projection_engine engine{randnf({64, 6}, 22)};
  const auto features = engine.forward(constant(images)).value();
  const auto mu = mean(constant(features), {0}).value();
  const auto centred = (constant(features) - constant(mu.reshape({1, 6}))).value();
  std::vector<int> labels;
  for (int i = 0; i < 24; ++i) labels.push_back(i % 3);
  const box wb(engine, {.centre = mu});
  BOOST_TEST(wb.stages(constant(images)).stages.empty());  // not a staged_engine: features only
  train::gan_options o;
  o.steps = 200, o.batch = 12, o.lr_generator = 1e-2;
  std::ostringstream quiet;
  o.log = &quiet;
  nn::manual_seed(23);
  models::dibigan<tiny>::generator<> g;
  models::dibigan<tiny>::critic<> d;
  // The engine's cosine with its targets (centred features) of what g makes from them.
  const auto agreement = [&] {
    const auto x = eval::reconstruct(g, centred, 5);
    return eval::mean_cosine(wb(constant(x)).value(), centred);
  };
  const double before = agreement();
  const auto r = train::fit_gan(train::gan(g, d).with_distiller(wb), train::gan_data{images, centred, labels}, o,
                                train::objective(train::distillation_term{}));
  const double after = agreement();
  BOOST_TEST_MESSAGE("whitebox distillation: engine cos " << before << " -> " << after << ", distill "
                                                          << r.last.values.at("distill"));
  BOOST_TEST(after > before + 0.3);  // measured: 0.19 -> 0.67
  BOOST_TEST(after > 0.55);
}

BOOST_AUTO_TEST_CASE(student_learns_the_engine_direction) {
  // Teacher: a fixed random projection of the images; the student's cosine loss falls.
  const auto images = tensor<float>::from(
      [] {
        auto v = randnf({64, 1, 8, 8}, 21).to_vector();
        for (auto& e : v) e = 1 / (1 + std::exp(-e));
        return v;
      }(),
      {64, 1, 8, 8});
  const auto teacher = matmul(constant(images.reshape({64, 64})), constant(randnf({64, 5}, 22))).value();
  nn::manual_seed(23);
  models::student<models::student_config{.channels = 1, .resolution = 8, .feature_dim = 5, .width = 4, .stages = 2}> s;
  const auto before = losses::cosine_distill(teacher, s(constant(images))).item();
  std::ostringstream quiet;
  const double after =
      train::fit_student(s, images, teacher, {.epochs = 30, .batch = 16, .lr = 3e-3, .warmup_steps = 5, .log = &quiet});
  const auto final_loss = losses::cosine_distill(teacher, s(constant(images))).item();
  BOOST_TEST(std::isfinite(after));
  BOOST_TEST(final_loss < 0.5 * before, "cosine loss " << before << " -> " << final_loss);
  const auto so = s.stages(constant(images));
  BOOST_TEST(so.stages.size() == 2u);
  BOOST_TEST((so.stages[1].shape() == shape{64, 8, 2, 2}));
  BOOST_CHECK_THROW(train::fit_student(s, images, teacher.slice_rows(0, 10), {}), shape_error);
}

BOOST_AUTO_TEST_CASE(student_held_out_cosine_and_mirror_augmentation) {
  // Teacher: a projection of the images made mirror-invariant (image + its mirror), so the
  // mirror augmentation keeps every target right. Train on 48 images, hold out 16.
  auto v = randnf({64, 1, 8, 8}, 31).to_vector();
  for (auto& e : v) e = 1 / (1 + std::exp(-e));
  const auto images = tensor<float>::from(v, {64, 1, 8, 8});
  auto mirrored = images;
  data::mirror_images(mirrored, std::vector<bool>(64, true));
  const auto proj = constant(randnf({64, 5}, 32));
  const auto teacher = matmul(constant(images.reshape({64, 64})) + constant(mirrored.reshape({64, 64})), proj).value();
  const auto train_x = images.slice_rows(0, 48), train_t = teacher.slice_rows(0, 48);
  const auto held_x = images.slice_rows(48, 64), held_t = teacher.slice_rows(48, 64);
  constexpr models::student_config cfg{.channels = 1, .resolution = 8, .feature_dim = 5, .width = 4, .stages = 2};
  std::ostringstream log;
  std::vector<double> cosines;
  nn::manual_seed(33);
  models::student<cfg> s;
  train::fit_student(s, train_x, train_t,
                     {.epochs = 20,
                      .batch = 16,
                      .lr = 3e-3,
                      .warmup_steps = 5,
                      .log = &log,
                      .mirror = true,
                      .held_out_images = &held_x,
                      .held_out_teacher = &held_t,
                      .held_out_cosines = &cosines});
  BOOST_TEST_REQUIRE(cosines.size() == 20u);
  for (double c : cosines) BOOST_TEST((std::isfinite(c) && c >= -1 && c <= 1));
  // The last entry is the fitted student's cosine on the held-out images, as student_features gives it.
  BOOST_TEST(std::abs(cosines.back() - eval::mean_cosine(train::student_features(s, held_x), held_t)) < 1e-12);
  BOOST_TEST(cosines.back() > cosines.front(), "held-out cosine " << cosines.front() << " -> " << cosines.back());
  BOOST_TEST(log.str().find("epoch 20, held-out cosine with the engine") != std::string::npos, log.str());
  // The same seed gives the same student; mirroring changes what it sees.
  nn::manual_seed(33);
  models::student<cfg> again;
  train::fit_student(again, train_x, train_t,
                     {.epochs = 20, .batch = 16, .lr = 3e-3, .warmup_steps = 5, .log = &log, .mirror = true});
  nn::manual_seed(33);
  models::student<cfg> plain;
  train::fit_student(plain, train_x, train_t, {.epochs = 20, .batch = 16, .lr = 3e-3, .warmup_steps = 5, .log = &log});
  const auto f_s = train::student_features(s, held_x).to_vector(),
             f_again = train::student_features(again, held_x).to_vector(),
             f_plain = train::student_features(plain, held_x).to_vector();
  BOOST_TEST(f_s == f_again);
  BOOST_TEST(f_s != f_plain);
  // Held-out sets of the wrong shape are refused before training.
  const auto wrong_t = held_t.slice_rows(0, 8);
  BOOST_CHECK_THROW(train::fit_student(s, train_x, train_t, {.held_out_images = &held_x, .held_out_teacher = &wrong_t}),
                    shape_error);
  const auto gray3 = tensor<float>::zeros({16, 3, 8, 8});
  BOOST_CHECK_THROW(train::fit_student(s, train_x, train_t, {.held_out_images = &gray3, .held_out_teacher = &held_t}),
                    shape_error);
}

BOOST_AUTO_TEST_CASE(student_refresh_follows_the_engine_on_generated_images) {
  // The engine: a fixed random projection of the images. The student is fitted on "real"
  // images (squashed noise) and then meets the generator's images (a different distribution:
  // features through a fixed map, plus v); refreshes from engine queries on those images
  // must lower its cosine loss there.
  const auto proj = constant(randnf({64, 5}, 22));
  const auto engine = [&](const tensor<float>& x) {
    return matmul(constant(x.reshape({x.size(0), 64})), proj).value();
  };
  const auto squash = [](std::vector<float> v, float gain, float shift) {
    for (auto& e : v) e = 1 / (1 + std::exp(-(gain * e + shift)));
    return v;
  };
  const auto images = tensor<float>::from(squash(randnf({64, 1, 8, 8}, 21).to_vector(), 1, 0), {64, 1, 8, 8});
  const auto targets = engine(images);
  const auto lift = constant(randnf({5, 64}, 24));
  const auto make = [&](const tensor<float>& f, std::uint64_t seed) {
    const auto base = matmul(constant(f), lift).value().to_vector();
    auto noise = randnf({f.size(0), 64}, seed).to_vector();
    for (std::size_t i = 0; i < noise.size(); ++i) noise[i] = 0.5f * noise[i] + base[i];
    return tensor<float>::from(squash(noise, 2, 1), {f.size(0), 1, 8, 8});
  };
  nn::manual_seed(23);
  models::student<models::student_config{.channels = 1, .resolution = 8, .feature_dim = 5, .width = 4, .stages = 2}> s;
  std::ostringstream quiet;
  train::fit_student(s, images, targets, {.epochs = 10, .batch = 16, .lr = 3e-3, .warmup_steps = 5, .log = &quiet});
  const auto probe = make(targets, 999);
  const auto loss_on_generated = [&] {
    const no_grad off;
    return losses::cosine_distill(engine(probe), s(constant(probe))).item();
  };
  const double before = loss_on_generated();
  train::student_refresh_stats stats;
  const auto cb =
      train::student_refresh(s, engine, images, targets, {.every = 2, .batch = 16, .steps = 1, .lr = 3e-3}, &stats);
  train::gan_report r;
  r.generate = make;
  for (long k = 1; k <= 300; ++k) {
    r.step = k;
    cb(r);
  }
  const double after = loss_on_generated();
  BOOST_TEST_MESSAGE("student_refresh: cosine loss on generated images " << before << " -> " << after);
  BOOST_TEST(stats.refreshes == 150);
  BOOST_TEST(stats.queries == 150 * 16);
  BOOST_TEST(after < 0.5 * before, "cosine loss on generated images " << before << " -> " << after);
  // A query that answers the wrong shape, and bad options, are errors naming the op.
  const auto bad = train::student_refresh(s,
                                          [](const tensor<float>& x) {
                                            return tensor<float>::zeros({x.size(0), 4});
                                          },
                                          images, targets, {.every = 1, .batch = 4});
  r.step = 1;
  BOOST_CHECK_THROW(bad(r), shape_error);
  BOOST_CHECK_THROW(train::student_refresh(s, engine, images, targets, {.every = 0}), value_error);
  BOOST_CHECK_THROW(train::student_refresh(s, engine, images, targets.slice_rows(0, 3)), shape_error);
  BOOST_CHECK_THROW(train::student_refresh(s, engine, images, targets, {.batch = 16, .real_batch = 65}), value_error);
  BOOST_CHECK_THROW(train::student_refresh(s, engine, images, targets, {.batch = 16, .real_batch = -1}), value_error);
  // More real images per refresh anchor the student on the reals: the same student refreshed
  // with 48 reals beside each 16 generated ones ends nearer the engine on the reals than with 16.
  const auto loss_on_reals_after = [&](index_t reals) {
    nn::manual_seed(23);
    models::student<models::student_config{.channels = 1, .resolution = 8, .feature_dim = 5, .width = 4, .stages = 2}>
        t;
    train::fit_student(t, images, targets, {.epochs = 10, .batch = 16, .lr = 3e-3, .warmup_steps = 5, .log = &quiet});
    train::student_refresh_stats st;
    const auto refresh = train::student_refresh(
        t, engine, images, targets, {.every = 2, .batch = 16, .real_batch = reals, .steps = 1, .lr = 3e-3}, &st);
    for (long k = 1; k <= 300; ++k) {
      r.step = k;
      refresh(r);
    }
    BOOST_TEST(st.queries == 150 * 16);  // the engine sees only the generated images
    const no_grad off;
    return losses::cosine_distill(targets, t(constant(images))).item();
  };
  const double with16 = loss_on_reals_after(16), with48 = loss_on_reals_after(48);
  BOOST_TEST_MESSAGE("student_refresh: cosine loss on reals with 16 / 48 reals per refresh " << with16 << " / "
                                                                                             << with48);
  BOOST_TEST(with48 < with16, "loss on reals with 16 reals per refresh " << with16 << ", with 48 " << with48);
}

BOOST_AUTO_TEST_CASE(centroid_plane_finds_the_plane_of_the_class_means) {
  // Four classes centred at ±3·e1 and ±1·e2 in 5-D with noise along e3..e5: the plane is
  // (e1, e2) up to signs, the first axis the wider spread, and the origin the mean of the means.
  const index_t d = 5, per = 50;
  rng gen(9);
  const auto noise = tensor<float>::random({4 * per, d}, gen, {distribution::normal, 0, 0.1}).to_vector();
  std::vector<float> x(noise);
  std::vector<int> labels;
  const float centres[4][2] = {{3, 0}, {-3, 0}, {0, 1}, {0, -1}};
  for (index_t c = 0; c < 4; ++c)
    for (index_t i = 0; i < per; ++i) {
      const auto row = static_cast<std::size_t>((c * per + i) * d);
      x[row] += centres[c][0], x[row + 1] += centres[c][1];
      labels.push_back(static_cast<int>(c));
    }
  const auto xs = tensor<float>::from(x, {4 * per, d});
  const auto p = eval::centroid_plane(xs, labels);
  BOOST_TEST(std::abs(std::abs(p.axes[0][0]) - 1) < 0.01);
  BOOST_TEST(std::abs(std::abs(p.axes[1][1]) - 1) < 0.01);
  BOOST_TEST(std::abs(p.origin[0]) < 0.05);
  const auto pts = p(tensor<float>::from(std::vector<float>{3, 0, 0, 0, 0, 0, -1, 0, 0, 0}, {2, d}));
  BOOST_TEST(std::abs(std::abs(pts[0][0]) - 3) < 0.05);
  BOOST_TEST(std::abs(pts[0][1]) < 0.05);
  BOOST_TEST(std::abs(std::abs(pts[1][1]) - 1) < 0.05);
  BOOST_CHECK_THROW(p(tensor<float>::zeros({2, 4})), shape_error);
  BOOST_CHECK_THROW(eval::centroid_plane(xs, std::vector<int>(3, 0)), shape_error);
  BOOST_CHECK_THROW(
      eval::centroid_plane(xs.slice_rows(0, 2 * per), std::vector<int>(labels.begin(), labels.begin() + 2 * per)),
      value_error);  // two classes: a line, not a plane
  std::vector<float> line(static_cast<std::size_t>(3 * d), 0.0f);
  line[0] = 1, line[static_cast<std::size_t>(d)] = 2, line[static_cast<std::size_t>(2 * d)] = 3;  // collinear means
  BOOST_CHECK_THROW(eval::centroid_plane(tensor<float>::from(line, {3, d}), {0, 1, 2}), value_error);
}

BOOST_AUTO_TEST_CASE(ms_ssim_closed_forms) {
  const auto a = tensor<float>::from(randnf({1, 32, 32}, 31).to_vector(), {1, 32, 32});
  auto av = a.to_vector();
  for (auto& v : av) v = 0.5f + 0.1f * v;
  const auto x = tensor<float>::from(av, {1, 32, 32});
  BOOST_TEST(std::abs(eval::ms_ssim(x, x) - 1) < 1e-12);
  // Two constant images μ1, μ2: every contrast-structure term is 1, so MS-SSIM is the
  // luminance term (2μ1μ2 + C1)/(μ1² + μ2² + C1) to the last scale's weight.
  const auto c1 = tensor<float>::full({1, 32, 32}, 0.25f), c2 = tensor<float>::full({1, 32, 32}, 0.75f);
  const double k1 = 1e-4, lum = (2 * 0.25 * 0.75 + k1) / (0.0625 + 0.5625 + k1);
  BOOST_TEST(std::abs(eval::ms_ssim(c1, c2) - std::pow(lum, 0.1333)) < 1e-9);
  // Symmetric, and falls as noise grows.
  auto noisy = [&](float level, std::uint64_t seed) {
    auto v = av;
    const auto e = randnf({1, 32, 32}, seed).to_vector();
    for (std::size_t i = 0; i < v.size(); ++i) v[i] += level * e[i];
    return tensor<float>::from(v, {1, 32, 32});
  };
  const auto n1 = noisy(0.02f, 32), n2 = noisy(0.2f, 33);
  BOOST_TEST(std::abs(eval::ms_ssim(x, n1) - eval::ms_ssim(n1, x)) < 1e-12);
  BOOST_TEST(eval::ms_ssim(x, n1) > eval::ms_ssim(x, n2));
  BOOST_TEST(eval::ms_ssim(x, n2) >= 0.0);
  BOOST_CHECK_THROW(eval::ms_ssim(x, tensor<float>::zeros({1, 16, 16})), shape_error);
  BOOST_CHECK_THROW(eval::ms_ssim(tensor<float>::zeros({1, 8, 8}), tensor<float>::zeros({1, 8, 8})), shape_error);
}

namespace {
namespace fs = std::filesystem;

/// A user's term: the mean total variation of the fakes; NaN at one step (to test the check).
struct variation_term {
  static constexpr const char* name = "tv";
  double lambda = 0.1;
  long nan_at = -1;  ///< the 0-based step whose loss is NaN
  [[nodiscard]] double weight(const train::term_point&) const { return lambda; }
  template <class C>
  typename C::var_type loss(const C& c) const {
    const auto& x = c.fake;
    const index_t r = x.size(3);
    const auto tv =
        mean(abs(slice(x, 3, 1, r) - slice(x, 3, 0, r - 1))) + mean(abs(slice(x, 2, 1, r) - slice(x, 2, 0, r - 1)));
    return c.point.step == nan_at ? tv * std::numeric_limits<float>::quiet_NaN() : tv;
  }
};

/// 24 images of 8x8 in 3 classes and a linear projection as their features.
train::gan_data tiny_data() {
  auto imgs = randnf({24, 1, 8, 8}, 11).to_vector();
  for (auto& v : imgs) v = 1 / (1 + std::exp(-v));
  const auto images = tensor<float>::from(imgs, {24, 1, 8, 8});
  const auto features = matmul(constant(images.reshape({24, 64})), constant(randnf({64, 6}, 12))).value();
  std::vector<int> labels;
  for (int i = 0; i < 24; ++i) labels.push_back(i % 3);
  return {images, features, labels};
}

template <class M>
std::vector<std::vector<float>> weights_of(const M& m) {
  std::vector<std::vector<float>> out;
  for (const auto& p : nn::parameters(m)) out.push_back(p.value().to_vector());
  return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(fit_gan_takes_user_terms_and_optimizers) {
  // A user's term beside the library's, reported under its name; the weighted sum is "generator".
  const auto data = tiny_data();
  train::gan_options o;
  o.steps = 4, o.batch = 12;
  nn::manual_seed(31);
  models::dibigan<tiny>::generator<> g;
  models::dibigan<tiny>::critic<> d;
  const auto obj = train::objective(train::reconstruction_term{}, variation_term{});
  std::vector<std::map<std::string, double>> seen;
  const auto keep = [&](const train::step_report& r) { seen.push_back(r.values); };
  const auto r = train::fit_gan(train::gan(g, d), data, o, obj, {keep});
  BOOST_TEST(r.steps == 4);
  BOOST_TEST(seen.size() == 4u);
  for (const auto& v : seen) {
    BOOST_TEST(v.count("tv") == 1u);
    BOOST_TEST(v.count("adv") == 0u);  // not in this objective
    const auto w = train::exponential_weighting(1, 1).recon;
    BOOST_TEST(std::abs(v.at("generator") - (w * v.at("recon") + 0.1 * v.at("tv"))) < 1e-5);
  }
  // The plus() of an objective adds a term; a term that is off is neither computed nor reported.
  auto more = obj.plus(train::adversarial_term{.on = false});
  static_assert(std::is_same_v<decltype(more),
                               train::objective<train::reconstruction_term, variation_term, train::adversarial_term>>);
  more.term<train::reconstruction_term>().scale = 2;
  seen.clear();
  train::fit_gan(train::gan(g, d), data, o, more, {keep});
  BOOST_TEST(seen.back().count("adv") == 0u);

  // The optimizer is a policy: SGD here. The checkpoint records it, and resuming under Adam is
  // refused with the difference named.
  const auto ckpt = fs::temp_directory_path() / "bijgan_gan_sgd.safetensors";
  fs::remove(ckpt);
  o.checkpoint = ckpt;
  const auto before = weights_of(g);
  train::fit_gan(train::gan(g, d).with_optimizer(train::sgd_optimizer({.momentum = 0.9})), data, o, obj);
  BOOST_TEST(weights_of(g) != before);
  BOOST_TEST(io::load_safetensors(ckpt).metadata.at("option.optimizer") == "sgd");
  o.resume = true;
  std::string what;
  try {
    train::fit_gan(train::gan(g, d), data, o, obj);
  } catch (const value_error& e) {
    what = e.what();
  }
  BOOST_TEST(what.find("optimizer: checkpoint sgd, this run adam") != std::string::npos, what);
  fs::remove(ckpt);
}

BOOST_AUTO_TEST_CASE(fit_gan_stops_or_skips_at_a_nonfinite_term) {
  const auto data = tiny_data();
  train::gan_options o;
  o.steps = 5, o.batch = 12;
  const auto ckpt = fs::temp_directory_path() / "bijgan_gan_nonfinite.safetensors";
  fs::remove(ckpt);
  o.checkpoint = ckpt, o.checkpoint_every = 1;
  const auto obj = train::objective(train::reconstruction_term{}, variation_term{.nan_at = 2});
  nn::manual_seed(32);
  models::dibigan<tiny>::generator<> g;
  models::dibigan<tiny>::critic<> d;
  // Stop (the default): the error names the term and the step; the last checkpoint is step 2's.
  std::string what;
  try {
    train::fit_gan(train::gan(g, d), data, o, obj);
  } catch (const value_error& e) {
    what = e.what();
  }
  BOOST_TEST(what.find("train::fit_gan: step 3: the tv term is not finite") != std::string::npos, what);
  BOOST_TEST(io::load_safetensors(ckpt).metadata.at("step") == "2");
  for (const auto& p : nn::parameters(g))
    for (const float v : p.value().to_vector()) BOOST_REQUIRE(std::isfinite(v));
  // Skip: the step counts, nothing is applied, the report says so; the other steps train.
  o.on_nonfinite = train::nonfinite::skip;
  o.checkpoint.clear();
  std::vector<std::vector<float>> at_step2, at_step3;
  std::vector<bool> skipped;
  const auto r = train::fit_gan(train::gan(g, d), data, o, obj, {[&](const train::gan_report& rep) {
                                  skipped.push_back(rep.skipped);
                                  if (rep.step == 2) at_step2 = weights_of(g);
                                  if (rep.step == 3) at_step3 = weights_of(g);
                                }});
  BOOST_TEST(r.steps == 5);
  BOOST_TEST(r.skipped == 1);
  BOOST_TEST((skipped == std::vector<bool>{false, false, true, false, false}));
  BOOST_TEST((at_step2 == at_step3));  // step 3 changed nothing
  BOOST_TEST(std::isnan(r.last.values.at("tv")) == false);
  fs::remove(ckpt);
}

BOOST_AUTO_TEST_CASE(epoch_trainers_share_callbacks_and_checkpoints) {
  // fit_classifier and fit_student report every step to the same callbacks as fit_gan, and
  // resume from their checkpoints to the parameters of an uninterrupted run (the student with
  // mirrored batches, whose flips a resumed run draws again for the batches it passes over).
  const auto data = tiny_data();
  const auto make_student = [] {
    nn::manual_seed(33);
    return models::student<models::student_config{
        .channels = 1, .resolution = 8, .feature_dim = 6, .width = 4, .stages = 2}>{};
  };
  const auto csv = fs::temp_directory_path() / "bijgan_student_log.csv";
  fs::remove(csv);
  std::vector<int> epochs_done;
  train::student_options so{.epochs = 3, .batch = 8, .lr = 3e-3, .warmup_steps = 2, .mirror = true};
  auto whole = make_student();
  train::fit_student(whole, data.images, data.features, so,
                     {train::csv_log(csv), train::at_epoch_end([&](int e) { epochs_done.push_back(e); })});
  BOOST_TEST((epochs_done == std::vector<int>{1, 2, 3}));
  {
    std::ifstream in(csv);
    std::string header;
    std::getline(in, header);
    BOOST_TEST(header == "step,epoch,batch,cos loss,lr");
    int rows = 0;
    for (std::string line; std::getline(in, line);) ++rows;
    BOOST_TEST(rows == 9);  // 3 epochs x 3 batches
  }
  fs::remove(csv);
  // Interrupted at step 5 (a callback throws; checkpoints every 2 steps), resumed in a fresh student.
  so.checkpoint = {.path = fs::temp_directory_path() / "bijgan_student_ckpt.safetensors", .every = 2, .resume = true};
  fs::remove(so.checkpoint.path);
  auto first = make_student();
  BOOST_CHECK_THROW(train::fit_student(first, data.images, data.features, so, {[](const train::step_report& r) {
                                         if (r.step == 5) throw std::runtime_error("interrupted");
                                       }}),
                    std::runtime_error);
  BOOST_TEST(io::load_safetensors(so.checkpoint.path).metadata.at("step") == "4");
  auto second = make_student();
  std::ostringstream said;
  so.log = &said;
  train::fit_student(second, data.images, data.features, so);
  BOOST_TEST(said.str().find("at step 4") != std::string::npos, said.str());
  BOOST_TEST((weights_of(second) == weights_of(whole)));
  // Other options than the checkpoint's are refused, naming them.
  so.lr = 1e-3;
  BOOST_CHECK_THROW(train::fit_student(second, data.images, data.features, so), value_error);
  fs::remove(so.checkpoint.path);

  // fit_classifier: steps and epoch ends reach the callbacks.
  nn::manual_seed(34);
  auto net = nn::linear<float>({.in = 64, .out = 3});
  long steps = 0;
  int ends = 0;
  train::fit_classifier(net, data.images.reshape({24, 64}), data.labels, {.epochs = 2, .batch = 10},
                        {[&](const train::step_report& r) {
                          steps = r.step;
                          ends += r.epoch_end ? 1 : 0;
                          BOOST_TEST(std::isfinite(r.values.at("loss")));
                        }});
  BOOST_TEST(steps == 6);  // 2 epochs x 3 batches of 24 images
  BOOST_TEST(ends == 2);
  // A NaN in one image: the step whose batch holds it stops the run (naming the loss and the
  // step), or is skipped with nothing applied.
  auto pix = data.images.to_vector();
  pix[3 * 64 + 10] = std::numeric_limits<float>::quiet_NaN();
  const auto bad = tensor<float>::from(pix, {24, 64});
  std::string what;
  try {
    train::fit_classifier(net, bad, data.labels, {.epochs = 1, .batch = 24});
  } catch (const value_error& e) {
    what = e.what();
  }
  BOOST_TEST(what.find("train::fit_classifier: step 1: the loss is not finite") != std::string::npos, what);
  const auto kept = weights_of(net);
  bool seen_skip = false;
  train::fit_classifier(net, bad, data.labels, {.epochs = 1, .batch = 24, .on_nonfinite = train::nonfinite::skip},
                        {[&](const train::step_report& r) { seen_skip = r.skipped; }});
  BOOST_TEST(seen_skip);
  BOOST_TEST((weights_of(net) == kept));
}

namespace {
/// A user's generator whose second stage is mis-sized (its input width is wrong).
struct staged_generator {
  using value_type = float;
  using backend_type = host;
  static constexpr index_t feature_dim = 6;
  static constexpr index_t noise_dim = 2;
  static constexpr std::array<index_t, 3> image_shape{1, 8, 8};
  std::vector<nn::linear<float>> stages;
  staged_generator() {
    stages.emplace_back(nn::linear_options{.in = 8, .out = 32});
    stages.emplace_back(nn::linear_options{.in = 31, .out = 64});
  }
  var<float> operator()(const var<float>& f, const var<float>& v) const {
    auto h = concat(std::vector{f, v}, 1);
    for (const auto& s : stages) h = s(h);
    return reshape(sigmoid(h), shape{f.size(0), 1, 8, 8});
  }
  template <class F>
  void visit(F&& f) {
    f("stages", stages);
  }
};
/// A term that fails in its own code.
struct broken_term {
  static constexpr const char* name = "broken";
  [[nodiscard]] double weight(const train::term_point&) const { return 1; }
  template <class C>
  typename C::var_type loss(const C&) const {
    fail<value_error>("my_term", "cannot");
  }
};
}  // namespace

BOOST_AUTO_TEST_CASE(fit_gan_errors_name_the_module) {
  const auto data = tiny_data();
  staged_generator g;
  models::dibigan<tiny>::critic<> d;
  train::gan_options o;
  o.steps = 1, o.batch = 12;
  std::string what;
  try {
    train::fit_gan(train::gan(g, d), data, o, train::objective(train::reconstruction_term{}));
  } catch (const shape_error& e) {
    what = e.what();
  }
  BOOST_TEST(what.rfind("generator.stages.1: bijgan::nn::linear: input [12, 32] must end in 31", 0) == 0u, what);
  // A term's own error names the term.
  models::dibigan<tiny>::generator<> good;
  try {
    train::fit_gan(train::gan(good, d), data, o, train::objective(broken_term{}));
  } catch (const value_error& e) {
    what = e.what();
  }
  BOOST_TEST(what == "terms.broken: bijgan::my_term: cannot");
}

BOOST_AUTO_TEST_SUITE_END()
