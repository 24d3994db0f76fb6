// The one callback mechanism of the trainers (fit_gan, fit_flow, fit_student, fit_classifier):
// after every optimizer step each trainer hands its callbacks a step_report (the step, the
// epoch, the batch, the loss figures); fit_gan's reports extend it (gan_report: the stage and
// functions that reconstruct with the current generator). Callbacks that only need a
// step_report (csv_log, every, at_epoch_end) work with every trainer.
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "bijgan/backend/shape.hpp"
#include "bijgan/config/errors.hpp"

namespace bijgan::train {

/// What every trainer reports after each optimizer step.
struct step_report {
  const char* trainer = "";  ///< "train::fit_gan", "train::fit_flow", …
  long step = 0;             ///< optimizer steps done (including resumed ones)
  long steps = 0;            ///< the run's planned total
  int epoch = 0;             ///< 1-based epoch of an epoch trainer (0: fit_gan, which counts steps)
  bool epoch_end = false;    ///< this step finished an epoch
  index_t batch = 0;         ///< the global batch (all ranks together)
  int rank = 0;              ///< this process's rank (callbacks run on every rank)
  int ranks = 1;
  bool skipped = false;  ///< the step was skipped (a non-finite loss or gradient, nonfinite::skip)
  /// Where the step lies in the run besides its number, in the order a log writes them (fit_gan:
  /// stage, alpha, batch; the epoch trainers: epoch, batch).
  std::vector<std::pair<std::string, double>> position;
  std::map<std::string, double> values;  ///< the loss figures of the step (means over ranks)
};

/// A callback every trainer accepts.
using callback = std::function<void(const step_report&)>;

/// What a trainer does with a non-finite loss or gradient: stop with an error naming the term
/// (or parameter) and the step, before anything is checkpointed; or skip the step's update
/// (the step still counts, its report says skipped).
enum class nonfinite { stop, skip };

/// Runs f on every n-th step (step % n == 0).
inline callback every(long n, callback f) {
  if (n <= 0) fail<value_error>("train::every", "n ", n, " must be positive");
  return [n, f = std::move(f)](const step_report& r) {
    if (r.step % n == 0) f(r);
  };
}

/// Runs f(epoch) after each epoch of an epoch trainer (fit_flow, fit_student, fit_classifier).
inline callback at_epoch_end(std::function<void(int)> f) {
  return [f = std::move(f)](const step_report& r) {
    if (r.epoch_end) f(r.epoch);
  };
}

/// Appends one CSV row per step to `path`: step, the report's position (fit_gan: stage, alpha,
/// batch) and the first report's value names. The file is created with that header, or, when
/// it exists with a header, appended to with its columns (a resumed run). Rank 0 only.
inline callback csv_log(const std::filesystem::path& path) {
  struct state {
    std::ofstream os;
    std::vector<std::string> columns;
    std::size_t fixed = 0;  // step and the position columns
  };
  auto st = std::make_shared<state>();
  return [st, path](const step_report& r) {
    if (r.rank != 0) return;
    if (!st->os.is_open()) {
      st->fixed = 1 + r.position.size();
      bool fresh = !std::filesystem::exists(path) || std::filesystem::file_size(path) == 0;
      if (!fresh) {
        std::ifstream in(path);
        std::string header;
        std::getline(in, header);
        std::stringstream cols(header);
        for (std::string c; std::getline(cols, c, ',');) st->columns.push_back(c);
        fresh = st->columns.size() < st->fixed;
        if (fresh) st->columns.clear();
      }
      st->os.open(path, fresh ? std::ios::trunc : std::ios::app);
      if (!st->os) fail<io_error>("train::csv_log", "cannot open ", path, " for writing");
      if (fresh) {
        st->columns = {"step"};
        for (const auto& [k, v] : r.position) st->columns.push_back(k);
        for (const auto& [k, v] : r.values) st->columns.push_back(k);
        for (std::size_t i = 0; i < st->columns.size(); ++i) st->os << (i ? "," : "") << st->columns[i];
        st->os << "\n";
      }
    }
    st->os << r.step;
    for (const auto& [k, v] : r.position) st->os << "," << v;
    for (std::size_t i = st->fixed; i < st->columns.size(); ++i) {
      const auto it = r.values.find(st->columns[i]);
      st->os << ",";
      if (it != r.values.end()) st->os << it->second;
    }
    st->os << "\n";
    st->os.flush();
  };
}

}  // namespace bijgan::train
