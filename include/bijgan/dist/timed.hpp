// dist::timed<C>: a communicator that forwards to another and counts what passes through it
// (collectives, bytes, wall time inside them), for profiling a data-parallel step: wrap the
// real communicator, hand the wrapper to the trainer, read the counters per step.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>

#include "bijgan/dist/communicator.hpp"

namespace bijgan::dist {

/// Forwards every collective to `inner` (which must outlive it) and accumulates counters.
template <communicator C>
class timed {
 public:
  using backend_type = typename C::backend_type;
  struct counters {
    long calls = 0;
    std::size_t bytes = 0;      ///< payload bytes this rank contributed
    double seconds = 0;         ///< wall time inside the collectives (waiting for others included)
    std::size_t reduced = 0;    ///< of which allreduce payload
    double reduce_seconds = 0;  ///< of which inside allreduce
  };
  explicit timed(C& inner) : inner_(inner) {}
  [[nodiscard]] int rank() const { return inner_.rank(); }
  [[nodiscard]] int size() const { return inner_.size(); }
  void allreduce(std::span<float> x, reduce_op op) { reduce(x, op); }
  void allreduce(std::span<double> x, reduce_op op) { reduce(x, op); }
  void broadcast(std::span<std::byte> x, int root) {
    time(x.size(), [&] { inner_.broadcast(x, root); });
  }
  void allgather(std::span<const std::byte> mine, std::span<std::byte> all) {
    time(mine.size(), [&] { inner_.allgather(mine, all); });
  }
  void barrier() {
    time(0, [&] { inner_.barrier(); });
  }
  [[nodiscard]] const counters& totals() const noexcept { return c_; }
  void reset() noexcept { c_ = {}; }

 private:
  template <class X>
  void reduce(std::span<X> x, reduce_op op) {
    const double s = time(x.size_bytes(), [&] { inner_.allreduce(x, op); });
    c_.reduced += x.size_bytes();
    c_.reduce_seconds += s;
  }
  template <class F>
  double time(std::size_t bytes, F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++c_.calls;
    c_.bytes += bytes;
    c_.seconds += s;
    return s;
  }
  C& inner_;
  counters c_;
};

}  // namespace bijgan::dist
