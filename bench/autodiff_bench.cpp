// Per-node overhead of the autodiff on tiny tensors: a chain of 100 elementwise ops on a
// 4-element var, forward only and forward + backward; reported as microseconds per node.
#include <bijgan/bijgan.hpp>

#include "harness.hpp"

using namespace bijgan;

int main(int argc, char** argv) {
  const int threads = bench::threads_arg(argc, argv);
  set_num_threads(threads);
  const int nodes = 100;
  auto x = parameter(tensor<float>::full({4}, 0.5f));
  auto chain = [&] {
    var<float> y = x;
    for (int i = 0; i < nodes / 2; ++i) y = tanh(y * 1.01f);
    return y;
  };
  const auto fwd = bench::time_it([&] { (void)chain(); });
  const auto both = bench::time_it([&] {
    backward(sum(chain()));
    x.zero_grad();
  });
  // "work" is nodes, so rate = nodes/s; print us/node via the median directly.
  bench::report("autodiff_fwd_per_node_us", "bijgan", threads, {fwd.median_ms * 1e3 / nodes, fwd.min_ms * 1e3 / nodes},
                0, "us");
  bench::report("autodiff_fwdbwd_per_node_us", "bijgan", threads,
                {both.median_ms * 1e3 / nodes, both.min_ms * 1e3 / nodes}, 0, "us");
  {
    no_grad ng;
    const auto plain = bench::time_it([&] { (void)chain(); });
    bench::report("no_grad_per_op_us", "bijgan", threads, {plain.median_ms * 1e3 / nodes, plain.min_ms * 1e3 / nodes},
                  0, "us");
  }
}
