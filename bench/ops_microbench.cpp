// Google Benchmark micro-benchmarks of single differentiable ops, forward + backward, at the
// small and medium sizes the models use: a regression guard for the op layer (run with
// --benchmark_filter=... to pick ops).
#include <benchmark/benchmark.h>

#include <bijgan/bijgan.hpp>

using namespace bijgan;

namespace {

template <class Op>
void fwd_bwd(benchmark::State& state, Op op) {
  const index_t n = state.range(0);
  rng gen(3);
  auto a = parameter(tensor<float>::random({n, n}, gen, {distribution::uniform, 0.5f, 2.0f}));
  auto b = parameter(tensor<float>::random({n, n}, gen, {distribution::uniform, 0.5f, 2.0f}));
  for (auto _ : state) {
    backward(sum(op(a, b)));
    a.zero_grad();
    b.zero_grad();
  }
  state.SetItemsProcessed(state.iterations() * n * n);
}

}  // namespace

BENCHMARK_CAPTURE(fwd_bwd, mul, [](const auto& a, const auto& b) { return a * b; }) -> Arg(16) -> Arg(256) -> Arg(1024);
BENCHMARK_CAPTURE(fwd_bwd, gelu, [](const auto& a, const auto&) { return gelu(a); }) -> Arg(16) -> Arg(256)
    -> Arg(1024);
BENCHMARK_CAPTURE(fwd_bwd, softmax, [](const auto& a, const auto&) { return softmax(a, 1); }) -> Arg(16) -> Arg(256)
    -> Arg(1024);
BENCHMARK_CAPTURE(fwd_bwd, matmul, [](const auto& a, const auto& b) { return matmul(a, b); }) -> Arg(16) -> Arg(256);
BENCHMARK_CAPTURE(fwd_bwd, l2_norm_rows, [](const auto& a, const auto&) { return l2_norm(a, {1}); }) -> Arg(16)
    -> Arg(256) -> Arg(1024);
BENCHMARK_CAPTURE(fwd_bwd, transpose, [](const auto& a, const auto&) { return transpose(a); }) -> Arg(16) -> Arg(256)
    -> Arg(1024);
