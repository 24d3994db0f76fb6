// test_cuda: the CUDA backend against the host backend (same inputs, results and gradients
// compared with per-type tolerance). Compiled by nvcc in every build with CUDA; where no
// device (or no driver) is present the executable says so and exits 77, which CTest reports
// as skipped.
#define BOOST_TEST_MODULE bijgan_cuda
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/testing/backend_parity.hpp>

#include <cstdio>
#include <tuple>

using namespace bijgan;
// CCCL declares a global namespace ::cuda, so with `using namespace bijgan` the backend must be
// named in full (docs/pitfalls.md).
using device = bijgan::cuda;

namespace {

template <class T>
double max_diff(const tensor<T, device>& d, const tensor<T, host>& h) {
  BOOST_TEST(d.shape() == h.shape());
  const auto a = d.to_vector(), b = h.to_vector();
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
  return worst;
}

tensor<float, host> normal(const shape& s, std::uint64_t seed) {
  generator g(seed);
  return tensor<float, host>::random(s, g, {distribution::normal, 0, 1});
}

}  // namespace

BOOST_AUTO_TEST_CASE(round_trip_and_allocator_reuse) {
  const auto h = normal({17, 5}, 1);
  const auto d = to<device>(h);
  BOOST_TEST(max_diff(d, h) == 0.0);
  BOOST_TEST(to<host>(d).to_vector() == h.to_vector());
  const auto before = cuda_detail::caching_allocator::get().bytes_cached();
  { auto tmp = tensor<float, device>::zeros({1024}); }
  BOOST_TEST(cuda_detail::caching_allocator::get().bytes_cached() >= before + 4096);
}

BOOST_AUTO_TEST_CASE(elementwise_reductions_gemm_match_host) {
  const auto a = normal({4, 3, 5}, 2), b = normal({3, 1}, 3);
  const auto da = to<device>(a), db = to<device>(b);
  BOOST_TEST(max_diff(apply(fn::mul{}, da, db), apply(fn::mul{}, a, b)) < 1e-6);
  BOOST_TEST(max_diff(apply(fn::gelu{}, da), apply(fn::gelu{}, a)) < 1e-6);
  for (const std::vector<index_t>& axes : {std::vector<index_t>{}, {0}, {1}, {2}, {0, 2}})
    for (auto k : {reduce_kind::sum, reduce_kind::max, reduce_kind::min})
      BOOST_TEST(max_diff(reduce(k, da, axes, false), reduce(k, a, axes, false)) < 1e-5);
  const std::vector<index_t> perm{2, 0, 1};
  BOOST_TEST(max_diff(permute(da, perm), permute(a, perm)) == 0.0);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const auto x = normal(ta ? shape{2, 7, 6} : shape{2, 6, 7}, 4), y = normal(tb ? shape{5, 7} : shape{7, 5}, 5);
      BOOST_TEST(max_diff(matmul(to<device>(x), to<device>(y), ta, tb), matmul(x, y, ta, tb)) < 1e-4);
    }
}

BOOST_AUTO_TEST_CASE(same_philox_stream_on_both_backends) {
  for (auto kind : {distribution::uniform, distribution::normal, distribution::truncated_normal}) {
    generator gh(77), gd(77);
    const auto h = tensor<float, host>::random({4096}, gh, {kind, 0, 1});
    const auto d = tensor<float, device>::random({4096}, gd, {kind, 0, 1});
    BOOST_TEST(max_diff(d, h) < (kind == distribution::uniform ? 0.0 + 1e-7 : 1e-4));
  }
}

