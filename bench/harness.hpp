// A small timing harness shared by the bench programs (ours and the libtorch peer): warm-up,
// repetitions of at least 40 ms each (fast calls are looped), median and min per call, one
// tab-separated line per result so tools/bench.sh can pair ours with the peer's.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace bench {

struct timing {
  double median_ms, min_ms;
};

/// Times f: >= 2 warm-up calls and 0.2 s, then `reps` repetitions of >= 40 ms.
template <class F>
timing time_it(F&& f, int reps = 11) {
  using clk = std::chrono::steady_clock;
  auto secs = [](clk::duration d) { return std::chrono::duration<double>(d).count(); };
  const auto w0 = clk::now();
  int calls = 0;
  while (calls < 2 || secs(clk::now() - w0) < 0.2) {
    f();
    ++calls;
  }
  const double per_call = secs(clk::now() - w0) / calls;
  const long inner = std::max(1L, static_cast<long>(0.04 / std::max(per_call, 1e-9)));
  std::vector<double> samples;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = clk::now();
    for (long i = 0; i < inner; ++i) f();
    samples.push_back(secs(clk::now() - t0) / static_cast<double>(inner) * 1e3);
  }
  std::sort(samples.begin(), samples.end());
  return {samples[samples.size() / 2], samples.front()};
}

/// Prints: bench <name> <impl> <threads> <median_ms> <min_ms> <rate> <unit>
inline void report(const std::string& name, const std::string& impl, int threads, timing t, double work,
                   const char* unit) {
  const double rate = work > 0 ? work / (t.median_ms * 1e-3) : 0;
  std::printf("bench\t%s\t%s\t%d\t%.4g\t%.4g\t%.4g\t%s\n", name.c_str(), impl.c_str(), threads, t.median_ms, t.min_ms,
              rate, unit);
  std::fflush(stdout);
}

/// --threads N from argv (default 1).
inline int threads_arg(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--threads")) return std::atoi(argv[i + 1]);
  return 1;
}

}  // namespace bench
