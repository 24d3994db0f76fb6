// The flow workloads: the anchors' RealNVP affine coupling (32x3x32x32, checkerboard mask,
// conditioner conv3x3 3->64, ReLU, 64->64, ReLU, 64->64, ReLU, 64->6) forward, forward+backward
// of the Gaussian NLL (gradients for input and parameters) and inverse; plus one training step
// of the Fashion-MNIST H of examples/flow_fashion_mnist (batch 64, informational, no peer).
#include <bijgan/bijgan.hpp>
#include <bijgan/flows/flows.hpp>
#include <bijgan/nn/nn.hpp>

#include "harness.hpp"

using namespace bijgan;
using T = tensor<float>;
using V = var<float>;

int main(int argc, char** argv) {
  const int threads = bench::threads_arg(argc, argv);
  set_num_threads(threads);
  rng g(1);
  auto randn = [&](const shape& s) { return T::random(s, g, {distribution::normal, 0, 1}); };
  {
    const index_t n = 32, c = 3, hw = 32, w = 64;
    auto conv = [](index_t i, index_t o) { return nn::conv2d({.in = i, .out = o, .kernel = 3, .padding = 1}); };
    auto net =
        conv(c, w) | nn::act::relu{} | conv(w, w) | nn::act::relu{} | conv(w, w) | nn::act::relu{} | conv(w, 2 * c);
    flows::affine_coupling<decltype(net)> k(c, net, {.mask = flows::mask_kind::checkerboard});
    k.scale.set_value(T::ones({c, 1, 1}));
    k.shift.set_value(T::ones({c, 1, 1}));
    const auto xt = randn({n, c, hw, hw});
    const double f = 2.0 * n * hw * hw * 9 * (c * w + 2 * w * w + w * 2 * c);
    bench::report("coupling_fwd", "bijgan", threads, bench::time_it([&] {
                    no_grad ng;
                    (void)k.forward(constant(xt));
                  }),
                  f, "GFLOP/s-e9");
    const V x(xt, true);
    bench::report("coupling_fwdbwd", "bijgan", threads, bench::time_it([&] {
                    nn::zero_grad(k);
                    x.zero_grad();
                    const auto r = k.forward(x);
                    backward(mean(sum(square(r.z), {1, 2, 3}) * 0.5f - r.logdet));
                  }),
                  3 * f, "GFLOP/s-e9");
    const auto y = [&] {
      no_grad ng;
      return k.forward(constant(xt)).z.value();
    }();
    bench::report("coupling_inverse", "bijgan", threads, bench::time_it([&] {
                    no_grad ng;
                    (void)k.inverse(constant(y));
                  }),
                  f, "GFLOP/s-e9");
  }
  {
    nn::manual_seed(1);
    const auto h = flows::logit_transform<float>{} |
                   flows::realnvp_multiscale<float>(
                       {.channels = 1, .height = 32, .width = 32, .scales = 3, .blocks = 1, .features = 32});
    const flows::class_gaussian<float> prior{.classes = 10, .dim = 1024, .delta = 0.2};
    rng gu(3);
    const auto xt = T::random({64, 1, 32, 32}, gu, {distribution::uniform, 0, 1});
    const std::vector<index_t> labels(64, 3);
    bench::report("flow_fmnist_step_b64", "bijgan", threads,
                  bench::time_it(
                      [&] {
                        nn::zero_grad(h);
                        const auto r = h.forward(constant(xt));
                        backward(mean(-(prior.log_prob(r.z, labels) + r.logdet)));
                      },
                      5),
                  64, "images/s");
  }
}
