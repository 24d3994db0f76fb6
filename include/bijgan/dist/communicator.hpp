// The communicator concept of data-parallel training (docs/distributed.md): rank, size and the
// collectives the trainers need (allreduce, broadcast, allgather, barrier) on buffers in the
// memory of the communicator's backend; single_process, the one-rank implementation every
// trainer uses by default; communicator_ref, the non-owning type-erased handle the trainers'
// options hold; and the tensor-level collectives built on them. The MPI and NCCL
// implementations are dist/mpi.hpp and dist/nccl.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "bijgan/config/errors.hpp"
#include "bijgan/io/checksum.hpp"
#include "bijgan/tensor/tensor.hpp"

namespace bijgan::dist {

/// The element-wise reduction of an allreduce.
enum class reduce_op { sum, max, min };

/// A group of processes that run the same program on their shares of the work. Buffers live
/// in the memory of C::backend_type (host memory for MPI, device memory for NCCL). Every
/// collective must be called by every rank in the same order with buffers of the same size;
/// an implementation that detects otherwise, or a rank that does not arrive, throws
/// dist_error naming the ranks. allgather's `all` holds size()·mine.size() bytes, rank-major.
template <class C>
concept communicator = requires(C& c, const C& cc, std::span<float> f, std::span<double> d, std::span<std::byte> b,
                                std::span<const std::byte> cb, reduce_op op, int root) {
  typename C::backend_type;
  { cc.rank() } -> std::convertible_to<int>;
  { cc.size() } -> std::convertible_to<int>;
  c.allreduce(f, op);
  c.allreduce(d, op);
  c.broadcast(b, root);
  c.allgather(cb, b);
  c.barrier();
};

/// One process: rank 0 of 1. Every collective is the identity (allgather copies).
struct single_process {
  using backend_type = host;
  [[nodiscard]] int rank() const noexcept { return 0; }
  [[nodiscard]] int size() const noexcept { return 1; }
  void allreduce(std::span<float>, reduce_op) {}
  void allreduce(std::span<double>, reduce_op) {}
  void broadcast(std::span<std::byte>, int root) {
    if (root != 0) fail<dist_error>("dist::single_process::broadcast", "root ", root, " is not rank 0 of 1");
  }
  void allgather(std::span<const std::byte> mine, std::span<std::byte> all) {
    if (all.size() != mine.size())
      fail<dist_error>("dist::single_process::allgather", "output of ", all.size(), " bytes for ", mine.size(),
                       " bytes");
    if (!mine.empty()) std::memcpy(all.data(), mine.data(), mine.size());
  }
  void barrier() {}
};
static_assert(communicator<single_process>);

/// Where a communicator's buffers live.
enum class memory_space { host, device };

/// A non-owning handle to any communicator (the referenced object must outlive every use of
/// the handle). Default-constructed, it is a single process. This is what trainer options hold
/// (gan_options::comm, flow_fit_options::comm, ...), so one trainer instantiation serves MPI,
/// NCCL and one process alike; the virtual-call cost is per collective, not per element.
class communicator_ref {
 public:
  communicator_ref() noexcept : obj_(&single()), vt_(&table_of<single_process>) {}
  template <communicator C>
  requires(!std::is_same_v<std::remove_cvref_t<C>, communicator_ref>) communicator_ref(C& c)
  noexcept : obj_(&c), vt_(&table_of<C>) {}  // NOLINT: implicit by design

  [[nodiscard]] int rank() const { return vt_->rank(obj_); }
  [[nodiscard]] int size() const { return vt_->size(obj_); }
  [[nodiscard]] memory_space memory() const noexcept { return vt_->memory; }
  void allreduce(std::span<float> x, reduce_op op) const { vt_->allreduce_f(obj_, x, op); }
  void allreduce(std::span<double> x, reduce_op op) const { vt_->allreduce_d(obj_, x, op); }
  void broadcast(std::span<std::byte> x, int root) const { vt_->broadcast(obj_, x, root); }
  void allgather(std::span<const std::byte> mine, std::span<std::byte> all) const { vt_->allgather(obj_, mine, all); }
  void barrier() const { vt_->barrier(obj_); }

