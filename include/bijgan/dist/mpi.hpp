// Open MPI as a bijgan communicator for host tensors (docs/distributed.md): mpi_session owns
// MPI's lifetime, mpi_communicator runs the collectives on a duplicate of MPI_COMM_WORLD.
// Before each collective the ranks meet at a gate (a few bytes to and from rank 0) with a
// deadline, so a rank that never arrives, or arrives at another collective, makes the others
// throw dist_error naming it instead of waiting forever; a rank that dies is reported by
// mpirun, which ends the job. Needs <mpi.h>: link bijgan::mpi (CMake) or MPI::MPI_CXX.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <exception>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bijgan/dist/communicator.hpp"

namespace bijgan::dist {

struct mpi_options {
  /// Seconds a rank waits at a collective for the others before it throws dist_error naming
  /// the ranks that did not arrive. BIJGAN_DIST_TIMEOUT (seconds) in the environment, when
  /// set, overrides it (tests use a few seconds). Ranks that load data or write checkpoints
  /// alone must finish that within it.
  double timeout_seconds = 600;
};

namespace detail {
/// Set once a collective failed: the job cannot go on, and MPI_Finalize could wait forever.
inline std::atomic<bool>& mpi_broken() {
  static std::atomic<bool> broken{false};
  return broken;
}
inline void mpi_check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  mpi_broken() = true;
  fail<dist_error>("dist::mpi", what, " failed: ", std::string(text, static_cast<std::size_t>(len)));
}
inline double mpi_timeout(double configured) {
  if (const char* env = std::getenv("BIJGAN_DIST_TIMEOUT")) {
    char* end = nullptr;
    const double t = std::strtod(env, &end);
    if (end == env || *end != '\0' || !(t > 0))
      fail<value_error>("dist::mpi_communicator", "BIJGAN_DIST_TIMEOUT=\"", env,
                        "\" is not a positive number of seconds");
    return t;
  }
  if (!(configured > 0))
    fail<value_error>("dist::mpi_communicator", "timeout_seconds ", configured, " must be positive");
  return configured;
}
}  // namespace detail

/// MPI for the lifetime of the object: MPI_Init_thread (MPI_THREAD_FUNNELED: only the thread
/// that made the session calls MPI; OpenMP workers never do) unless MPI is already running.
/// The destructor calls MPI_Finalize, or MPI_Abort when a collective failed or an exception is
/// leaving the session's scope, so the job ends on every rank instead of waiting.
class mpi_session {
 public:
  explicit mpi_session(int* argc = nullptr, char*** argv = nullptr) : unwinding_(std::uncaught_exceptions()) {
    int running = 0;
    MPI_Initialized(&running);
    if (running) return;
    int provided = 0;
    detail::mpi_check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    owns_ = true;
  }
  mpi_session(const mpi_session&) = delete;
  mpi_session& operator=(const mpi_session&) = delete;
  ~mpi_session() {
    if (!owns_) return;
    int done = 0;
    MPI_Finalized(&done);
    if (done) return;
    if (detail::mpi_broken() || std::uncaught_exceptions() > unwinding_) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Finalize();
  }
  /// Ends every rank of the job with `code` (for a rank that caught an error it cannot
  /// recover from while the others may be waiting in a collective).
  [[noreturn]] static void abort(int code = 1) {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  int unwinding_ = 0;
  bool owns_ = false;
};

/// A communicator on MPI for host buffers. Construct it after an mpi_session, on every rank.
class mpi_communicator {
 public:
  using backend_type = host;

