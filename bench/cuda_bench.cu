// The CUDA backend's benchmarks (run where a device exists; elsewhere it says so and exits 77):
//   gemm_<n>      bijgan's matmul on device tensors vs raw cublasSgemm on the same buffers
//                 (target: >= 95 % of cuBLAS), GFLOP/s;
//   conv / attention / grid attention forward + backward, on the device vs our host backend;
//   dabgan64_full_step_b32  one DAB-GAN 64x64 training step at batch 32 with the whole objective
//                 (critic + GP, reconstruction, distillation through a student, bijective metric
//                 through H) through train::fit_gan, device vs host, images/s, and the device
//                 memory peak of the caching allocator.
// Same line format as the other bench programs: bench <name> <impl> <threads> <median_ms>
// <min_ms> <rate> <unit>; "# ratio" lines give device/host and bijgan/cuBLAS.
#include <bijgan/bijgan.hpp>
#include <bijgan/flows/flows.hpp>
#include <bijgan/models/models.hpp>
#include <bijgan/train/adversarial.hpp>

#include <sys/resource.h>

#include <cstdio>
#include <cstring>

#include "face_workload.hpp"
#include "harness.hpp"

using namespace bijgan;
using device = bijgan::cuda_device;

namespace {

using bench::face_cfg;
using bench::student_cfg;

void ratio(const char* what, double a_ms, double b_ms, const char* a, const char* b) {
  std::printf("# ratio %s: %s / %s time = %.3f (%s is %.2fx faster)\n", what, a, b, a_ms / b_ms, a_ms < b_ms ? a : b,
              a_ms < b_ms ? b_ms / a_ms : a_ms / b_ms);
}

/// Times f on both backends (the device call synchronised) and prints both and their ratio.
template <class Make>
void both(const std::string& name, int threads, double work, const char* unit, Make make) {
  auto on_device = make(device{});
  auto on_host = make(host{});
  const auto td = bench::time_it(
      [&] {
        on_device();
        device::synchronize();
      },
      7);
  const auto th = bench::time_it(on_host, 5);
  bench::report(name, "bijgan-cuda", 1, td, work, unit);
  bench::report(name, "bijgan-host", threads, th, work, unit);
  ratio(name.c_str(), td.median_ms, th.median_ms, "cuda", "host");
}

void gemm(index_t n) {
  rng g(1);
  const auto a = to<device>(tensor<float>::random({n, n}, g, {distribution::normal, 0, 1}));
  const auto b = to<device>(tensor<float>::random({n, n}, g, {distribution::normal, 0, 1}));
  tensor<float, device> c({n, n});
  const double flops = 2.0 * double(n) * double(n) * double(n);
  const auto ours = bench::time_it([&] {
    (void)matmul(a, b);
    device::synchronize();
  });
  const auto handle = cuda_detail::context::get().blas();
  const float one = 1, zero = 0;
  const int m = static_cast<int>(n);
  const auto raw = bench::time_it([&] {
    BIJGAN_CUDA_CHECK(
        cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, m, m, m, &one, b.data(), m, a.data(), m, &zero, c.data(), m));
    device::synchronize();
  });
  const std::string name = "gemm_" + std::to_string(n);
  bench::report(name, "bijgan-cuda", 1, ours, flops / 1e9, "GFLOP/s");
  bench::report(name, "cublas", 1, raw, flops / 1e9, "GFLOP/s");
  std::printf("# %s: bijgan reaches %.1f %% of raw cuBLAS (target >= 95 %%)\n", name.c_str(),
              100.0 * raw.median_ms / ours.median_ms);
}

}  // namespace

