// The PyTorch twin of the faces step (issue 22 §1): examples/faces_lfw's 64x64 DAB-GAN step
// written in Debian's libtorch 1.13 the way a user would write it there — the same generator
// (pixel-normed [F(x); v] → 4x4 tokens; per stage a conditioned block with global or 16x16 grid
// self-attention and a relative position bias, cross-attention to 16 condition tokens, a GELU
// MLP; bicubic ×2 for three stages, then pixel-shuffle; a to-RGB per stage summed after nearest
// upsampling), the same TransGAN critic (patch tokens at 8, 16, 32, pooled tokens concatenated,
// a CLS token), the same frozen student (ResNet of 3 stages at 32x32), batch 32 = 16 identities
// × 2, Adam (0, 0.99), gradient clipping at norm 5, a generator EMA, and the same terms: the
// critic's WGAN-GP loss with drift, then adversarial + L1 reconstruction + feature distillation
// through the student. H (our bijection) has no twin in the step; `--parts` times it alone.
//
// Attention is composed (matmul, softmax, matmul) because that is what libtorch 1.13 offers
// (torch::nn::MultiheadAttention does the same); PyTorch 2.x's scaled_dot_product_attention is
// not in Debian. Prints the parameter counts (faces_bench prints ours: they must be equal),
// ms/step in the bench format and the peak RSS.
//   torch_faces_twin --threads N [--parts]
#include <sys/resource.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "../harness.hpp"