  explicit mpi_communicator(const mpi_options& o = {}, MPI_Comm parent = MPI_COMM_WORLD)
      : timeout_(detail::mpi_timeout(o.timeout_seconds)) {
    int running = 0;
    MPI_Initialized(&running);
    if (!running)
      fail<dist_error>("dist::mpi_communicator", "MPI is not initialised: create a dist::mpi_session first");
    detail::mpi_check(MPI_Comm_dup(parent, &comm_), "MPI_Comm_dup");
    detail::mpi_check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  mpi_communicator(const mpi_communicator&) = delete;
  mpi_communicator& operator=(const mpi_communicator&) = delete;
  ~mpi_communicator() {
    int done = 0;
    MPI_Finalized(&done);
    if (!done && comm_ != MPI_COMM_NULL && !detail::mpi_broken()) MPI_Comm_free(&comm_);
  }

  [[nodiscard]] int rank() const noexcept { return rank_; }
  [[nodiscard]] int size() const noexcept { return size_; }
  [[nodiscard]] MPI_Comm native() const noexcept { return comm_; }
  [[nodiscard]] double timeout_seconds() const noexcept { return timeout_; }
  /// Now + seconds on the steady clock (the gate's deadline; NCCL's stream wait uses it too).
  static std::chrono::steady_clock::time_point deadline_after(double seconds) {
    return std::chrono::steady_clock::now() +
           std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  }
  /// Changes the deadline of the following collectives (e.g. longer around a phase where one
  /// rank works alone: computing a cache the others then read).
  void set_timeout_seconds(double seconds) {
    if (!(seconds > 0)) fail<value_error>("dist::mpi_communicator", "timeout_seconds ", seconds, " must be positive");
    timeout_ = seconds;
  }
  /// Collectives run so far (each allreduce/broadcast/allgather/barrier call counts one).
  [[nodiscard]] long long collectives() const noexcept { return seq_; }

  void allreduce(std::span<float> x, reduce_op op) { reduce(x, MPI_FLOAT, op); }
  void allreduce(std::span<double> x, reduce_op op) { reduce(x, MPI_DOUBLE, op); }
  void broadcast(std::span<std::byte> x, int root) {
    if (root < 0 || root >= size_)
      fail<dist_error>("dist::mpi_communicator::broadcast", "root ", root, " is not a rank of ", size_);
    gate(kind::broadcast, x.size());
    for (std::size_t at = 0; at < x.size(); at += chunk)
      detail::mpi_check(MPI_Bcast(x.data() + at, piece(x.size() - at), MPI_BYTE, root, comm_), "MPI_Bcast");
  }
  void allgather(std::span<const std::byte> mine, std::span<std::byte> all) {
    if (all.size() != mine.size() * static_cast<std::size_t>(size_))
      fail<dist_error>("dist::mpi_communicator::allgather", "output of ", all.size(), " bytes for ", size_, " x ",
                       mine.size(), " bytes");
    if (mine.size() > chunk)
      fail<dist_error>("dist::mpi_communicator::allgather", mine.size(), " bytes per rank exceed one MPI call's ",
                       chunk);
    gate(kind::allgather, mine.size());
    detail::mpi_check(MPI_Allgather(mine.data(), static_cast<int>(mine.size()), MPI_BYTE, all.data(),
                                    static_cast<int>(mine.size()), MPI_BYTE, comm_),
                      "MPI_Allgather");
  }
  void barrier() {
    gate(kind::barrier, 0);
    detail::mpi_check(MPI_Barrier(comm_), "MPI_Barrier");
  }

 private:
  enum class kind : long long { allreduce = 1, broadcast, allgather, barrier };
  static constexpr std::size_t chunk = std::size_t{1} << 30;  // elements or bytes per MPI call (int counts)
  static constexpr int tag_arrive = 0x6b1, tag_verdict = 0x6b2;
  static int piece(std::size_t left) { return static_cast<int>(std::min(left, chunk)); }
  static const char* name(long long k) {
    switch (k) {
      case 1:
        return "allreduce";
      case 2:
        return "broadcast";
      case 3:
        return "allgather";
      case 4:
        return "barrier";
      default:
        return "an unknown collective";
    }
  }

  template <class T>
  void reduce(std::span<T> x, MPI_Datatype type, reduce_op op) {
    gate(kind::allreduce, x.size_bytes());
    const MPI_Op mop = op == reduce_op::sum ? MPI_SUM : op == reduce_op::max ? MPI_MAX : MPI_MIN;
    for (std::size_t at = 0; at < x.size(); at += chunk)
      detail::mpi_check(MPI_Allreduce(MPI_IN_PLACE, x.data() + at, piece(x.size() - at), type, mop, comm_),
                        "MPI_Allreduce");
  }

  /// Waits for every request, polling, until the deadline; returns whether all completed.
  bool wait_until(std::vector<MPI_Request>& req, std::chrono::steady_clock::time_point deadline) {
    for (long spins = 0;; ++spins) {
      int done = 0;
      detail::mpi_check(MPI_Testall(static_cast<int>(req.size()), req.data(), &done, MPI_STATUSES_IGNORE),
                        "MPI_Testall");
      if (done) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (spins < 2000)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  /// Every rank announces (sequence number, collective, bytes) to rank 0, which answers each
  /// with a verdict once all have arrived, or names the missing or disagreeing ranks.
  void gate(kind k, std::size_t bytes) {
    ++seq_;
    if (size_ == 1) return;
    const std::array<long long, 3> mine{seq_, static_cast<long long>(k), static_cast<long long>(bytes)};
    const auto deadline = deadline_after(timeout_);
    const std::string where = std::string("collective #") + std::to_string(seq_) + " (" + name(mine[1]) + ")";
    std::array<long long, 2> verdict{0, 0};
    if (rank_ != 0) {
      detail::mpi_check(MPI_Send(mine.data(), 3, MPI_LONG_LONG, 0, tag_arrive, comm_), "MPI_Send");
      std::vector<MPI_Request> req(1);
      detail::mpi_check(MPI_Irecv(verdict.data(), 2, MPI_LONG_LONG, 0, tag_verdict, comm_, req.data()), "MPI_Irecv");
      if (!wait_until(req, deadline)) {
        detail::mpi_broken() = true;
        fail<dist_error>("dist::mpi_communicator", "rank 0 did not answer at ", where, " within ", timeout_,
                         " s (this is rank ", rank_, " of ", size_, "): rank 0 is stuck or has died");
      }
    } else {
      std::vector<std::array<long long, 3>> got(static_cast<std::size_t>(size_));
      std::vector<MPI_Request> req(static_cast<std::size_t>(size_ - 1));
      for (int r = 1; r < size_; ++r)
        detail::mpi_check(MPI_Irecv(got[static_cast<std::size_t>(r)].data(), 3, MPI_LONG_LONG, r, tag_arrive, comm_,
                                    &req[static_cast<std::size_t>(r - 1)]),
                          "MPI_Irecv");
      if (!wait_until(req, deadline)) {
        std::string missing;
        std::vector<int> arrived;
        long long first_missing = -1;
        for (int r = 1; r < size_; ++r) {
          auto& q = req[static_cast<std::size_t>(r - 1)];
          int done = 1;
          if (q != MPI_REQUEST_NULL) MPI_Test(&q, &done, MPI_STATUS_IGNORE);
          if (done) {
            arrived.push_back(r);
          } else {
            if (first_missing < 0) first_missing = r;
            missing += (missing.empty() ? "" : ", ") + std::to_string(r);
            MPI_Cancel(&q);
            MPI_Request_free(&q);
          }
        }
        verdict = {-1, first_missing};
        for (int r : arrived) MPI_Send(verdict.data(), 2, MPI_LONG_LONG, r, tag_verdict, comm_);
        detail::mpi_broken() = true;
        fail<dist_error>("dist::mpi_communicator", "rank(s) ", missing, " did not reach ", where, " within ", timeout_,
                         " s: stuck, slower than the timeout (BIJGAN_DIST_TIMEOUT), or dead");
      }
      for (int r = 1; r < size_ && verdict[0] == 0; ++r)
        if (got[static_cast<std::size_t>(r)] != mine) verdict = {-2, r};
      for (int r = 1; r < size_; ++r)
        detail::mpi_check(MPI_Send(verdict.data(), 2, MPI_LONG_LONG, r, tag_verdict, comm_), "MPI_Send");
      if (verdict[0] == -2) {
        const auto& o = got[static_cast<std::size_t>(verdict[1])];
        detail::mpi_broken() = true;
        fail<dist_error>("dist::mpi_communicator", "rank ", verdict[1], " called collective #", o[0], " (", name(o[1]),
                         ", ", o[2], " bytes) where rank 0 called ", where, " with ", bytes,
                         " bytes: the ranks run different programs, options or data");
      }
    }
    if (verdict[0] == -1) {
      detail::mpi_broken() = true;
      fail<dist_error>("dist::mpi_communicator", "rank ", verdict[1], " did not reach ", where, " within ", timeout_,
                       " s (reported by rank 0 to rank ", rank_, ")");
    }
    if (verdict[0] == -2) {
      detail::mpi_broken() = true;
      fail<dist_error>("dist::mpi_communicator", "rank ", verdict[1], " called another collective than rank 0's ",
                       where, " (reported by rank 0 to rank ", rank_, ")");
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  double timeout_;
  long long seq_ = 0;
};
static_assert(communicator<mpi_communicator>);

}  // namespace bijgan::dist
