// GEMM through the tensor API (tensor matmul and var matmul) against the raw kernel it calls
// (Eigen's product, which hands float GEMM to OpenBLAS when EIGEN_USE_BLAS is on), N = 256..2048.
#include <bijgan/bijgan.hpp>

#include "harness.hpp"

using namespace bijgan;

int main(int argc, char** argv) {
  const int threads = bench::threads_arg(argc, argv);
  set_num_threads(threads);
  rng gen(1);
  for (index_t n : {256, 512, 1024, 2048}) {
    const auto a = tensor<float>::random({n, n}, gen, {distribution::normal, 0, 1});
    const auto b = tensor<float>::random({n, n}, gen, {distribution::normal, 0, 1});
    const double flop = 2.0 * double(n) * double(n) * double(n);
    const std::string name = "gemm_" + std::to_string(n);
    using mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const mat> ea(a.data(), n, n), eb(b.data(), n, n);
    mat ec(n, n);
    bench::report(name, std::string("raw-") + host_gemm_provider(), threads,
                  bench::time_it([&] { ec.noalias() = ea * eb; }), flop, "GFLOP/s-e9");
    bench::report(name, "bijgan-tensor", threads, bench::time_it([&] { (void)matmul(a, b); }), flop, "GFLOP/s-e9");
    const auto va = constant(a), vb = constant(b);
    bench::report(name, "bijgan-var", threads, bench::time_it([&] { (void)matmul(va, vb); }), flop, "GFLOP/s-e9");
  }
}
