// Memory-bound kernels through the tensor API: add (same shape), bias add (row broadcast),
// exp, sum over all and over rows, on 4096 x 1024 floats; per-channel bias on NCHW images (conv
// bias, PReLU slopes). Rates in GB/s of compulsory traffic.
#include <bijgan/bijgan.hpp>

#include "harness.hpp"

using namespace bijgan;

int main(int argc, char** argv) {
  const int threads = bench::threads_arg(argc, argv);
  set_num_threads(threads);
  rng gen(2);
  const index_t r = 4096, c = 1024;
  const double bytes = double(r) * double(c) * sizeof(float);
  const auto x = tensor<float>::random({r, c}, gen, {distribution::normal, 0, 1});
  const auto y = tensor<float>::random({r, c}, gen, {distribution::normal, 0, 1});
  const auto bias = tensor<float>::random({c}, gen, {distribution::normal, 0, 1});
  bench::report("add_4096x1024", "bijgan", threads, bench::time_it([&] { (void)apply(fn::add{}, x, y); }), 3 * bytes,
                "GB/s-e9");
  bench::report("bias_add_4096x1024", "bijgan", threads, bench::time_it([&] { (void)apply(fn::add{}, x, bias); }),
                2 * bytes, "GB/s-e9");
  {
    const auto f = tensor<float>::random({32, 64, 28, 28}, gen, {distribution::normal, 0, 1});
    const auto cb = tensor<float>::random({64, 1, 1}, gen, {distribution::normal, 0, 1});
    const auto g = tensor<float>::random({32, 128, 7, 7}, gen, {distribution::normal, 0, 1});
    const auto gb = tensor<float>::random({128, 1, 1}, gen, {distribution::normal, 0, 1});
    bench::report("channel_bias_32x64x28x28", "bijgan", threads, bench::time_it([&] { (void)apply(fn::add{}, f, cb); }),
                  2.0 * double(f.numel()) * 4, "GB/s-e9");
    bench::report("channel_bias_32x128x7x7", "bijgan", threads, bench::time_it([&] { (void)apply(fn::add{}, g, gb); }),
                  2.0 * double(g.numel()) * 4, "GB/s-e9");
  }
  bench::report("exp_4096x1024", "bijgan", threads, bench::time_it([&] { (void)apply(fn::exp{}, x); }), 2 * bytes,
                "GB/s-e9");
  const std::vector<index_t> all{}, rows{1}, cols{0};
  bench::report("sum_all_4096x1024", "bijgan", threads,
                bench::time_it([&] { (void)reduce(reduce_kind::sum, x, all, false); }), bytes, "GB/s-e9");
  bench::report("sum_rows_4096x1024", "bijgan", threads,
                bench::time_it([&] { (void)reduce(reduce_kind::sum, x, rows, false); }), bytes, "GB/s-e9");
  bench::report("sum_cols_4096x1024", "bijgan", threads,
                bench::time_it([&] { (void)reduce(reduce_kind::sum, x, cols, false); }), bytes, "GB/s-e9");
}