namespace {

namespace tnn = torch::nn;
using torch::Tensor;

constexpr long feature_dim = 128, noise_dim = 32, embed = 64, heads = 4, window = 16, bicubic_stages = 3;
constexpr long critic_patch = 8, critic_embed = 64, batch = 32;

tnn::Linear linear(long in, long out, bool bias = true) { return tnn::Linear(tnn::LinearOptions(in, out).bias(bias)); }
Tensor pixel_norm(const Tensor& x) { return x * torch::rsqrt(x.square().mean(1, true) + 1e-8); }
/// (N, r*r, d) tokens <-> (N, d, r, r) maps.
Tensor tokens_to_map(const Tensor& x, long r) { return x.permute({0, 2, 1}).reshape({x.size(0), x.size(2), r, r}); }
Tensor map_to_tokens(const Tensor& m) {
  return m.reshape({m.size(0), m.size(1), m.size(2) * m.size(3)}).permute({0, 2, 1});
}

struct mha_impl : tnn::Module {
  long dim, h;
  tnn::Linear q{nullptr}, kv{nullptr}, proj{nullptr};
  mha_impl(long dim_, long heads_, long context) : dim(dim_), h(heads_) {
    q = register_module("q", linear(dim, dim, false));
    kv = register_module("kv", linear(context, 2 * dim, false));
    proj = register_module("proj", linear(dim, dim));
  }
  Tensor forward(const Tensor& x, const Tensor& context, const Tensor& bias = {}) {
    const long n = x.size(0), lq = x.size(1), lk = context.size(1), dh = dim / h;
    const auto qh = q(x).view({n, lq, h, dh}).permute({0, 2, 1, 3});
    const auto kvh = kv(context).view({n, lk, 2, h, dh}).permute({2, 0, 3, 1, 4});
    auto s = torch::matmul(qh, kvh[0].transpose(-2, -1)) * (1.0 / std::sqrt(double(dh)));
    if (bias.defined()) s = s + bias;
    const auto out = torch::matmul(torch::softmax(s, -1), kvh[1]);
    return proj(out.permute({0, 2, 1, 3}).reshape({n, lq, dim}));
  }
};
TORCH_MODULE_IMPL(mha, mha_impl);

/// Grid self-attention in g x g windows with a learned relative position bias (window 0: global, no bias).
struct self_attention_impl : tnn::Module {
  long g;
  mha attn{nullptr};
  Tensor table, index;
  self_attention_impl(long dim, long g_) : g(g_) {
    attn = register_module("attn", mha(dim, heads, dim));
    if (g > 0) {
      table = register_parameter("table", torch::randn({(2 * g - 1) * (2 * g - 1), heads}) * 0.02);
      std::vector<long> idx;
      for (long a = 0; a < g * g; ++a)
        for (long b = 0; b < g * g; ++b) idx.push_back((a / g - b / g + g - 1) * (2 * g - 1) + (a % g - b % g + g - 1));
      index = torch::tensor(idx, torch::kLong);
    }
  }
  Tensor forward(const Tensor& x, long height, long width) {
    if (g == 0) return attn(x, x);
    const long n = x.size(0), d = x.size(2), t = g * g;
    const auto w = x.reshape({n, height / g, g, width / g, g, d}).permute({0, 1, 3, 2, 4, 5}).reshape({-1, t, d});
    const auto bias = table.index_select(0, index).view({t, t, heads}).permute({2, 0, 1});
    const auto y = attn(w, w, bias);
    return y.reshape({n, height / g, width / g, g, g, d}).permute({0, 1, 3, 2, 4, 5}).reshape({n, height * width, d});
  }
};
TORCH_MODULE_IMPL(self_attention, self_attention_impl);

struct mlp_impl : tnn::Module {
  tnn::Linear fc1{nullptr}, fc2{nullptr};
  explicit mlp_impl(long dim) {
    fc1 = register_module("fc1", linear(dim, 4 * dim));
    fc2 = register_module("fc2", linear(4 * dim, dim));
  }
  Tensor forward(const Tensor& x) { return fc2(torch::gelu(fc1(x))); }
};
TORCH_MODULE_IMPL(mlp, mlp_impl);

tnn::LayerNorm layer_norm(long d) { return tnn::LayerNorm(tnn::LayerNormOptions({d}).eps(1e-5)); }

/// Pre-norm block; with a context, cross-attention between self-attention and the MLP (DAB-GAN's injection).
struct block_impl : tnn::Module {
  tnn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm_cross{nullptr};
  self_attention attn{nullptr};
  mha cross{nullptr};
  mlp ffn{nullptr};
  block_impl(long dim, long g, long context) {
    norm1 = register_module("norm1", layer_norm(dim));
    attn = register_module("attn", self_attention(dim, g));
    norm2 = register_module("norm2", layer_norm(dim));
    ffn = register_module("ffn", mlp(dim));
    if (context > 0) {
      norm_cross = register_module("norm_cross", layer_norm(dim));
      cross = register_module("cross", mha(dim, heads, context));
    }
  }
  Tensor forward(const Tensor& x, long height, long width, const Tensor& context = {}) {
    auto y = x + attn(norm1(x), height, width);
    if (context.defined()) y = y + cross(norm_cross(y), context);
    return y + ffn(norm2(y));
  }
};
TORCH_MODULE_IMPL(block, block_impl);

long stage_width(int s) {
  long d = embed;
  for (int k = 2; k <= s; ++k)
    if (k - 1 > bicubic_stages) d /= 4;
  return d;
}

struct generator_impl : tnn::Module {
  static constexpr int stages = 5;  // 4, 8, 16, 32, 64
  tnn::Linear input{nullptr}, expand{nullptr};
  Tensor condition_position;
  std::vector<Tensor> position;
  std::vector<block> blocks;
  std::vector<tnn::Linear> to_rgb;
  generator_impl() {
    input = register_module("input", linear(feature_dim + noise_dim, 16 * embed));
    expand = register_module("expand", linear(feature_dim + noise_dim, 16 * embed));
    condition_position = register_parameter("condition_position", torch::randn({16, embed}) * 0.02);
    for (int s = 1; s <= stages; ++s) {
      const long r = 4L << (s - 1), d = stage_width(s);
      position.push_back(register_parameter("position" + std::to_string(s), torch::randn({r * r, d}) * 0.02));
      blocks.push_back(register_module("block" + std::to_string(s), block(d, r > window ? window : 0, embed)));
      to_rgb.push_back(register_module("to_rgb" + std::to_string(s), linear(d, 3)));
    }
  }
  Tensor forward(const Tensor& features, const Tensor& noise) {
    const long n = features.size(0);
    const auto c = torch::cat({pixel_norm(features), pixel_norm(noise)}, 1);
    const auto context = expand(c).view({n, 16, embed}) + condition_position;
    Tensor x = input(c).view({n, 16, embed}), rgb;
    for (int s = 1; s <= stages; ++s) {
      const long r = 4L << (s - 1);
      if (s > 1) {
        const auto m = tokens_to_map(x, r / 2);
        x = map_to_tokens(s - 1 <= bicubic_stages
                              ? torch::nn::functional::interpolate(m, torch::nn::functional::InterpolateFuncOptions()
                                                                          .scale_factor(std::vector<double>{2, 2})
                                                                          .mode(torch::kBicubic)
                                                                          .align_corners(false))
                              : torch::pixel_shuffle(m, 2));
        rgb = torch::upsample_nearest2d(rgb, std::vector<int64_t>{r, r});
      }
      x = x + position[size_t(s - 1)];
      x = blocks[size_t(s - 1)](x, r, r, context);
      const auto out = tokens_to_map(to_rgb[size_t(s - 1)](x), r);
      rgb = s == 1 ? out : rgb + out;
    }
    return (torch::tanh(rgb) + 1) * 0.5;
  }
};
TORCH_MODULE_IMPL(generator, generator_impl);

struct critic_impl : tnn::Module {
  static constexpr long grid = 64 / critic_patch;
  std::vector<tnn::Conv2d> patch;
  std::vector<Tensor> position;
  std::vector<block> blocks;
  std::vector<tnn::Linear> pooled;
  Tensor cls;
  block last{nullptr};
  tnn::LayerNorm norm{nullptr};
  tnn::Linear score{nullptr};
  critic_impl() {
    for (long k = 0; k < 3; ++k) {
      const long p = critic_patch << k, side = grid >> k, width = k == 0 ? critic_embed : critic_embed / 2;
      patch.push_back(
          register_module("patch" + std::to_string(k), tnn::Conv2d(tnn::Conv2dOptions(3, width, p).stride(p))));
      position.push_back(
          register_parameter("position" + std::to_string(k), torch::randn({side * side, critic_embed}) * 0.02));
      blocks.push_back(
          register_module("block" + std::to_string(k), block(critic_embed, side > window ? window : 0, 0)));
      if (k > 0)
        pooled.push_back(register_module("pooled" + std::to_string(k), linear(critic_embed, critic_embed / 2)));
    }
    cls = register_parameter("cls", torch::randn({1, 1, critic_embed}) * 0.02);
    last = register_module("last", block(critic_embed, 0, 0));
    norm = register_module("norm", layer_norm(critic_embed));
    score = register_module("score", linear(critic_embed, 1));
  }
  Tensor forward(const Tensor& x) {
    const long n = x.size(0);
    Tensor h;
    for (long k = 0; k < 3; ++k) {
      auto t = map_to_tokens(patch[size_t(k)](x));
      if (k > 0) {
        const auto down = map_to_tokens(torch::avg_pool2d(tokens_to_map(h, grid >> (k - 1)), 2));
        t = torch::cat({t, pooled[size_t(k - 1)](down)}, 2);
      }
      const long side = grid >> k;
      h = blocks[size_t(k)](t + position[size_t(k)], side, side);
    }
    const auto tokens = torch::cat({cls.expand({n, 1, critic_embed}), h}, 1);
    const auto out = norm(last(tokens, tokens.size(1), 1));
    return score(out.select(1, 0));
  }
};
TORCH_MODULE_IMPL(critic, critic_impl);

/// The student of faces_lfw: stem conv3x3 + BN + ReLU, 3 stages of two residual blocks (32, 64, 128), mean, linear.
struct residual_impl : tnn::Module {
  tnn::Conv2d conv1{nullptr}, conv2{nullptr}, skip{nullptr};
  tnn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  residual_impl(long in, long out, long stride) {
    conv1 = register_module("conv1", tnn::Conv2d(tnn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    bn1 = register_module("bn1", tnn::BatchNorm2d(out));
    conv2 = register_module("conv2", tnn::Conv2d(tnn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2 = register_module("bn2", tnn::BatchNorm2d(out));
    if (stride != 1 || in != out)
      skip = register_module("skip", tnn::Conv2d(tnn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
  }
  Tensor forward(const Tensor& x) {
    const auto h = bn2(conv2(torch::relu(bn1(conv1(x)))));
    return torch::relu(h + (skip ? skip(x) : x));
  }
};
TORCH_MODULE_IMPL(residual, residual_impl);

struct student_impl : tnn::Module {
  tnn::Conv2d stem{nullptr};
  tnn::BatchNorm2d stem_bn{nullptr};
  std::vector<residual> blocks;
  tnn::Linear head{nullptr};
  student_impl() {
    stem = register_module("stem", tnn::Conv2d(tnn::Conv2dOptions(3, 32, 3).padding(1).bias(false)));
    stem_bn = register_module("stem_bn", tnn::BatchNorm2d(32));
    for (long s = 0; s < 3; ++s) {
      const long in = s == 0 ? 32 : 32 << (s - 1), out = 32 << s;
      blocks.push_back(register_module("block" + std::to_string(2 * s), residual(in, out, 2)));
      blocks.push_back(register_module("block" + std::to_string(2 * s + 1), residual(out, out, 1)));
    }
    head = register_module("head", linear(128, feature_dim));
  }
  /// Stage outputs, then the features last.
  std::vector<Tensor> stages(const Tensor& x) {
    std::vector<Tensor> out;
    auto h = torch::relu(stem_bn(stem(x)));
    for (size_t b = 0; b < blocks.size(); b += 2) out.push_back(h = blocks[b + 1](blocks[b](h)));
    out.push_back(head(h.mean({2, 3})));
    return out;
  }
};
TORCH_MODULE_IMPL(student, student_impl);

// RealNVP multiscale H (flows::realnvp_multiscale, 4 scales of 32 maps, 1 block), for --parts.
struct coupling_impl : tnn::Module {
  tnn::Conv2d head{nullptr}, first{nullptr}, second{nullptr}, tail{nullptr};
  Tensor scale, shift;
  bool checkerboard;
  int parity;
  coupling_impl(long c, bool cb, int par) : checkerboard(cb), parity(par) {
    auto conv = [](long i, long o) { return tnn::Conv2d(tnn::Conv2dOptions(i, o, 3).padding(1)); };
    head = register_module("head", conv(c, 32));
    first = register_module("first", conv(32, 32));
    second = register_module("second", conv(32, 32));
    tail = register_module("tail", conv(32, 2 * c));
    scale = register_parameter("scale", torch::zeros({c, 1, 1}));
    shift = register_parameter("shift", torch::zeros({c, 1, 1}));
  }
  std::pair<Tensor, Tensor> forward(const Tensor& x) {
    const long c = x.size(1);
    Tensor b;
    if (checkerboard) {
      auto i = torch::arange(x.size(2)).view({-1, 1}), j = torch::arange(x.size(3)).view({1, -1});
      b = ((i + j + parity) % 2 == 0).to(torch::kFloat).view({1, 1, x.size(2), x.size(3)});
    } else {
      b = torch::zeros({1, c, 1, 1});
      b.narrow(1, parity ? c / 2 : 0, c / 2).fill_(1);
    }
    auto h = head(b * x);
    h = h + second(torch::relu(first(torch::relu(h))));
    h = tail(torch::relu(h));
    const auto s = scale * torch::tanh(h.narrow(1, 0, c)) * (1 - b), t = shift * h.narrow(1, c, c) * (1 - b);
    return {b * x + (1 - b) * (x * torch::exp(s) + t), s.sum({1, 2, 3})};
  }
};
TORCH_MODULE_IMPL(coupling, coupling_impl);

struct flow_impl : tnn::Module {
  std::vector<std::vector<coupling>> scales;  // per scale: 3 checkerboard, 3 channel (the last: 4 checkerboard)
  flow_impl() {
    long c = 3;
    for (int s = 0; s < 4; ++s) {
      std::vector<coupling> steps;
      const int count = s < 3 ? 3 : 4;
      for (int k = 0; k < count; ++k)
        steps.push_back(register_module("s" + std::to_string(s) + "cb" + std::to_string(k), coupling(c, true, k % 2)));
      if (s < 3)
        for (int k = 0; k < 3; ++k)
          steps.push_back(
              register_module("s" + std::to_string(s) + "ch" + std::to_string(k), coupling(4 * c, false, k % 2)));
      scales.push_back(std::move(steps));
      c *= 2;
    }
  }
  std::pair<Tensor, Tensor> forward(const Tensor& y) {
    const double alpha = 0.05;
    const auto p = y * (1 - 2 * alpha) + alpha;
    auto z = torch::log(p) - torch::log1p(-p);
    auto logdet = (-(torch::log(p) + torch::log1p(-p))).flatten(1).sum(1);
    std::vector<Tensor> parts;
    for (size_t s = 0; s < scales.size(); ++s) {
      for (size_t k = 0; k < scales[s].size(); ++k) {
        if (s + 1 < scales.size() && k == 3) z = torch::pixel_unshuffle(z, 2);
        auto [out, ld] = scales[s][k](z);
        z = out, logdet = logdet + ld;
      }
      if (s + 1 < scales.size()) {
        const long c = z.size(1);
        parts.push_back(z.narrow(1, 0, c / 2).flatten(1));
        z = z.narrow(1, c / 2, c - c / 2);
      }
    }
    parts.push_back(z.flatten(1));
    return {torch::cat(parts, 1), logdet};
  }
};
TORCH_MODULE_IMPL(flow, flow_impl);

long count(const tnn::Module& m) {
  long n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = bench::threads_arg(argc, argv);
  const bool parts =
      argc > 1 && std::any_of(argv + 1, argv + argc, [](const char* a) { return !std::strcmp(a, "--parts"); });
  torch::set_num_threads(threads);
  torch::manual_seed(3);
  rng g;
  critic d;
  student f;
  f->eval();
  for (auto& p : f->parameters()) p.requires_grad_(false);
  std::printf("# parameters: generator %ld, critic %ld, student %ld\n", count(*g), count(*d), count(*f));

  // The data of faces_bench: 64 identities x 4 random faces with random descriptors.
  const auto images = torch::rand({256, 3, 64, 64}) * 0.96 + 0.02;
  const auto features = torch::randn({256, feature_dim});
  torch::optim::Adam opt_g(g->parameters(), torch::optim::AdamOptions(1e-3).betas({0.0, 0.99}));
  torch::optim::Adam opt_d(d->parameters(), torch::optim::AdamOptions(1e-3).betas({0.0, 0.99}));
  std::vector<Tensor> ema;
  {
    torch::NoGradGuard off;
    for (const auto& p : g->parameters()) ema.push_back(p.detach().clone());
  }
  long step = 0;
  // Batch rows: 16 identities x 2 of their 4 images.
  const auto draw = [&] {
    const auto ids = torch::randperm(64).narrow(0, 0, batch / 2) * 4;
    return torch::cat({ids, ids + 1 + torch::randint(3, {batch / 2}, torch::kLong)}).to(torch::kLong);
  };
  const auto to_student = [](const Tensor& x) {
    return torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                     .size(std::vector<int64_t>{32, 32})
                                                     .mode(torch::kBilinear)
                                                     .align_corners(false));
  };

  const auto critic_step = [&] {
    const auto rows = draw();
    const auto real = images.index_select(0, rows);
    Tensor fake;
    {
      torch::NoGradGuard off;
      fake = g(features.index_select(0, rows), torch::randn({batch, noise_dim}));
    }
    opt_d.zero_grad();
    const auto eps = torch::rand({batch, 1, 1, 1});
    const auto x = (eps * real + (1 - eps) * fake).requires_grad_(true);
    const auto gx = torch::autograd::grad({d(x).sum()}, {x}, {}, true, true)[0];
    const auto gp = (torch::sqrt(gx.flatten(1).square().sum(1) + 1e-12) - 1).square().mean();
    const auto d_real = d(real), d_fake = d(fake);
    const auto loss = d_fake.mean() - d_real.mean() + 10 * gp + 0.001 * d_real.square().mean();
    loss.backward();
    tnn::utils::clip_grad_norm_(d->parameters(), 5);
    opt_d.step();
    return loss.item<float>();
  };
  const auto generator_step = [&] {
    const auto rows = draw();
    const auto real = images.index_select(0, rows);
    opt_g.zero_grad();
    for (auto& p : d->parameters()) p.requires_grad_(false);
    const auto fake = g(features.index_select(0, rows), torch::randn({batch, noise_dim}));
    const auto adv = -d(fake).mean();
    const auto recon = (fake - real).abs().mean();
    std::vector<Tensor> target;
    {
      torch::NoGradGuard off;
      target = f->stages(to_student(real));
    }
    const auto mine = f->stages(to_student(fake));
    // Eq. 15 as losses::feature_distill: 10·E(1 − cos)² on the features, E‖Δ‖/size per stage.
    auto distill = 10 * (1 - torch::cosine_similarity(mine.back(), target.back(), 1)).square().mean();
    for (size_t j = 0; j + 1 < mine.size(); ++j) {
      const auto diff = (mine[j] - target[j]).flatten(1);
      distill = distill + torch::sqrt(diff.square().sum(1) + 1e-12).mean() / double(diff.size(1));
    }
    const auto loss = 0.02 * adv + recon + distill;  // the weights do not change the work
    loss.backward();
    for (auto& p : d->parameters()) p.requires_grad_(true);
    tnn::utils::clip_grad_norm_(g->parameters(), 5);
    opt_g.step();
    torch::NoGradGuard off;
    const double decay = std::min(0.999, (1.0 + double(step)) / (10.0 + double(step)));
    const auto ps = g->parameters();
    for (size_t i = 0; i < ps.size(); ++i) ema[i].lerp_(ps[i], 1 - decay);
    ++step;
    return loss.item<float>();
  };

  if (!parts) {
    for (int i = 0; i < 2; ++i) critic_step(), generator_step();  // warm-up, as faces_bench
    const auto t0 = std::chrono::steady_clock::now();
    const int steps = 5;
    for (int i = 0; i < steps; ++i) critic_step(), generator_step();
    const double ms = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps * 1e3;
    bench::report("dabgan64_step_b32_distill", "libtorch", threads, {ms, ms}, batch, "images/s");
  } else {
    const auto feats = features.narrow(0, 0, batch), noise = torch::randn({batch, noise_dim});
    const auto seed = torch::rand({batch, 3, 64, 64});
    bench::report("dabgan64_generator_fwdbwd_b32", "libtorch", threads,
                  bench::time_it(
                      [&] {
                        opt_g.zero_grad();
                        (g(feats, noise) * seed).mean().backward();
                      },
                      5),
                  batch, "images/s");
    bench::report("dabgan64_critic_step_b32", "libtorch", threads, bench::time_it([&] { critic_step(); }, 5), batch,
                  "images/s");
    student s;
    torch::optim::Adam opt_s(s->parameters(), torch::optim::AdamOptions(1e-3));
    const auto crops = torch::rand({batch, 3, 32, 32});
    bench::report("student_step_b32", "libtorch", threads, bench::time_it([&] {
                    opt_s.zero_grad();
                    (1 - torch::cosine_similarity(s->stages(crops).back(), feats, 1)).square().mean().backward();
                    opt_s.step();
                  }),
                  batch, "images/s");
    flow h;
    std::printf("# parameters: H %ld, student (trained) %ld\n", count(*h), count(*s));
    for (auto& p : h->parameters()) p.requires_grad_(false);
    const auto x = images.narrow(0, 0, batch).clone().requires_grad_(true);
    bench::report("flow_h64_fwdbwd_b32", "libtorch", threads,
                  bench::time_it(
                      [&] {
                        x.mutable_grad() = Tensor();
                        auto [z, ld] = h(x);
                        (0.5 * z.square().sum(1) - ld).mean().backward();
                      },
                      5),
                  batch, "images/s");
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::printf("# peak RSS %.1f MB\n", double(u.ru_maxrss) / 1024.0);
}