BOOST_AUTO_TEST_CASE(readme_example_and_double_backprop_on_device) {
  const auto xh = normal({16, 8}, 6), wh = normal({8, 4}, 7);
  auto run = [&](auto x, auto w, auto b) {
    auto y = gelu(matmul(x, w) + b);
    backward(sum(y));
    return std::pair{w.grad(), b.grad()};
  };
  const auto [gw_h, gb_h] = run(constant(xh), parameter(wh), parameter(tensor<float, host>::zeros({4})));
  const auto [gw_d, gb_d] =
      run(constant(to<device>(xh)), parameter(to<device>(wh)), parameter(tensor<float, device>::zeros({4})));
  BOOST_TEST(max_diff(gw_d, gw_h) < 1e-4);
  BOOST_TEST(max_diff(gb_d, gb_h) < 1e-4);
  // d^3/dx^3 sum(x^3) = 6.
  auto x = parameter(to<device>(normal({8}, 8)));
  auto g1 = grad(sum(x * x * x), x, {.create_graph = true});
  auto g2 = grad(sum(g1), x, {.create_graph = true});
  auto g3 = grad(sum(g2), x);
  for (float v : g3.value().to_vector()) BOOST_TEST(std::abs(v - 6.0f) < 1e-5f);
}

// Every differentiable op on both backends: same inputs, forward values and gradients compared.
BOOST_AUTO_TEST_CASE(every_op_matches_host_forward_and_backward) {
  const auto mask = [](const auto& like) {
    using B = typename std::decay_t<decltype(like)>::backend_type;
    return to<B>(tensor<float, host>::from(std::vector<float>{1, 0, 1, 0}, {4}));
  };
  const auto ops = std::make_tuple(
      [](const auto& v) { return v[0] + v[1] * 2.0f - v[0] / v[1]; },
      [](const auto& v) { return exp(v[0]) + log(v[0]) + log1p(v[0]) + sqrt(v[0]) + rsqrt(v[0]); },
      [](const auto& v) { return pow(v[0], 1.5f) + pow(v[0], v[1]) + abs(-v[0]) + square(v[0]); },
      [](const auto& v) { return erf(v[0]) + tanh(v[0]) + sigmoid(v[0]) + relu(v[0] - 1.0f); },
      [](const auto& v) { return leaky_relu(v[0] - 1.0f, 0.2f) + gelu(v[0]) + softplus(v[0]) + clamp(v[0], 0.7f, 1.5f); },
      [](const auto& v) { return sum(v[0], {0}, true) + mean(v[0], {1}, true) + max(v[0], {1}, true); },
      [](const auto& v) { return min(v[0]) + variance(v[0]) + logsumexp(v[0]) + sum(softmax(v[0], 0) * log_softmax(v[0], 1)); },
      [](const auto& v) { return matmul(v[0], v[1], false, true) + sum(matmul(v[0], v[1], true, false)); },
      [](const auto& v) { return sum(matmul(reshape(v[0], {2, 2, 3}), transpose(reshape(v[1], {3, 4}))), {0}); },
      [](const auto& v) { return concat(std::vector{slice(v[0], 1, 1, 3), permute(v[1], {0, 1})}, 1); },
      [](const auto& v) { return sum(stack(std::vector{v[0], v[1]}, 1), {1}) + sum(pad(v[0], {1, 0, 0, 2}, 0.5f)); },
      [&](const auto& v) { return where(mask(v[0].value()), v[0], v[1]) + broadcast_to(sum_to(v[0], {1, 4}), {3, 4}); },
      [](const auto& v) { return l2_norm(v[0], {1}) + cosine_similarity(v[0], v[1]); });
  generator g(31);
  const std::vector<tensor<float, host>> inputs{tensor<float, host>::random({3, 4}, g, {distribution::uniform, 0.5f, 2.0f}),
                                                tensor<float, host>::random({3, 4}, g, {distribution::uniform, 0.5f, 2.0f})};
  std::size_t index = 0;
  std::apply([&](const auto&... op) {
    ([&] {
      const auto r = testing::compare_backends<device>(op, inputs);
      BOOST_TEST(r.passed, "op " << index << ": " << r.message);
      ++index;
    }(), ...);
  }, ops);
}

