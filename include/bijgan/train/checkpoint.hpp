// The trainers' checkpoints, one machinery for all of them: a safetensors file holding the
// named parts of a run (models, optimizers, averages), the step, and a record of the options
// the run was started with. Rank 0 writes it (atomically); on resume rank 0 reads it and sends
// its bytes to the others, the record is compared with the current run's, and a difference is
// refused with an error that lists every one, unless the caller allows it.
#pragma once

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "bijgan/config/errors.hpp"
#include "bijgan/dist/data_parallel.hpp"
#include "bijgan/io/safetensors.hpp"

namespace bijgan::train {

/// The options of a run that its checkpoints record and that a resumed run must repeat: the
/// objective, the optimizer's settings, the schedule, the seed, and fingerprints of what the
/// run takes as fixed (data, H). Not recorded: what may change between the two halves of a
/// run without changing its result (max_steps, checkpoint_every, logging, the number of ranks).
class run_record {
 public:
  /// Records `value` under `name` (numbers as their shortest exact text).
  template <class V>
  run_record& add(const std::string& name, const V& value) {
    if constexpr (std::is_same_v<V, bool>) {
      entries_[name] = value ? "true" : "false";
    } else if constexpr (std::is_arithmetic_v<V>) {
      char buf[64];
      const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
      entries_[name] = std::string(buf, end);
    } else {
      entries_[name] = std::string(value);
    }
    return *this;
  }
  /// Records a fingerprint (dist::fingerprint::value()) under `name`, in hex.
  run_record& add_hash(const std::string& name, std::uint64_t hash) {
    char buf[17];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, hash, 16);
    entries_[name] = std::string(buf, end);
    return *this;
  }
  [[nodiscard]] const std::map<std::string, std::string>& entries() const noexcept { return entries_; }

  /// Where the record lives in a checkpoint's metadata: "option.<name>".
  static constexpr const char* prefix = "option.";

  /// Writes the record into d's metadata.
  void write(io::state_dict& d) const {
    for (const auto& [k, v] : entries_) d.metadata[prefix + k] = v;
  }
  /// The differences between the record in d and this one, one line each ("name: checkpoint
  /// a, this run b"); empty when they agree. A checkpoint with no record at all (written before
  /// records existed) gives no differences.
  [[nodiscard]] std::vector<std::string> differences(const io::state_dict& d) const {
    std::map<std::string, std::string> stored;
    const std::string p = prefix;
    for (const auto& [k, v] : d.metadata)
      if (k.rfind(p, 0) == 0) stored[k.substr(p.size())] = v;
    std::vector<std::string> out;
    if (stored.empty()) return out;
    const auto line = [](std::initializer_list<std::string_view> parts) {
      std::string l;
      for (const auto part : parts) l += part;
      return l;
    };
    for (const auto& [k, v] : entries_) {
      const auto it = stored.find(k);
      if (it == stored.end())
        out.push_back(line({k, ": not in the checkpoint, this run ", v}));
      else if (it->second != v)
        out.push_back(line({k, ": checkpoint ", it->second, ", this run ", v}));
    }
    for (const auto& [k, v] : stored)
      if (!entries_.contains(k)) out.push_back(line({k, ": checkpoint ", v, ", not set by this run"}));
    return out;
  }

 private:
  std::map<std::string, std::string> entries_;
};

/// Where a trainer checkpoints and whether it resumes.
struct checkpoint_plan {
  std::filesystem::path path;         ///< empty: no checkpoints
  bool resume = false;                ///< continue from `path` when it exists
  bool allow_option_changes = false;  ///< resume even where the record differs (listed in the log)
  const char* trainer = "train";      ///< names the trainer in errors and log lines
};

/// Writes the parts, the step and the record to plan.path (rank 0 only; nothing without a path).
/// `parts(f)` calls f(name, module) for every part to save (the same order as for resume).
template <class Parts>
void save_checkpoint(const dist::communicator_ref& comm, const checkpoint_plan& plan, long step,
                     const run_record& record, Parts&& parts) {
  if (plan.path.empty() || comm.rank() != 0) return;
  io::state_dict d;
  parts([&](const char* name, auto& module) { d.put_module(name, module); });
  d.metadata["step"] = std::to_string(step);
  record.write(d);
  io::save_safetensors(plan.path, d);
}

/// Resumes from plan.path when plan.resume is set and the file exists (rank 0 reads it and
/// sends it to the others): checks the record, loads every part and returns the step it was
/// written at; returns 0 otherwise. Throws value_error listing every option that differs from
/// the record unless plan.allow_option_changes; io_error for a damaged file or missing part.
/// `log` (nullable) gets one line: resumed, allowed differences, or that there was no checkpoint.
template <class Parts>
long resume_checkpoint(const dist::communicator_ref& comm, const checkpoint_plan& plan, const run_record& record,
                       std::ostream* log, Parts&& parts) {
  if (!plan.resume) return 0;
  if (plan.path.empty()) fail<value_error>(plan.trainer, "resume is set but no checkpoint path is given");
  if (!dist::exists_on_root(comm, plan.path)) {
    if (log) *log << "no checkpoint at " << plan.path.string() << " to resume from: starting at step 0\n";
    return 0;
  }
  const auto source = plan.path.string();
  const auto d = io::decode_safetensors(dist::read_on_root(comm, plan.path), source);
  if (const auto diff = record.differences(d); !diff.empty()) {
    std::string lines;
    for (const auto& l : diff) lines += "\n  " + l;
    if (!plan.allow_option_changes)
      fail<value_error>(plan.trainer, "cannot resume from ", source, ": the run's options differ from the ",
                        "checkpoint's (allow_option_changes resumes anyway):", lines);
    if (log) *log << "resuming with changed options:" << lines << "\n";
  }
  parts([&](const char* name, auto& module) { d.load_module(name, module); });
  const long step = static_cast<long>(io::metadata_integer(d, "step", 0, 1LL << 53, source));
  if (log) *log << "resumed from " << source << " at step " << step << "\n";
  return step;
}

}  // namespace bijgan::train
