// Thread control for the host backend: one call sets OpenMP, Eigen and OpenBLAS together, and
// the adaptive policy that lowers the count while other processes keep this process's CPUs busy.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "bijgan/backend/host/cpu_load.hpp"
#include "bijgan/config/config.hpp"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

BIJGAN_THIRD_PARTY_BEGIN
#include <Eigen/Core>
BIJGAN_THIRD_PARTY_END

#if defined(BIJGAN_HAVE_OPENBLAS)
extern "C" void openblas_set_num_threads(int num_threads);
#endif

namespace bijgan {

/// How the host backend picks its thread count.
enum class thread_policy {
  /// Always the count asked for (set_num_threads, else OMP_NUM_THREADS, else every CPU).
  fixed,
  /// That count, lowered while other processes keep some of this process's CPUs busy (measured
  /// from /proc/stat every 100 ms on the thread that runs the kernels): OpenMP threads that share
  /// a core with other work make every parallel region wait for a descheduled thread, and a
  /// step at 2 threads then ran 5x slower than at 1. The default (Linux; elsewhere fixed);
  /// `BIJGAN_THREAD_POLICY=fixed` in the environment or set_thread_policy turns it off.
  adaptive,
};

namespace detail {
struct host_threads {
  std::mutex m;
  int requested = 0;  ///< 0 until first use: then OpenMP's default
  int effective = 0;
  thread_policy policy = default_policy();
  cpu_load_sampler sampler;
  std::atomic<std::int64_t> next_check_ns{0};

  static thread_policy default_policy() {
    const char* e = std::getenv("BIJGAN_THREAD_POLICY");
    return e && std::strcmp(e, "fixed") == 0 ? thread_policy::fixed : thread_policy::adaptive;
  }
  void ensure_requested() {
    if (requested > 0) return;
#if defined(_OPENMP)
    requested = omp_get_max_threads();
#else
    requested = 1;
#endif
    effective = requested;
  }
};
inline host_threads& threads_state() {
  static host_threads s;
  return s;
}
inline void apply_threads(int n) {
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
  Eigen::setNbThreads(n);
#if defined(BIJGAN_HAVE_OPENBLAS)
  openblas_set_num_threads(n);
#endif
}
inline constexpr std::int64_t thread_check_interval_ns = 100'000'000;
}  // namespace detail

/// Sets the number of threads used by host kernels, Eigen GEMM and (when linked) OpenBLAS: the
/// count itself under thread_policy::fixed, the most it uses under adaptive.
inline void set_num_threads(int n) {
  if (n < 1) n = 1;
  auto& s = detail::threads_state();
  const std::lock_guard lock(s.m);
  s.requested = s.effective = n;
  detail::apply_threads(n);
  s.next_check_ns.store(detail::clock_ns(CLOCK_MONOTONIC) + detail::thread_check_interval_ns,
                        std::memory_order_relaxed);
}

/// Under thread_policy::adaptive, at most every 100 ms: measures how many of this process's CPUs
/// other work kept busy since the last check and sets the thread count to what is left (at
/// least 1, at most the count asked for). Host kernels call it; cheap otherwise (a clock read).
inline void adapt_threads() {
#if defined(_OPENMP) && defined(__linux__)
  auto& s = detail::threads_state();
  const std::int64_t now = detail::clock_ns(CLOCK_MONOTONIC);
  if (now < s.next_check_ns.load(std::memory_order_relaxed) || omp_in_parallel()) return;
  const std::unique_lock lock(s.m, std::try_to_lock);
  if (!lock.owns_lock() || now < s.next_check_ns.load(std::memory_order_relaxed)) return;
  s.next_check_ns.store(now + detail::thread_check_interval_ns, std::memory_order_relaxed);
  s.ensure_requested();
  if (s.policy != thread_policy::adaptive || s.requested == 1) return;
  const int busy = static_cast<int>(std::lround(s.sampler.busy_elsewhere()));
  const int allowed = s.sampler.sampled_cpus();
  const int free_cpus = allowed > 0 ? std::max(1, allowed - busy) : s.requested;
  const int n = std::min(s.requested, free_cpus);
  if (n != s.effective) {
    s.effective = n;
    detail::apply_threads(n);
  }
#endif
}

/// Chooses the thread policy (see thread_policy); fixed restores the count asked for.
inline void set_thread_policy(thread_policy p) {
  auto& s = detail::threads_state();
  const std::lock_guard lock(s.m);
  s.ensure_requested();
  s.policy = p;
  if (p == thread_policy::fixed && s.effective != s.requested) {
    s.effective = s.requested;
    detail::apply_threads(s.requested);
  }
}

/// The thread policy in force.
inline thread_policy current_thread_policy() {
  auto& s = detail::threads_state();
  const std::lock_guard lock(s.m);
  return s.policy;
}

/// Threads host kernels use now (under adaptive, after the latest check).
inline int num_threads() {
  adapt_threads();
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// Flushes denormal floats to zero (FTZ + DAZ) on the calling thread and on every OpenMP
/// worker, or restores IEEE behaviour with `false`. Long trainings drift into denormal
/// territory (tiny activations, gradients and Adam moments) where x86 arithmetic is ~100×
/// slower; flushing costs nothing measurable in accuracy for ML work. Threads started later
/// inherit the setting of the thread that starts them. Returns false where the CPU offers no
/// such mode (nothing is changed).
inline bool set_flush_denormal(bool on) {
#if defined(__SSE__)
  constexpr unsigned mask = 0x8040u;  // FTZ (bit 15) | DAZ (bit 6) of MXCSR
  const auto apply = [&] { _mm_setcsr(on ? (_mm_getcsr() | mask) : (_mm_getcsr() & ~mask)); };
  apply();
#if defined(_OPENMP)
#pragma omp parallel
  apply();
#endif
  return true;
#else
  (void)on;
  return false;
#endif
}

/// Whether the calling thread flushes denormals now (FTZ and DAZ both set).
inline bool flush_denormal_enabled() {
#if defined(__SSE__)
  return (_mm_getcsr() & 0x8040u) == 0x8040u;
#else
  return false;
#endif
}

/// Flushes denormals (set_flush_denormal(true)) for its lifetime and restores IEEE behaviour
/// afterwards, unless they were already flushed on entry (then it leaves everything alone).
/// Graph engines run under one: inference on subnormal activations costs x86 cores ~100x per
/// operand (TensorFlow flushes in its executor for the same reason).
class scoped_flush_denormal {
 public:
  scoped_flush_denormal() : set_(!flush_denormal_enabled() && set_flush_denormal(true)) {}
  ~scoped_flush_denormal() {
    if (set_) set_flush_denormal(false);
  }
  scoped_flush_denormal(const scoped_flush_denormal&) = delete;
  scoped_flush_denormal& operator=(const scoped_flush_denormal&) = delete;

 private:
  bool set_;
};

/// Which GEMM the host backend calls: "openblas" (EIGEN_USE_BLAS) or "eigen".
inline const char* host_gemm_provider() {
#if defined(EIGEN_USE_BLAS)
  return "openblas";
#else
  return "eigen";
#endif
}

/// What runs host float convolutions: "onednn" (BIJGAN_HAVE_DNNL) or "im2col+gemm" (doubles
/// always take im2col + GEMM).
inline const char* host_conv_provider() {
#if defined(BIJGAN_HAVE_DNNL)
  return "onednn";
#else
  return "im2col+gemm";
#endif
}

}  // namespace bijgan
