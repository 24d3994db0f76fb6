// The anchors' WGAN-GP workloads in bijgan (same definitions as ../shared/anchors RESULTS.md and
// bench/peer): one critic step with the gradient penalty (double backprop) and one generator
// step of a DCGAN-like pair at batch 64, 3x32x32; then one full training step of DiBiGAN and of
// DAB-GAN (critic + generator, Eq. 16 without H and distillation) at 32x32, batch 64, through
// train::fit_gan. Prints the peak RSS of the process at the end (run with --critic-only for
// the anchors' critic-step memory figure).
#include <bijgan/bijgan.hpp>
#include <bijgan/models/models.hpp>
#include <bijgan/train/adversarial.hpp>

#include <sys/resource.h>

#include <cstring>
#include <sstream>

#include "harness.hpp"

using namespace bijgan;
using V = var<float>;

namespace {

constexpr models::gan_config cnn_cfg{.channels = 3, .resolution = 32, .feature_dim = 128, .noise_dim = 32, .width = 64};
constexpr models::gan_config attention_cfg{.channels = 3,
                                           .resolution = 32,
                                           .feature_dim = 128,
                                           .noise_dim = 32,
                                           .embed = 64,
                                           .bicubic_stages = 2,
                                           .critic_patch = 4,
                                           .critic_embed = 64};

/// The anchors' critic: conv4x4s2 3->64->128->256 with LeakyReLU 0.2, linear 4096->1.
struct critic_net {
  using value_type = float;
  using backend_type = host;
  nn::conv2d<float> c1, c2, c3;
  nn::linear<float> out;
  V operator()(const V& x) const {
    auto h = leaky_relu(c3(leaky_relu(c2(leaky_relu(c1(x), 0.2f)), 0.2f)), 0.2f);
    return out(flatten(h, 1, -1));
  }
  template <class F>
  void visit(F&& f) {
    f("c1", c1), f("c2", c2), f("c3", c3), f("out", out);
  }
};

/// The anchors' generator: linear 128->4096 + BN + ReLU, convT4x4s2 256->128->64->3, BN/ReLU, tanh.
struct generator_net {
  using value_type = float;
  using backend_type = host;
  nn::linear<float> fc;
  nn::batch_norm<float> bn0, bn1, bn2;
  nn::conv_transpose2d<float> u1, u2, u3;
  V operator()(const V& zv) const {
    auto h = reshape(relu(bn0(fc(zv))), shape{zv.size(0), 256, 4, 4});
    h = relu(bn1(u1(h)));
    h = relu(bn2(u2(h)));
    return tanh(u3(h));
  }
  template <class F>
  void visit(F&& f) {
    f("fc", fc), f("bn0", bn0), f("bn1", bn1), f("bn2", bn2), f("u1", u1), f("u2", u2), f("u3", u3);
  }
};

template <class M>
void full_step(const char* name, int threads, const train::gan_data& data) {
  nn::manual_seed(3);
  typename M::template generator<> g;
  typename M::template critic<> d;
  train::gan_options o;
  o.batch = 64, o.checkpoint_every = 0;
  const train::objective terms(train::adversarial_term{}, train::reconstruction_term{});
  o.steps = 2;  // warm-up: caches, primitives
  train::fit_gan(train::gan(g, d), data, o, terms);
  o.steps = 6;
  const auto r = train::fit_gan(train::gan(g, d), data, o, terms);
  const double ms = r.seconds / double(r.steps) * 1e3;
  bench::report(name, "bijgan", threads, {ms, ms}, 64, "images/s");
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = bench::threads_arg(argc, argv);
  bool critic_only = false;
  for (int i = 1; i < argc; ++i) critic_only |= !std::strcmp(argv[i], "--critic-only");
  set_num_threads(threads);
  nn::manual_seed(1);
  const index_t n = 64, z = 128;
  auto conv = [](index_t i, index_t o) {
    return nn::conv2d<float>({.in = i, .out = o, .kernel = 4, .stride = 2, .padding = 1});
  };
  auto up = [](index_t i, index_t o) {
    return nn::conv_transpose2d<float>({.in = i, .out = o, .kernel = 4, .stride = 2, .padding = 1});
  };
  critic_net d{conv(3, 64), conv(64, 128), conv(128, 256), nn::linear<float>({.in = 4096, .out = 1})};
  generator_net g{nn::linear<float>({.in = z, .out = 4096}),
                  nn::batch_norm<float>({.channels = 4096}),
                  nn::batch_norm<float>({.channels = 128}),
                  nn::batch_norm<float>({.channels = 64}),
                  up(256, 128),
                  up(128, 64),
                  up(64, 3)};
  optim::adam<float> opt_d(nn::parameters(d), {.lr = 1e-4, .beta1 = 0, .beta2 = 0.9});
  optim::adam<float> opt_g(nn::parameters(g), {.lr = 1e-4, .beta1 = 0, .beta2 = 0.9});
  rng gen(2);
  const auto real = constant(
      apply(fn::add_scalar<float>{-1}, tensor<float>::random({n, 3, 32, 32}, gen, {distribution::uniform, 0, 2})));
  bench::report(
      "wgan_critic_step", "bijgan", threads,
      bench::time_it(
          [&] {
            V fake;
            {
              const no_grad off;
              fake = constant(g(constant(tensor<float>::random({n, z}, gen, {distribution::normal, 0, 1}))).value());
            }
            opt_d.zero_grad();
            const auto c = losses::wgan_critic(d, real, fake, gen, {.lambda = 10, .drift = 0});
            backward(c.loss);
            opt_d.step();
          },
          7),
      0, "-");
  if (!critic_only) {
    bench::report(
        "wgan_gen_step", "bijgan", threads,
        bench::time_it(
            [&] {
              const auto frozen = nn::frozen(d);  // the critic is not trained in this step
              opt_g.zero_grad();
              backward(-mean(frozen(g(constant(tensor<float>::random({n, z}, gen, {distribution::normal, 0, 1}))))));
              opt_g.step();
            },
            7),
        0, "-");
    // Full DiBiGAN / DAB-GAN training steps (critic + generator) on random data, 128-D features.
    train::gan_data data{tensor<float>::random({256, 3, 32, 32}, gen, {distribution::uniform, 0, 1}),
                         tensor<float>::random({256, 128}, gen, {distribution::normal, 0, 1}),
                         std::vector<int>(256, 0)};
    full_step<models::dibigan<cnn_cfg>>("dibigan_step_b64", threads, data);
    full_step<models::dabgan<attention_cfg>>("dabgan_step_b64", threads, data);
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::printf("# peak RSS %.1f MB (%s)\n", double(u.ru_maxrss) / 1024.0,
              critic_only ? "critic step only" : "all workloads");
}
