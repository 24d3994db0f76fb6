// A terminal progress bar for training loops: step count, a bar, named values (loss, accuracy),
// throughput and ETA, redrawn in place on the stream the caller gives (the library itself
// never prints).
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace bijgan::io {

class progress_bar {
 public:
  /// total steps, label shown first, samples per step (for samples/s), the stream, and the
  /// steps already done before this bar started (a resumed run): throughput and ETA count
  /// only the steps this bar saw.
  progress_bar(long total, std::string label, long samples_per_step, std::ostream& os, long first_step = 0)
      : total_(total),
        first_(first_step),
        label_(std::move(label)),
        per_step_(samples_per_step),
        os_(os),
        start_(clock::now()) {}

  /// Marks step `step` (1-based) done with the given named values and redraws (at most ~10/s,
  /// always at the last step).
  void update(long step, const std::vector<std::pair<std::string, double>>& values) {
    const auto now = clock::now();
    if (step < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const long done = step - first_;
    const double rate = secs > 0 ? static_cast<double>(done * per_step_) / secs : 0;
    const double eta = done > 0 ? secs / static_cast<double>(done) * static_cast<double>(total_ - step) : 0;
    const int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * step / total_) : width;
    std::ostringstream line;
    line << '\r' << label_ << " [" << std::string(static_cast<std::size_t>(filled), '#')
         << std::string(static_cast<std::size_t>(width - filled), '.') << "] " << step << '/' << total_;
    for (const auto& [name, v] : values) line << ' ' << name << ' ' << std::setprecision(4) << v;
    line << " | " << std::fixed << std::setprecision(0) << rate << " samples/s | ETA " << format_time(eta) << "   ";
    os_ << line.str() << (step >= total_ ? "\n" : "") << std::flush;
  }

 private:
  using clock = std::chrono::steady_clock;
  static std::string format_time(double s) {
    char buf[32];
    const long t = std::lround(s);
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
  }
  long total_, first_;
  std::string label_;
  long per_step_;
  std::ostream& os_;
  clock::time_point start_, last_draw_{};
};

}  // namespace bijgan::io
