// The nn workloads of ../shared/anchors (same definitions as its RESULTS.md): conv2d 64->64
// 3x3 on 32x64x32x32 and the 3->64 first layer on 32x3x64x64 (forward, forward+backward),
// multi-head self-attention B16 L256 D256 H4, Adam over 10M parameters as 1 and as 100
// tensors; plus the face engine's images/s (batch 16 of 150x150).
#include <bijgan/bijgan.hpp>
#include <bijgan/engines/dlib_resnet.hpp>
#include <bijgan/nn/nn.hpp>
#include <bijgan/optim/optim.hpp>

#include <filesystem>

#include "harness.hpp"

using namespace bijgan;
using T = tensor<float>;
using V = var<float>;

int main(int argc, char** argv) {
  const int threads = bench::threads_arg(argc, argv);
  set_num_threads(threads);
  rng g(1);
  auto randn = [&](const shape& s) { return T::random(s, g, {distribution::normal, 0, 1}); };
  auto conv_gflop = [](double n, double cin, double cout, double k, double h) {
    return 2 * n * cin * cout * k * k * h * h;
  };

  struct conv_case {
    const char* name;
    index_t n, cin, cout, h;
    bool input_grad;
  };
  for (const conv_case& c : {conv_case{"conv64", 32, 64, 64, 32, true}, conv_case{"conv3", 32, 3, 64, 64, false}}) {
    nn::conv2d conv({.in = c.cin, .out = c.cout, .kernel = 3, .padding = 1});
    const auto xt = randn({c.n, c.cin, c.h, c.h});
    const auto gy = randn({c.n, c.cout, c.h, c.h});
    const double f = conv_gflop(double(c.n), double(c.cin), double(c.cout), 3, double(c.h));
    bench::report(std::string(c.name) + "_fwd", "bijgan", threads, bench::time_it([&] {
                    no_grad ng;
                    (void)conv(constant(xt));
                  }),
                  f, "GFLOP/s-e9");
    const V x(xt, c.input_grad);
    bench::report(std::string(c.name) + "_fwdbwd", "bijgan", threads, bench::time_it([&] {
                    nn::zero_grad(conv);
                    x.zero_grad();
                    backward(sum(conv(x) * constant(gy)));
                  }),
                  f * (c.input_grad ? 3 : 2), "GFLOP/s-e9");
  }
  {
    const index_t B = 16, L = 256, D = 256;
    nn::multi_head_attention mha({.dim = D, .heads = 4, .qkv_bias = true});
    const auto xt = randn({B, L, D}), gy = randn({B, L, D});
    const double fwd = 2.0 * B * L * (4.0 * D * D + 2.0 * L * D);
    bench::report("mha_fwd", "bijgan", threads, bench::time_it([&] {
                    no_grad ng;
                    (void)mha(constant(xt));
                  }),
                  fwd, "GFLOP/s-e9");
    const V x(xt, true);
    bench::report("mha_fwdbwd", "bijgan", threads, bench::time_it([&] {
                    nn::zero_grad(mha);
                    x.zero_grad();
                    backward(sum(mha(x) * constant(gy)));
                  }),
                  3 * fwd, "GFLOP/s-e9");
  }
  for (auto [name, count] : {std::pair<const char*, index_t>{"adam_10M_1x10M", 1}, {"adam_10M_100x100k", 100}}) {
    const index_t total = 10'000'000, each = total / count;
    std::vector<V> params;
    for (index_t i = 0; i < count; ++i) {
      params.push_back(parameter(randn({each})));
      params.back().set_grad(apply(fn::mul_scalar<float>{1e-3f}, randn({each})));
    }
    optim::adam opt(params, {.lr = 1e-3});
    bench::report(name, "bijgan", threads, bench::time_it([&] { opt.step(); }), 7.0 * 4 * total, "GB/s-e9");
  }
  const auto model = std::filesystem::path(BIJGAN_SHARED_DIR) / "data" / "face-recognition-model";
  if (std::filesystem::exists(model)) {
    const auto engine = engines::dlib_resnet::load(model);
    rng gi(2);
    const auto imgs = T::random({16, 3, 150, 150}, gi, {distribution::uniform, 0, 1});
    bench::report("face_engine_150_b16", "bijgan", threads, bench::time_it([&] { (void)engine.features(imgs); }, 5), 16,
                  "images/s");
  } else {
    std::printf("# face engine skipped: %s absent\n", model.c_str());
  }
}