 private:
  struct table {
    int (*rank)(void*);
    int (*size)(void*);
    memory_space memory;
    void (*allreduce_f)(void*, std::span<float>, reduce_op);
    void (*allreduce_d)(void*, std::span<double>, reduce_op);
    void (*broadcast)(void*, std::span<std::byte>, int);
    void (*allgather)(void*, std::span<const std::byte>, std::span<std::byte>);
    void (*barrier)(void*);
  };
  template <class C>
  static constexpr table table_of{
      [](void* p) { return static_cast<int>(static_cast<C*>(p)->rank()); },
      [](void* p) { return static_cast<int>(static_cast<C*>(p)->size()); },
      std::is_same_v<typename C::backend_type, host> ? memory_space::host : memory_space::device,
      [](void* p, std::span<float> x, reduce_op op) { static_cast<C*>(p)->allreduce(x, op); },
      [](void* p, std::span<double> x, reduce_op op) { static_cast<C*>(p)->allreduce(x, op); },
      [](void* p, std::span<std::byte> x, int root) { static_cast<C*>(p)->broadcast(x, root); },
      [](void* p, std::span<const std::byte> m, std::span<std::byte> a) { static_cast<C*>(p)->allgather(m, a); },
      [](void* p) { static_cast<C*>(p)->barrier(); }};
  static single_process& single() noexcept {
    static single_process s;
    return s;
  }
  void* obj_;
  const table* vt_;
};

namespace detail {
/// Runs f on a buffer of t's elements in the communicator's memory: t's own storage when they
/// match, otherwise a staged copy (host ↔ device) written back to t afterwards when `write`.
/// Whether t's storage is in the communicator's memory; dist_error for a host tensor and a
/// device communicator (no silent copy onto the device).
template <class T, class B>
bool in_place(const communicator_ref& c, const tensor<T, B>&, const char* op) {
  constexpr bool on_host = std::is_same_v<B, host>;
  if ((c.memory() == memory_space::host) == on_host) return true;
  if (on_host)
    fail<dist_error>(op, "a device communicator (NCCL) cannot take host tensors; use an MPI communicator for them");
  return false;  // a device tensor with a host communicator: staged through host memory
}
template <class T, class B, class F>
void in_comm_memory(const communicator_ref& c, const tensor<T, B>& t, bool write, F&& f) {
  if (in_place(c, t, "dist")) {
    f(t.data());
    return;
  }
  std::vector<T> staged(static_cast<std::size_t>(t.numel()));
  B::to_host(t.data(), staged.data(), staged.size());
  f(staged.data());
  if (write) B::from_host(staged.data(), t.data(), staged.size());
}
template <class T>
std::span<std::byte> bytes_of(T* p, std::size_t n) {
  return {reinterpret_cast<std::byte*>(p), n * sizeof(T)};
}
}  // namespace detail

/// Reduces t in place over all ranks (float or double elements).
template <class T, class B>
void allreduce(const communicator_ref& c, const tensor<T, B>& t, reduce_op op = reduce_op::sum) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "dist::allreduce reduces float or double tensors");
  detail::in_comm_memory(c, t, true,
                         [&](T* p) { c.allreduce(std::span<T>(p, static_cast<std::size_t>(t.numel())), op); });
}

/// Overwrites t on every rank with root's t (the shapes must agree; they are not sent).
template <class T, class B>
void broadcast(const communicator_ref& c, const tensor<T, B>& t, int root = 0) {
  detail::in_comm_memory(c, t, true,
                         [&](T* p) { c.broadcast(detail::bytes_of(p, static_cast<std::size_t>(t.numel())), root); });
}

/// The rows of every rank's t concatenated along axis 0 in rank order: (size()·N, ...). Every
/// rank's t must have the same shape (dist_error naming the ranks otherwise).
template <class T, class B>
tensor<T, B> allgather(const communicator_ref& c, const tensor<T, B>& t);

/// Overwrites bytes on every rank with root's (sizes may differ: root's size is sent first).
inline void broadcast_bytes(const communicator_ref& c, std::vector<unsigned char>& bytes, int root = 0) {
  std::uint64_t n = bytes.size();
  c.broadcast(detail::bytes_of(&n, 1), root);
  bytes.resize(static_cast<std::size_t>(n));
  if (n > 0) c.broadcast(detail::bytes_of(bytes.data(), bytes.size()), root);
}

/// Every rank's value, in rank order.
inline std::vector<std::uint64_t> allgather_value(const communicator_ref& c, std::uint64_t mine) {
  std::vector<std::uint64_t> all(static_cast<std::size_t>(c.size()));
  c.allgather(detail::bytes_of(&mine, 1), detail::bytes_of(all.data(), all.size()));
  return all;
}

/// Throws dist_error naming every rank whose `value` (a checksum of its configuration) differs
/// from rank 0's, on every rank: ranks that disagree stop at start instead of training apart.
inline void check_consistent(const communicator_ref& c, std::uint64_t value, const std::string& what) {
  if (c.size() == 1) return;
  const auto all = allgather_value(c, value);
  std::string differ;
  for (std::size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  if (!differ.empty())
    fail<dist_error>("dist::check_consistent", what, " differs from rank 0's on rank(s) ", differ,
                     ": every rank must be started with the same options, data and models");
}

template <class T, class B>
tensor<T, B> allgather(const communicator_ref& c, const tensor<T, B>& t) {
  if (t.rank() < 1) fail<shape_error>("dist::allgather", "needs rank >= 1, got ", t.shape());
  if (c.size() > 1) {
    io::fnv1a h;
    for (std::size_t i = 0; i < t.rank(); ++i) {
      const index_t extent = t.shape()[i];
      h.update(&extent, sizeof extent);
    }
    const auto all = allgather_value(c, h.value());
    for (std::size_t r = 0; r < all.size(); ++r)
      if (all[r] != all[0])
        fail<dist_error>("dist::allgather", "rank ", r,
                         "'s tensor has another shape than rank 0's (this rank: ", t.shape(), ")");
  }
  shape os = t.shape();
  os[0] = t.size(0) * c.size();
  tensor<T, B> out(os);
  const auto n = static_cast<std::size_t>(t.numel());
  if (detail::in_place(c, t, "dist::allgather")) {
    c.allgather(std::as_bytes(std::span<const T>(t.data(), n)),
                detail::bytes_of(out.data(), n * static_cast<std::size_t>(c.size())));
    return out;
  }
  std::vector<T> mine(n), all(n * static_cast<std::size_t>(c.size()));
  B::to_host(t.data(), mine.data(), n);
  c.allgather(std::as_bytes(std::span<const T>(mine)), detail::bytes_of(all.data(), all.size()));
  B::from_host(all.data(), out.data(), all.size());
  return out;
}

}  // namespace bijgan::dist
