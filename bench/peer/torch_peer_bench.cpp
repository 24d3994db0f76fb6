// The peer: bijgan's bench workloads written in libtorch (Debian's libtorch-dev 1.13), run by
// tools/bench.sh with OpenBLAS (libopenblas0-openmp) selected through LD_LIBRARY_PATH, as in
// ../shared/anchors. Same harness and output format as our bench programs.
#include <torch/torch.h>

#include "../harness.hpp"

namespace {

// dlib's face descriptor network (the architecture of bijgan::engines::dlib_resnet) with
// random weights: the same work per image, for the images/s comparison.
struct face_net {
  struct unit {
    torch::Tensor w, b;
    long stride;
  };
  std::vector<std::pair<unit, unit>> blocks;
  std::vector<bool> down;
  unit stem;
  torch::Tensor fc;
  static unit make(long cin, long cout, long k, long stride) {
    return {torch::randn({cout, cin, k, k}) * std::sqrt(2.0 / double(cin * k * k)), torch::zeros({cout}), stride};
  }
  face_net() {
    stem = make(3, 32, 7, 2);
    long c = 32;
    for (auto [cout, n] : {std::pair<long, int>{32, 3}, {64, 4}, {128, 3}, {256, 3}, {256, 1}}) {
      for (int i = 0; i < n; ++i) {
        const bool d = (i == 0 && cout != 32);
        blocks.push_back({make(c, cout, 3, d ? 2 : 1), make(cout, cout, 3, 1)});
        down.push_back(d);
        c = cout;
      }
    }
    fc = torch::randn({256, 128}) / 16;
  }
  static torch::Tensor run(const unit& u, const torch::Tensor& x) {
    return torch::conv2d(x, u.w, u.b, u.stride, u.stride == 1 ? 1 : 0);
  }
  torch::Tensor forward(const torch::Tensor& img) const {
    auto x = torch::relu(run(stem, img));
    x = torch::max_pool2d(x, 3, 2);
    for (size_t i = 0; i < blocks.size(); ++i) {
      auto main = run(blocks[i].second, torch::relu(run(blocks[i].first, x)));
      auto sc = x;
      if (down[i]) {
        sc = torch::avg_pool2d(x, 2, 2);
        if (main.size(1) > sc.size(1)) sc = torch::constant_pad_nd(sc, {0, 0, 0, 0, 0, main.size(1) - sc.size(1)});
        main = torch::constant_pad_nd(main, {0, sc.size(3) - main.size(3), 0, sc.size(2) - main.size(2)});
      }
      x = torch::relu(main + sc);
    }
    return torch::matmul(x.mean({2, 3}), fc);
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int threads = bench::threads_arg(argc, argv);
  torch::set_num_threads(threads);
  torch::manual_seed(1);
  torch::NoGradGuard ng;
  for (long n : {256L, 512L, 1024L, 2048L}) {
    auto a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
    bench::report("gemm_" + std::to_string(n), "libtorch", threads, bench::time_it([&] { torch::mm_out(c, a, b); }),
                  2.0 * n * n * n, "GFLOP/s-e9");
  }
  const long r = 4096, cdim = 1024;
  const double bytes = double(r) * cdim * 4;
  auto x = torch::randn({r, cdim}), y = torch::randn({r, cdim}), bias = torch::randn({cdim});
  bench::report("add_4096x1024", "libtorch", threads, bench::time_it([&] { (void)(x + y); }), 3 * bytes, "GB/s-e9");
  bench::report("bias_add_4096x1024", "libtorch", threads, bench::time_it([&] { (void)(x + bias); }), 2 * bytes,
                "GB/s-e9");
  {
    // Per-channel broadcast on NCHW (conv bias, PReLU slopes): (32, 64, 28, 28) + (64, 1, 1),
    // and the small-image case (32, 128, 7, 7) + (128, 1, 1).
    auto f = torch::randn({32, 64, 28, 28}), cb = torch::randn({64, 1, 1});
    auto g = torch::randn({32, 128, 7, 7}), gb = torch::randn({128, 1, 1});
    bench::report("channel_bias_32x64x28x28", "libtorch", threads, bench::time_it([&] { (void)(f + cb); }),
                  2.0 * f.numel() * 4, "GB/s-e9");
    bench::report("channel_bias_32x128x7x7", "libtorch", threads, bench::time_it([&] { (void)(g + gb); }),
                  2.0 * g.numel() * 4, "GB/s-e9");
  }
  bench::report("exp_4096x1024", "libtorch", threads, bench::time_it([&] { (void)x.exp(); }), 2 * bytes, "GB/s-e9");
  bench::report("sum_all_4096x1024", "libtorch", threads, bench::time_it([&] { (void)x.sum(); }), bytes, "GB/s-e9");
  bench::report("sum_rows_4096x1024", "libtorch", threads, bench::time_it([&] { (void)x.sum(1); }), bytes, "GB/s-e9");
  bench::report("sum_cols_4096x1024", "libtorch", threads, bench::time_it([&] { (void)x.sum(0); }), bytes, "GB/s-e9");
  {
    torch::AutoGradMode on(true);
    const int nodes = 100;
    auto p = torch::full({4}, 0.5f, torch::requires_grad());
    auto chain = [&] {
      auto v = p;
      for (int i = 0; i < nodes / 2; ++i) v = torch::tanh(v * 1.01f);
      return v;
    };
    const auto fwd = bench::time_it([&] { (void)chain(); });
    const auto both = bench::time_it([&] {
      chain().sum().backward();
      p.mutable_grad() = torch::Tensor();
    });
    bench::report("autodiff_fwd_per_node_us", "libtorch", threads,
                  {fwd.median_ms * 1e3 / nodes, fwd.min_ms * 1e3 / nodes}, 0, "us");
    bench::report("autodiff_fwdbwd_per_node_us", "libtorch", threads,
                  {both.median_ms * 1e3 / nodes, both.min_ms * 1e3 / nodes}, 0, "us");
  }
  // The nn workloads of ../shared/anchors (bench/nn_bench.cpp runs the same in bijgan).
  for (auto [name, n, cin, cout, h, input_grad] :
       {std::tuple<const char*, long, long, long, long, bool>{"conv64", 32, 64, 64, 32, true},
        {"conv3", 32, 3, 64, 64, false}}) {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(cin, cout, 3).padding(1));
    auto x = torch::randn({n, cin, h, h}), gy = torch::randn({n, cout, h, h});
    const double f = 2.0 * n * cin * cout * 9 * h * h;
    bench::report(std::string(name) + "_fwd", "libtorch", threads, bench::time_it([&] { (void)conv(x); }), f,
                  "GFLOP/s-e9");
    torch::AutoGradMode on(true);
    x.requires_grad_(input_grad);
    bench::report(std::string(name) + "_fwdbwd", "libtorch", threads, bench::time_it([&] {
                    for (auto& p : conv->parameters()) p.mutable_grad() = torch::Tensor();
                    if (input_grad) x.mutable_grad() = torch::Tensor();
                    conv(x).backward(gy);
                  }),
                  f * (input_grad ? 3 : 2), "GFLOP/s-e9");
  }
  {
    const long B = 16, L = 256, D = 256;
    torch::nn::MultiheadAttention attn(torch::nn::MultiheadAttentionOptions(D, 4));
    auto x = torch::randn({L, B, D}), g = torch::randn({L, B, D});
    const double fwd = 2.0 * B * L * (4.0 * D * D + 2.0 * L * D);
    bench::report("mha_fwd", "libtorch", threads,
                  bench::time_it([&] { (void)std::get<0>(attn->forward(x, x, x, {}, false)); }), fwd, "GFLOP/s-e9");
    torch::AutoGradMode on(true);
    x.requires_grad_(true);
    bench::report("mha_fwdbwd", "libtorch", threads, bench::time_it([&] {
                    for (auto& p : attn->parameters()) p.mutable_grad() = torch::Tensor();
                    x.mutable_grad() = torch::Tensor();
                    std::get<0>(attn->forward(x, x, x, {}, false)).backward(g);
                  }),
                  3 * fwd, "GFLOP/s-e9");
  }
  for (auto [name, count] : {std::pair<const char*, long>{"adam_10M_1x10M", 1}, {"adam_10M_100x100k", 100}}) {
    const long total = 10'000'000, each = total / count;
    std::vector<torch::Tensor> params;
    for (long i = 0; i < count; ++i) {
      auto p = torch::randn({each}).requires_grad_();
      p.mutable_grad() = torch::randn({each}) * 1e-3;
      params.push_back(p);
    }
    torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-3));
    bench::report(name, "libtorch", threads, bench::time_it([&] { opt.step(); }), 7.0 * 4 * total, "GB/s-e9");
  }
  {
    face_net net;
    auto imgs = torch::rand({16, 3, 150, 150});
    bench::report("face_engine_150_b16", "libtorch", threads, bench::time_it([&] { (void)net.forward(imgs); }, 5), 16,
                  "images/s");
  }
  {
    const int nodes = 100;
    auto p = torch::full({4}, 0.5f);
    const auto plain = bench::time_it([&] {
      auto v = p;
      for (int i = 0; i < nodes / 2; ++i) v = torch::tanh(v * 1.01f);
    });
    bench::report("no_grad_per_op_us", "libtorch", threads, {plain.median_ms * 1e3 / nodes, plain.min_ms * 1e3 / nodes},
                  0, "us");
  }
  {
    // The anchors' RealNVP coupling (bench/flow_bench.cpp runs the same in bijgan): 32x3x32x32,
    // checkerboard mask b, conditioner conv3x3 3->64, relu, 64->64, relu, 64->64, relu, 64->6;
    // s = scale*tanh(s_raw)*(1-b), t = shift*t_raw*(1-b), y = b*x + (1-b)*(x*exp(s) + t).
    const long n = 32, c = 3, hw = 32, w = 64;
    auto conv = [](long i, long o) { return torch::nn::Conv2d(torch::nn::Conv2dOptions(i, o, 3).padding(1)); };
    torch::nn::Sequential net(conv(c, w), torch::nn::ReLU(), conv(w, w), torch::nn::ReLU(), conv(w, w),
                              torch::nn::ReLU(), conv(w, 2 * c));
    auto scale = torch::ones({1, c, 1, 1}).requires_grad_(), shift = torch::ones({1, c, 1, 1}).requires_grad_();
    auto ii = torch::arange(hw).view({hw, 1}), jj = torch::arange(hw).view({1, hw});
    auto b = ((ii + jj) % 2 == 0).to(torch::kFloat).view({1, 1, hw, hw});
    auto st = [&](const torch::Tensor& v) {
      auto h = net->forward(v * b).chunk(2, 1);
      return std::pair{scale * torch::tanh(h[0]) * (1 - b), shift * h[1] * (1 - b)};
    };
    auto forward = [&](const torch::Tensor& x) {
      auto [s, t] = st(x);
      return std::pair{b * x + (1 - b) * (x * torch::exp(s) + t), s.flatten(1).sum(1)};
    };
    auto x = torch::randn({n, c, hw, hw});
    const double f = 2.0 * n * hw * hw * 9 * (c * w + 2 * w * w + w * 2 * c);
    {
      torch::NoGradGuard ng;
      bench::report("coupling_fwd", "libtorch", threads, bench::time_it([&] { (void)forward(x); }), f, "GFLOP/s-e9");
    }
    torch::AutoGradMode grad_on(true);  // the peer runs in no-grad mode by default
    x.requires_grad_(true);
    bench::report("coupling_fwdbwd", "libtorch", threads, bench::time_it([&] {
                    for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
                    scale.mutable_grad() = torch::Tensor();
                    shift.mutable_grad() = torch::Tensor();
                    x.mutable_grad() = torch::Tensor();
                    auto [y, ld] = forward(x);
                    (0.5 * y.pow(2).flatten(1).sum(1) - ld).mean().backward();
                  }),
                  3 * f, "GFLOP/s-e9");
    x.requires_grad_(false);
    torch::NoGradGuard ng;
    const auto y = forward(x).first;
    bench::report("coupling_inverse", "libtorch", threads, bench::time_it([&] {
                    auto [s, t] = st(y);
                    (void)(b * y + (1 - b) * ((y - t) * torch::exp(-s)));
                  }),
                  f, "GFLOP/s-e9");
  }
  {
    // The anchors' WGAN-GP workloads (bench/gan_bench.cpp runs the same in bijgan), batch 64,
    // 3x32x32: critic conv4x4s2 3->64->128->256 + LeakyReLU 0.2, linear 4096->1; generator
    // linear 128->4096 + BN + ReLU, convT4x4s2 256->128->64->3 with BN/ReLU, tanh; Adam(1e-4, 0/0.9).
    torch::AutoGradMode grad_on(true);
    namespace tnn = torch::nn;
    const long N = 64, Z = 128;
    auto conv = [](long i, long o) { return tnn::Conv2d(tnn::Conv2dOptions(i, o, 4).stride(2).padding(1)); };
    auto lrelu = [] { return tnn::LeakyReLU(tnn::LeakyReLUOptions().negative_slope(0.2)); };
    tnn::Sequential D(conv(3, 64), lrelu(), conv(64, 128), lrelu(), conv(128, 256), lrelu(), tnn::Flatten(),
                      tnn::Linear(4096, 1));
    auto up = [](long i, long o) {
      return tnn::ConvTranspose2d(tnn::ConvTranspose2dOptions(i, o, 4).stride(2).padding(1));
    };
    tnn::Sequential fc(tnn::Linear(Z, 4096), tnn::BatchNorm1d(4096), tnn::ReLU());
    tnn::Sequential net(up(256, 128), tnn::BatchNorm2d(128), tnn::ReLU(), up(128, 64), tnn::BatchNorm2d(64),
                        tnn::ReLU(), up(64, 3), tnn::Tanh());
    auto G = [&](const torch::Tensor& z) { return net->forward(fc->forward(z).view({-1, 256, 4, 4})); };
    std::vector<torch::Tensor> gp_params = fc->parameters();
    for (auto& p : net->parameters()) gp_params.push_back(p);
    torch::optim::Adam opt_d(D->parameters(), torch::optim::AdamOptions(1e-4).betas({0.0, 0.9}));
    torch::optim::Adam opt_g(gp_params, torch::optim::AdamOptions(1e-4).betas({0.0, 0.9}));
    auto real = torch::rand({N, 3, 32, 32}) * 2 - 1;
    bench::report("wgan_critic_step", "libtorch", threads,
                  bench::time_it(
                      [&] {
                        torch::Tensor fake;
                        {
                          torch::NoGradGuard off;
                          fake = G(torch::randn({N, Z}));
                        }
                        opt_d.zero_grad();
                        auto d_real = D->forward(real).mean(), d_fake = D->forward(fake).mean();
                        auto eps = torch::rand({N, 1, 1, 1});
                        auto xhat = (eps * real + (1 - eps) * fake).requires_grad_(true);
                        auto d_hat = D->forward(xhat);
                        auto g = torch::autograd::grad({d_hat}, {xhat}, {torch::ones_like(d_hat)}, true, true)[0];
                        auto gp = (g.flatten(1).norm(2, 1) - 1).pow(2).mean();
                        (d_fake - d_real + 10 * gp).backward();
                        opt_d.step();
                      },
                      7),
                  0, "-");
    bench::report("wgan_gen_step", "libtorch", threads,
                  bench::time_it(
                      [&] {
                        for (auto& p : D->parameters()) p.requires_grad_(false);
                        opt_g.zero_grad();
                        (-D->forward(G(torch::randn({N, Z}))).mean()).backward();
                        opt_g.step();
                        for (auto& p : D->parameters()) p.requires_grad_(true);
                      },
                      7),
                  0, "-");
  }
}
