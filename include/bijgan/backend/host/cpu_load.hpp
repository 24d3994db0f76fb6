// How much of this process's CPUs other work is using, for the host backend's thread count:
// /proc/stat's busy time of the CPUs in the affinity mask minus this process's own CPU time,
// over the interval since the last sample. Linux only; elsewhere it reports nothing busy.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#if defined(__linux__)
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#endif

namespace bijgan::detail {

/// A clock's reading in nanoseconds (CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, ...).
inline std::int64_t clock_ns(clockid_t id) {
  timespec t{};
  clock_gettime(id, &t);
  return std::int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
}

/// Successive samples of CPU time; busy_elsewhere() is the average number of this process's
/// CPUs that other processes kept busy between the previous sample and this one.
class cpu_load_sampler {
 public:
  /// Takes a sample; returns the CPUs busy with other work since the previous sample (0 for the
  /// first sample, or where /proc/stat cannot be read).
  double busy_elsewhere() {
    sample s;
    if (!take(s)) return 0;
    double others = 0;
    if (have_previous_ && s.wall_ns > previous_.wall_ns) {
      const double wall = double(s.wall_ns - previous_.wall_ns) * 1e-9;
      const double busy = double(s.busy_ticks - previous_.busy_ticks) / ticks_per_second();
      const double own = double(s.own_ns - previous_.own_ns) * 1e-9;
      others = (busy - own) / wall;
      if (others < 0) others = 0;
    }
    previous_ = s;
    have_previous_ = true;
    return others;
  }

  /// CPUs in the affinity mask at the latest sample (0 before one, or where unknown).
  [[nodiscard]] int sampled_cpus() const { return have_previous_ ? previous_.cpus : 0; }

  /// CPUs this process may run on (its affinity mask); 0 where unknown.
  static int allowed_cpus() {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
#endif
    return 0;
  }

 private:
  struct sample {
    std::uint64_t busy_ticks = 0;  ///< user + nice + system + irq + softirq + steal, CPUs of the mask
    std::int64_t own_ns = 0;       ///< this process's CPU time
    std::int64_t wall_ns = 0;
    int cpus = 0;  ///< CPUs in the affinity mask
  };

  static double ticks_per_second() {
#if defined(__linux__)
    static const double hz = [] {
      const long t = sysconf(_SC_CLK_TCK);
      return t > 0 ? double(t) : 100.0;
    }();
    return hz;
#else
    return 100.0;
#endif
  }

  bool take(sample& s) {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return false;
    s.cpus = CPU_COUNT(&set);
    const int fd = ::open("/proc/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    buffer_.resize(1 << 16);
    std::size_t used = 0;
    for (;;) {
      if (used + 4096 > buffer_.size()) buffer_.resize(buffer_.size() * 2);
      const ssize_t r = ::read(fd, buffer_.data() + used, buffer_.size() - used - 1);
      if (r <= 0) break;
      used += static_cast<std::size_t>(r);
    }
    ::close(fd);
    buffer_[used] = '\0';
    s.wall_ns = clock_ns(CLOCK_MONOTONIC);
    s.own_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    // Lines "cpuN user nice system idle iowait irq softirq steal ..." (the "cpu " total skipped).
    for (const char* line = buffer_.data(); line && *line;) {
      const char* next = std::strchr(line, '\n');
      if (std::strncmp(line, "cpu", 3) == 0 && line[3] >= '0' && line[3] <= '9') {
        char* end = nullptr;
        const long cpu = std::strtol(line + 3, &end, 10);
        if (cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &set)) {
          std::uint64_t field[8] = {};
          const char* p = end;
          for (int i = 0; i < 8; ++i) {
            char* e = nullptr;
            field[i] = std::strtoull(p, &e, 10);
            if (e == p) break;
            p = e;
          }
          s.busy_ticks += field[0] + field[1] + field[2] + field[5] + field[6] + field[7];
        }
      }
      line = next ? next + 1 : nullptr;
    }
    return true;
#else
    (void)s;
    return false;
#endif
  }

  std::vector<char> buffer_;
  sample previous_{};
  bool have_previous_ = false;
};

}  // namespace bijgan::detail
