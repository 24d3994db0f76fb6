// The peer: bijgan's bench workloads written in libtorch (Debian's libtorch-dev 1.13), run by
// tools/bench.sh with OpenBLAS (libopenblas0-openmp) selected through LD_LIBRARY_PATH, as in
// ../shared/anchors. Same harness and output format as our bench programs.
#include <torch/torch.h>

#include "../harness.hpp"

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
  bench::report("bias_add_4096x1024", "libtorch", threads, bench::time_it([&] { (void)(x + bias); }), 2 * bytes, "GB/s-e9");
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
    bench::report("autodiff_fwd_per_node_us", "libtorch", threads, {fwd.median_ms * 1e3 / nodes, fwd.min_ms * 1e3 / nodes}, 0, "us");
    bench::report("autodiff_fwdbwd_per_node_us", "libtorch", threads, {both.median_ms * 1e3 / nodes, both.min_ms * 1e3 / nodes}, 0, "us");
  }
  {
    const int nodes = 100;
    auto p = torch::full({4}, 0.5f);
    const auto plain = bench::time_it([&] {
      auto v = p;
      for (int i = 0; i < nodes / 2; ++i) v = torch::tanh(v * 1.01f);
    });
    bench::report("no_grad_per_op_us", "libtorch", threads, {plain.median_ms * 1e3 / nodes, plain.min_ms * 1e3 / nodes}, 0, "us");
  }
}
