// NCCL as a bijgan communicator for CUDA tensors (docs/distributed.md): the ranks agree on an
// ncclUniqueId over MPI (rank 0 makes it, mpi_communicator broadcasts it), then every
// collective runs on the device context's stream. MPI stays the control plane: each collective
// first meets the others at the MPI communicator's timed barrier (so a stuck or dead rank is
// named, as on the host), and the stream is then awaited with the same deadline, after which
// the NCCL communicator is aborted and dist_error thrown. nvcc translation units only; link
// bijgan::nccl (CMake: CUDA backend, MPI and the toolkit's libnccl).
#pragma once

#if !defined(__CUDACC__)
#error "bijgan/dist/nccl.hpp needs the CUDA backend: include it from .cu files compiled by nvcc"
#endif

#include <nccl.h>

#include <chrono>
#include <span>
#include <thread>

#include "bijgan/backend/cuda/cuda.hpp"
#include "bijgan/dist/mpi.hpp"

namespace bijgan::dist {

namespace detail {
inline void nccl_check(ncclResult_t rc, const char* what) {
  if (rc == ncclSuccess) return;
  mpi_broken() = true;
  fail<dist_error>("dist::nccl", what, " failed: ", ncclGetErrorString(rc));
}
}  // namespace detail

/// A communicator on NCCL for device buffers, one rank per GPU (the device context's device).
/// `control` (MPI, host) bootstraps it and gates every collective; it must outlive this object.
class nccl_communicator {
 public:
  using backend_type = bijgan::cuda_device;

  explicit nccl_communicator(mpi_communicator& control) : control_(control) {
    ncclUniqueId id{};
    if (control.rank() == 0) detail::nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    control.broadcast(std::as_writable_bytes(std::span<ncclUniqueId>(&id, 1)), 0);
    detail::nccl_check(ncclCommInitRank(&comm_, control.size(), id, control.rank()), "ncclCommInitRank");
  }
  nccl_communicator(const nccl_communicator&) = delete;
  nccl_communicator& operator=(const nccl_communicator&) = delete;
  ~nccl_communicator() {
    if (comm_ == nullptr) return;
    if (detail::mpi_broken())
      ncclCommAbort(comm_);
    else
      ncclCommDestroy(comm_);
  }

  [[nodiscard]] int rank() const noexcept { return control_.rank(); }
  [[nodiscard]] int size() const noexcept { return control_.size(); }

  void allreduce(std::span<float> x, reduce_op op) {
    run("ncclAllReduce",
        [&](cudaStream_t s) { return ncclAllReduce(x.data(), x.data(), x.size(), ncclFloat, nccl_op(op), comm_, s); });
  }
  void allreduce(std::span<double> x, reduce_op op) {
    run("ncclAllReduce",
        [&](cudaStream_t s) { return ncclAllReduce(x.data(), x.data(), x.size(), ncclDouble, nccl_op(op), comm_, s); });
  }
  void broadcast(std::span<std::byte> x, int root) {
    run("ncclBroadcast",
        [&](cudaStream_t s) { return ncclBroadcast(x.data(), x.data(), x.size(), ncclUint8, root, comm_, s); });
  }
  void allgather(std::span<const std::byte> mine, std::span<std::byte> all) {
    if (all.size() != mine.size() * static_cast<std::size_t>(size()))
      fail<dist_error>("dist::nccl_communicator::allgather", "output of ", all.size(), " bytes for ", size(), " x ",
                       mine.size(), " bytes");
    run("ncclAllGather",
        [&](cudaStream_t s) { return ncclAllGather(mine.data(), all.data(), mine.size(), ncclUint8, comm_, s); });
  }
  void barrier() { control_.barrier(); }

 private:
  static ncclRedOp_t nccl_op(reduce_op op) {
    return op == reduce_op::sum ? ncclSum : op == reduce_op::max ? ncclMax : ncclMin;
  }
  /// Gate on MPI, enqueue, then wait for the stream until the control plane's deadline.
  template <class Enqueue>
  void run(const char* what, Enqueue&& enqueue) {
    control_.barrier();
    const cudaStream_t s = cuda_detail::context::get().stream();
    detail::nccl_check(enqueue(s), what);
    const auto deadline = mpi_communicator::deadline_after(control_.timeout_seconds());
    for (;;) {
      const cudaError_t q = cudaStreamQuery(s);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) BIJGAN_CUDA_CHECK(q);
      ncclResult_t async = ncclSuccess;
      detail::nccl_check(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
      detail::nccl_check(async, what);
      if (std::chrono::steady_clock::now() > deadline) {
        detail::mpi_broken() = true;
        fail<dist_error>("dist::nccl_communicator", what, " on rank ", rank(), " did not finish within ",
                         control_.timeout_seconds(), " s after every rank arrived: a peer GPU or link failed");
      }
      std::this_thread::yield();
    }
  }

  mpi_communicator& control_;
  ncclComm_t comm_ = nullptr;
};
static_assert(communicator<nccl_communicator>);

}  // namespace bijgan::dist