BOOST_AUTO_TEST_CASE(window_resampling_and_index_ops_match_host) {
  const auto ops = std::make_tuple(
      [](const auto& v) { return conv2d(v[0], v[1], {}, {.stride = 2, .padding = 1}); },
      [](const auto& v) { return conv2d(v[0], v[1], {}, {.padding = 1}); },
      [](const auto& v) { return conv_transpose2d(v[0], permute(v[1], {1, 0, 2, 3}), {}, {.stride = 2, .padding = 1, .output_padding = 1}); },
      [](const auto& v) { return max_pool2d(v[0], {.kernel = 3, .stride = 2, .padding = 1}) + avg_pool2d(v[0], {.kernel = 3, .stride = 2, .padding = 1}); },
      [](const auto& v) { return resize(v[0], 9, 5, interpolation::bicubic) + upsample(slice(v[0], 2, 0, 3), 3); },
      [](const auto& v) { return pixel_unshuffle(pixel_shuffle(v[0], 1), 2); },
      [](const auto& v) {
        using B = typename std::decay_t<decltype(v[0])>::backend_type;
        return index_select(reshape(v[1], {4, 27}), index_list<B>({3, 0, 0, 2}));
      });
  generator g(41);
  const std::vector<tensor<float, host>> inputs{tensor<float, host>::random({2, 3, 6, 6}, g, {distribution::normal, 0, 1}),
                                                tensor<float, host>::random({4, 3, 3, 3}, g, {distribution::normal, 0, 1})};
  std::size_t index = 0;
  std::apply([&](const auto&... op) {
    ([&] {
      const auto r = testing::compare_backends<device>(op, inputs);
      BOOST_TEST(r.passed, "window op " << index << ": " << r.message);
      ++index;
    }(), ...);
  }, ops);
}

BOOST_AUTO_TEST_CASE(modules_and_optimizers_run_on_device) {
  nn::manual_seed(5);
  nn::multi_head_attention<float, host> hm({.dim = 8, .heads = 2});
  nn::manual_seed(5);
  nn::multi_head_attention<float, device> dm({.dim = 8, .heads = 2});
  const auto x = normal({2, 5, 8}, 6);
  const auto yh = hm(constant(x));
  const auto yd = dm(constant(to<device>(x)));
  BOOST_TEST(max_diff(yd.value(), yh.value()) < 1e-4);
  // A whole host model moved to the device computes the same.
  nn::manual_seed(8);
  auto net = nn::conv2d<float, host>({.in = 3, .out = 4, .kernel = 3, .padding = 1}) | nn::act::relu{} |
             nn::batch_norm<float, host>({.channels = 4});
  auto dnet = nn::to<device>(net);
  const auto img = normal({2, 3, 5, 5}, 9);
  BOOST_TEST(max_diff(dnet(constant(to<device>(img))).value(), net(constant(img)).value()) < 1e-4);
  optim::adam<float, device> opt(nn::parameters(dm), {.lr = 0.1});
  backward(sum(square(dm(constant(to<device>(x))))));
  opt.step();
  BOOST_TEST(opt.steps() == 1);
}

BOOST_AUTO_TEST_CASE(distances_and_losses_match_host) {
  const auto ops = std::make_tuple(
      [](const auto& v) { return distances::gaussian_w2_samples(v[0], v[1]); },
      [](const auto& v) { return distances::gaussian_w2_samples(v[0], v[1], distances::covariance_form::diagonal); },
      [](const auto& v) {
        const auto a = distances::fit_gaussian(v[0]), b = distances::fit_gaussian(v[1]);
        return distances::gaussian_w2(a.mean, a.covariance, b.mean, b.covariance,
                                      {.method = distances::sqrtm_method::newton_schulz, .newton_schulz_iterations = 20});
      },
      [](const auto& v) { return losses::l1(v[0], v[1]) + losses::cosine_distill(v[0].value(), v[1]); });
  generator g(51);
  const std::vector<tensor<float, host>> inputs{tensor<float, host>::random({6, 3}, g, {distribution::normal, 0, 1}),
                                                tensor<float, host>::random({6, 3}, g, {distribution::normal, 0, 1})};
  std::size_t index = 0;
  std::apply([&](const auto&... op) {
    ([&] {
      const auto r = testing::compare_backends<device>(op, inputs, {.value_tol = 1e-3, .grad_tol = 1e-2});
      BOOST_TEST(r.passed, "loss " << index << ": " << r.message);
      ++index;
    }(), ...);
  }, ops);
}

int main(int argc, char* argv[]) {
  if (device::device_count() == 0) {
    std::printf("test_cuda: no CUDA device or driver here; all CUDA test cases skipped\n");
    return 77;
  }
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