int main(int argc, char** argv) {
  if (device::device_count() == 0) {
    std::printf("cuda_bench: no CUDA device or driver here; nothing measured\n");
    return 77;
  }
  const int threads = bench::threads_arg(argc, argv);
  set_num_threads(threads);
  set_flush_denormal(true);
  int dev = 0;
  cudaDeviceProp prop{};
  BIJGAN_CUDA_CHECK(cudaGetDevice(&dev));
  BIJGAN_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  std::printf("# device %s, host threads %d\n", prop.name, threads);

  for (index_t n : {1024, 2048, 4096}) gemm(n);

  // Convolution: 3x3, 64 -> 64 channels, batch 32 at 32x32, forward + backward.
  both("conv3x3_64c_32px_b32_fwd_bwd", threads, 32, "images/s", [](auto b) {
    using B = decltype(b);
    rng g(2);
    auto x = parameter(to<B>(tensor<float>::random({32, 64, 32, 32}, g, {distribution::normal, 0, 1})));
    auto w = parameter(to<B>(tensor<float>::random({64, 64, 3, 3}, g, {distribution::normal, 0, 0.05})));
    return [x, w] { backward(sum(square(conv2d(x, w, {}, {.padding = 1})))); };
  });
  // Attention: 256 tokens of width 64, 4 heads, batch 32, forward + backward.
  both("attention_256tok_64d_b32_fwd_bwd", threads, 32, "sequences/s", [](auto b) {
    using B = decltype(b);
    nn::manual_seed(3);
    nn::multi_head_attention<float, B> attn({.dim = 64, .heads = 4});
    rng g(4);
    auto x = parameter(to<B>(tensor<float>::random({32, 256, 64}, g, {distribution::normal, 0, 1})));
    return [attn, x] { backward(sum(square(attn(x)))); };
  });
  // Grid attention at 64x64 tokens in 16x16 windows (DAB-GAN's last stage), batch 8.
  both("grid_attention_64x64_w16_b8_fwd_bwd", threads, 8, "maps/s", [](auto b) {
    using B = decltype(b);
    nn::manual_seed(5);
    nn::grid_attention<float, B> attn({.dim = 16, .heads = 4, .window = 16});
    rng g(6);
    auto x = parameter(to<B>(tensor<float>::random({8, 64 * 64, 16}, g, {distribution::normal, 0, 1})));
    return [attn, x] { backward(sum(square(attn(x, 64, 64)))); };
  });

  // One DAB-GAN 64x64 step at batch 32 with the whole objective, through fit_gan.
  rng gen(7);
  const auto data = bench::face_data(gen);
  nn::manual_seed(8);
  models::dabgan<face_cfg>::generator<> g;
  models::dabgan<face_cfg>::critic<> d;
  models::student<student_cfg> student;
  nn::eval(student);
  auto flow = bench::face_flow();
  auto dg = nn::to<device>(g);
  auto dd = nn::to<device>(d);
  auto dstudent = nn::to<device>(student);
  auto dflow = nn::to<device>(flow);
  train::gan_options o;
  o.batch = 32, o.per_identity = 2, o.checkpoint_every = 0, o.clip_norm = 5;
  const auto step_ms = [&](auto& gen, auto& crit, const auto& h, const auto& s, long steps) {
    o.steps = 2;  // warm-up: caches, cuBLAS handles, allocator
    train::fit_gan(train::gan(gen, crit).with_bijection(h).with_distiller(s), data, o);
    o.steps = steps;
    const auto r = train::fit_gan(train::gan(gen, crit).with_bijection(h).with_distiller(s), data, o);
    return r.seconds / double(r.steps) * 1e3;
  };
  auto& cache = cuda_detail::caching_allocator::get();
  const double dms = step_ms(dg, dd, dflow, dstudent, 20);
  bench::report("dabgan64_full_step_b32", "bijgan-cuda", 1, {dms, dms}, 32, "images/s");
  std::printf("# device memory: peak in use %.1f MB, cached now %.1f MB, cudaMalloc calls %zu\n",
              double(cache.peak_bytes_in_use()) / 1e6, double(cache.bytes_cached()) / 1e6, cache.source_allocations());
  const double hms = step_ms(g, d, flow, student, 3);
  bench::report("dabgan64_full_step_b32", "bijgan-host", threads, {hms, hms}, 32, "images/s");
  ratio("dabgan64_full_step_b32", dms, hms, "cuda", "host");
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::printf("# peak host RSS %.1f MB\n", double(u.ru_maxrss) / 1024.0);
}
