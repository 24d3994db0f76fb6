// test_cuda: the CUDA backend against the host backend: the typed parity suite shared with
// test_parity (tests/backend/parity_suite.hpp: every op, module, bijection, loss, model,
// optimizer, checkpoint and fit_gan) plus the device's own cases (allocator reuse, the Philox
// stream, errors from CUDA). Compiled by nvcc in every build with CUDA; where no device (or no
// driver) is present the executable says so and exits 77, which CTest reports as skipped.
#define BOOST_TEST_MODULE bijgan_cuda
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/testing/backend_parity.hpp>

#include <cstdio>
#include <tuple>

using namespace bijgan;
using device = bijgan::cuda_device;
using parity_device = bijgan::cuda_device;
#include "../parity_suite.hpp"

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
  rng g(seed);
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
    rng gh(77), gd(77);
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

// A repeated training step of the same shapes takes every device block from the cache.
BOOST_AUTO_TEST_CASE(steady_state_steps_call_no_cudaMalloc) {
  nn::manual_seed(3);
  models::dabgan<parity::tiny>::generator<float, device> g;
  optim::adam<float, device> opt(nn::parameters(g), {.lr = 1e-3});
  const auto f = to<device>(normal({8, 6}, 4));
  const auto v = to<device>(normal({8, 3}, 5));
  const auto step = [&] {
    nn::zero_grad(g);
    backward(sum(square(g(constant(f), constant(v)))));
    opt.step();
  };
  step();
  step();
  device::synchronize();
  const auto& cache = cuda_detail::caching_allocator::get();
  const auto before = cache.source_allocations();
  for (int i = 0; i < 5; ++i) step();
  device::synchronize();
  BOOST_TEST(cache.source_allocations() == before,
             "cudaMalloc calls in 5 warm steps: " << cache.source_allocations() - before);
}

// CUDA and cuBLAS failures arrive as backend_error naming the call and the code.
BOOST_AUTO_TEST_CASE(errors_name_the_call_and_the_code) {
  try {
    BIJGAN_CUDA_CHECK(cudaSetDevice(9999));
    BOOST_FAIL("cudaSetDevice(9999) did not throw");
  } catch (const backend_error& e) {
    const std::string what = e.what();
    BOOST_TEST(what.find("cudaSetDevice(9999)") != std::string::npos, what);
    BOOST_TEST(what.find("cudaErrorInvalidDevice") != std::string::npos, what);
  }
  // More than the device holds: the cache is released, the retry fails, and the error says so.
  BOOST_CHECK_THROW((tensor<float, device>::zeros(shape{index_t{1} << 40})), backend_error);
  try {
    BIJGAN_CUDA_CHECK(
        cublasSgemm(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, nullptr, nullptr, 1, nullptr, 1, nullptr, nullptr, 1));
    BOOST_FAIL("cublasSgemm on a null handle did not throw");
  } catch (const backend_error& e) {
    BOOST_TEST(std::string(e.what()).find("CUBLAS_STATUS_NOT_INITIALIZED") != std::string::npos, e.what());
  }
}

int main(int argc, char* argv[]) {
  if (device::device_count() == 0) {
    std::printf("test_cuda: no CUDA device or driver here; all CUDA test cases skipped\n");
    return 77;
  }
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
