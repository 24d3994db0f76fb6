// Users' own parts in the library's trainer: a generator written here (an MLP, under 40 lines),
// a bijection written here (a per-pixel affine map with its log-det) and a loss term written
// here (total variation), trained by train::fit_gan with the library's reconstruction,
// adversarial and bijective terms against the library's CNN critic. Synthetic data (two classes of blobs), so it runs
// anywhere in seconds; run by CTest (custom_gan).
#include <bijgan/bijgan.hpp>
#include <bijgan/models/models.hpp>
#include <bijgan/train/adversarial.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>

using namespace bijgan;

// [docs:custom-generator]
/// A feature-conditional generator: [F(x); v] → 256 → 8x8 image, values in [0, 1].
struct mlp_generator {
  using value_type = float;
  using backend_type = host;
  static constexpr index_t feature_dim = 16;
  static constexpr index_t noise_dim = 4;
  static constexpr std::array<index_t, 3> image_shape{1, 8, 8};

  nn::linear<float> hidden{{.in = feature_dim + noise_dim, .out = 256}};
  nn::linear<float> out{{.in = 256, .out = 64}};

  var<float> operator()(const var<float>& features, const var<float>& noise) const {
    const auto h = leaky_relu(hidden(concat(std::vector{features, noise}, 1)), 0.2f);
    return reshape(sigmoid(out(h)), shape{features.size(0), 1, 8, 8});
  }
  template <class F>
  void visit(F&& f) {
    f("hidden", hidden);
    f("out", out);
  }
};
static_assert(feature_generator<mlp_generator>);
// [docs:custom-generator]

// [docs:custom-bijection]
/// z = a ⊙ logit(0.05 + 0.9 x) + b per pixel, log-det Σ log|a| + Σ log of the logit's slope: a
/// bijection with learnable a (kept positive as exp) and b.
struct pixel_affine {
  using value_type = float;
  using backend_type = host;
  var<float> log_a = parameter(tensor<float>::zeros({1, 1, 8, 8}));
  var<float> b = parameter(tensor<float>::zeros({1, 1, 8, 8}));

  flows::flow_result<float, host> forward(const var<float>& x) const {
    const auto y = x * 0.9f + 0.05f;
    const auto l = log(y) - log(1.0f - y);  // logit
    const auto slope = log(0.9f / (y * (1.0f - y)));
    const auto logdet = sum(flatten(slope + log_a, 1, -1), {1});
    return {l * exp(log_a) + b, logdet};
  }
  var<float> inverse(const var<float>& z) const {
    const auto l = (z - b) * exp(-log_a);
    return (sigmoid(l) - 0.05f) * (1.0f / 0.9f);
  }
  template <class F>
  void visit(F&& f) {
    f("log_a", log_a);
    f("b", b);
  }
};
static_assert(flows::bijection<pixel_affine>);
// [docs:custom-bijection]

// [docs:custom-term]
/// A loss term of the user's: the total variation of the fakes (neighbouring pixels that
/// differ), weight λ ramped in over the first `ramp` steps. Any type with a name, a weight
/// at a point of the run and a loss of the step's context is a term (train::gan_loss_term).
struct total_variation {
  static constexpr const char* name = "tv";  // its column in the reports and CSV log
  double lambda = 0.05;
  long ramp = 100;
  [[nodiscard]] double weight(const train::term_point& p) const {
    return lambda * std::min(1.0, double(p.step) / double(ramp));
  }
  template <class Context>  // a train::gan_term_context: fake, real, critic, bijection, …
  typename Context::var_type loss(const Context& c) const {
    const auto& x = c.fake;  // (n, C, r, r) at the stage's resolution
    const index_t r = x.size(3);
    return mean(abs(slice(x, 3, 1, r) - slice(x, 3, 0, r - 1))) + mean(abs(slice(x, 2, 1, r) - slice(x, 2, 0, r - 1)));
  }
};
// [docs:custom-term]

int main() {
  try {
    // Two classes of 8x8 images: a bright blob left or right; the "engine feature" is a fixed
    // random projection of the image (a stand-in blackbox: tensors in, tensors out).
    constexpr index_t n = 256;
    rng g(3);
    std::vector<float> pix;
    std::vector<int> labels;
    const auto jitter = tensor<float>::random({n, 2}, g, {distribution::normal, 0, 0.7f}).to_vector();
    for (index_t i = 0; i < n; ++i) {
      const int c = static_cast<int>(i % 2);
      labels.push_back(c);
      const double cx = (c ? 5.5 : 2.0) + jitter[static_cast<std::size_t>(2 * i)],
                   cy = 3.5 + jitter[static_cast<std::size_t>(2 * i + 1)];
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x)
          pix.push_back(static_cast<float>(0.05 + 0.9 * std::exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / 3.0)));
    }
    const auto images = tensor<float>::from(pix, {n, 1, 8, 8});
    const auto projection = tensor<float>::random({64, 16}, g, {distribution::normal, 0, 0.3f});
    const auto features = matmul(constant(images.reshape({n, 64})), constant(projection)).value();

    constexpr models::gan_config critic_cfg{.channels = 1, .resolution = 8, .width = 16};
    nn::manual_seed(1);
    mlp_generator gen;
    models::dibigan<critic_cfg>::critic<> critic;  // progressive, left at its full 8x8 stage
    const pixel_affine h;                          // fixed here; train it by NLL first in real use
    train::gan_options o;
    o.steps = 300, o.batch = 32;
    // [docs:custom-objective]
    const train::objective terms(train::adversarial_term{.scale = 0.05}, train::reconstruction_term{},
                                 train::bijective_term{.scale = 10}, total_variation{});
    const auto before =
        losses::l1(gen(constant(features), constant(tensor<float>::zeros({n, 4}))), constant(images)).item();
    const auto r = train::fit_gan(train::gan(gen, critic).with_bijection(h), {images, features, labels}, o, terms);
    // [docs:custom-objective]
    const auto after =
        losses::l1(gen(constant(features), constant(tensor<float>::zeros({n, 4}))), constant(images)).item();
    std::cout << "user generator + user bijection, " << r.steps << " steps in " << r.seconds
              << " s: L1 to the real images " << before << " -> " << after << " (biject " << r.last.values.at("biject")
              << ", tv " << r.last.values.at("tv") << ", critic " << r.last.values.at("critic") << ")\n";
    return after < 0.5 * before ? 0 : 1;
  } catch (const bijgan::error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
