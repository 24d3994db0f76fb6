// test_nccl: dist::nccl_communicator on CUDA tensors, under mpirun (one rank per GPU; CTest
// starts one rank, so it runs on a single-GPU machine). Compiled by nvcc in every build with
// CUDA, MPI and NCCL; without a device it says so and exits 77 (CTest: skipped).
#define BOOST_TEST_MODULE bijgan_nccl
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/dist/data_parallel.hpp>
#include <bijgan/dist/nccl.hpp>

#include <cstdio>

using namespace bijgan;
using device = bijgan::cuda_device;

namespace {
dist::mpi_communicator* control = nullptr;
}

BOOST_AUTO_TEST_CASE(collectives_and_gradients_on_the_device) {
  dist::nccl_communicator nccl(*control);
  const dist::communicator_ref ref(nccl);
  const int n = ref.size(), r = ref.rank();
  BOOST_TEST((ref.memory() == dist::memory_space::device));
  auto x = to<device>(tensor<float, host>::from(std::vector<float>{float(r), 2.f}, {2}));
  dist::allreduce(ref, x);
  BOOST_TEST(x.to_vector()[0] == float(n * (n - 1) / 2));
  BOOST_TEST(x.to_vector()[1] == float(2 * n));
  auto b = to<device>(tensor<double, host>::full({3}, double(r)));
  dist::broadcast(ref, b, 0);
  for (double v : b.to_vector()) BOOST_TEST(v == 0.0);
  const auto all = dist::allgather(ref, to<device>(tensor<float, host>::full({2, 2}, float(r))));
  BOOST_TEST(all.shape() == (shape{2 * n, 2}));
  // Averaged gradients: every rank holds 1 + rank, the mean is (n + 1) / 2.
  const auto w = parameter(tensor<float, device>::zeros({5}));
  w.set_grad(tensor<float, device>::full({5}, float(1 + r)));
  dist::average_gradients(ref, std::vector{w});
  for (float v : w.grad().to_vector()) BOOST_TEST(v == float(n + 1) / 2);
  // A host tensor through a device communicator is an error, not a silent copy.
  BOOST_CHECK_THROW(dist::allreduce(ref, tensor<float, host>::zeros({2})), dist_error);
}

int main(int argc, char* argv[]) {
  if (device::device_count() == 0) {
    std::printf("test_nccl: no CUDA device or driver here; skipped\n");
    return 77;
  }
  dist::mpi_session session(&argc, &argv);
  dist::mpi_communicator comm;
  control = &comm;
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
