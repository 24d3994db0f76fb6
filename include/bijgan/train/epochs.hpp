// The loop the supervised trainers share (fit_classifier, fit_student): Adam with linear warm-up
// and linear decay over shuffled mini-batches, a progress bar per epoch showing an
// exponentially smoothed loss (when given a log), the trainers' callbacks after every step
// (train/report.hpp), checkpoints it can resume from (train/checkpoint.hpp); data-parallel
// over the options' comm (each rank takes every size()-th row of every batch, gradients
// averaged: docs/distributed.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/data/rows.hpp"
#include "bijgan/dist/data_parallel.hpp"
#include "bijgan/io/progress.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/optim/optim.hpp"
#include "bijgan/train/checkpoint.hpp"
#include "bijgan/train/nonfinite.hpp"
#include "bijgan/train/report.hpp"

namespace bijgan::train {

/// Where an epoch trainer checkpoints (the model and its optimizer) and whether it resumes.
struct epoch_checkpoint_options {
  std::filesystem::path path;  ///< empty: no checkpoints
  long every = 200;            ///< steps between checkpoints (and one at the end)
  bool resume = false;         ///< continue from `path` when it exists (its recorded options must match)
  /// Resume even where the options differ from those the checkpoint recorded; the differences are logged.
  bool allow_option_changes = false;
};

}  // namespace bijgan::train

namespace bijgan::train::detail {

/// Runs o.epochs epochs over n samples in batches of o.batch, shuffled per epoch from
/// o.seed + epoch; loss_of(dist::batch_share) returns the scalar mean loss of this rank's rows
/// of one batch (a graph to differentiate; never called for a rank with no rows); replay(share)
/// is called instead for the batches a resumed run passes over (to advance the caller's own
/// random draws). Opts has epochs, batch, lr, warmup_steps, final_lr_factor, seed, log, comm,
/// on_nonfinite (a non-finite loss or gradient: stop naming it and the step, or skip the
/// step's update) and checkpoint (epoch_checkpoint_options). `model` is saved with the optimizer; `record`
/// holds the caller's options. Callbacks run after every step. Returns the smoothed loss.
template <class T, class B, class Opts, class M, class Loss, class Replay>
double adam_epochs(const std::vector<var<T, B>>& params, index_t n, const Opts& o, const char* trainer,
                   const std::string& label, const char* loss_name, M& model, run_record record, Loss&& loss_of,
                   Replay&& replay, const std::vector<callback>& callbacks) {
  const dist::communicator_ref comm = o.comm;
  const int ranks = comm.size(), me = comm.rank();
  record.add("epochs", o.epochs).add("batch", o.batch).add("lr", o.lr).add("warmup_steps", o.warmup_steps);
  record.add("final_lr_factor", o.final_lr_factor).add("seed", o.seed).add("samples", n);
  if (ranks > 1) {
    dist::fingerprint fp;
    for (const auto& [k, v] : record.entries()) fp.add(k).add(v);
    fp.add(label).add(o.checkpoint.resume);
    for (const auto& p : params) fp.add(p.shape());
    dist::check_consistent(comm, fp.value(), std::string(trainer) + "'s options, model or data");
    for (const auto& p : params) dist::broadcast(comm, p.value());
  }
  std::ostream* const log = me == 0 ? o.log : nullptr;
  optim::adam<T, B> opt(params, {.lr = o.lr});
  const long per_epoch = (n + o.batch - 1) / o.batch;
  const long total = o.epochs * per_epoch;
  const optim::linear_schedule schedule{
      .warmup_steps = o.warmup_steps, .decay_start = 0, .total_steps = total, .final_factor = o.final_lr_factor};
  const auto parts = [&](auto&& each) {
    each("model", model);
    each("optimizer", opt);
  };
  const checkpoint_plan plan{.path = o.checkpoint.path,
                             .resume = o.checkpoint.resume,
                             .allow_option_changes = o.checkpoint.allow_option_changes,
                             .trainer = trainer};
  if (!plan.path.empty()) record.add_hash("model", dist::fingerprint().add_module(model).value());
  const auto save = [&](long at) { save_checkpoint(comm, plan, at, record, parts); };
  long step = resume_checkpoint(comm, plan, record, log, parts);
  std::ostringstream quiet;
  double running = 0;
  bool fresh = true;  // the smoothed loss starts at this run's first step
  for (int e = 1; e <= o.epochs; ++e) {
    const long first = std::clamp(step - long(e - 1) * per_epoch, 0L, per_epoch);  // batches done already
    if (first == per_epoch) {  // a whole epoch passed over on resume
      for (auto& all : data::shuffled_batches(n, o.batch, o.seed + static_cast<std::uint64_t>(e)))
        replay(dist::share_of(std::move(all), me, ranks));
      continue;
    }
    io::progress_bar bar(per_epoch, label + " " + std::to_string(e) + "/" + std::to_string(o.epochs), o.batch,
                         log ? *log : quiet, first);
    long k = 0;
    for (auto& all : data::shuffled_batches(n, o.batch, o.seed + static_cast<std::uint64_t>(e))) {
      auto sh = dist::share_of(std::move(all), me, ranks);
      if (k < first) {
        replay(sh);
        ++k;
        continue;
      }
      opt.set_lr_factor(schedule(step++));
      opt.zero_grad();
      var<T, B> loss;  // this rank's mean loss (undefined for a rank with no rows)
      if (!sh.rows.empty()) {
        loss = nn::within(model, "model", [&] { return loss_of(sh); });
        backward(ranks == 1 ? loss : loss * static_cast<T>(sh.weight(ranks)));
      } else {
        replay(sh);  // no rows here: the caller's draws for the batch still advance
      }
      dist::average_gradients(comm, params);
      // One transfer: the loss and whether every (averaged) gradient is finite.
      const auto fetched = loss.defined() ? fetch_scalars<T, B>({loss.value(), nonfinite_probe(params)})
                                          : fetch_scalars<T, B>({nonfinite_probe(params)});
      double value = loss.defined() ? fetched[0] * sh.weight(ranks) : 0.0;  // weighted by this rank's share
      dist::mean_over_ranks(comm, std::span<double>(&value, 1));
      const bool finite = std::isfinite(value) && fetched.back() == 0;  // no gradient with inf or NaN
      if (!finite && o.on_nonfinite == nonfinite::stop)
        nonfinite_error(trainer, step,
                        std::isfinite(value) ? "the gradient of parameter " + first_nonfinite_gradient(model)
                                             : std::string("the loss"),
                        "options.on_nonfinite");
      if (finite) {
        opt.step();
        running = fresh ? value : 0.98 * running + 0.02 * value;
        fresh = false;
      }
      bar.update(++k, {{loss_name, running}});
      const auto global = static_cast<index_t>(sh.all.size());
      const step_report r{.trainer = trainer,
                          .step = step,
                          .steps = total,
                          .epoch = e,
                          .epoch_end = k == per_epoch,
                          .batch = global,
                          .rank = me,
                          .ranks = ranks,
                          .skipped = !finite,
                          .position = {{"epoch", e}, {"batch", static_cast<double>(global)}},
                          .values = {{loss_name, value}, {"lr", opt.lr()}}};
      for (const auto& cb : callbacks) cb(r);
      if (plan.path.empty() || o.checkpoint.every <= 0 || step % o.checkpoint.every != 0) continue;
      save(step);
    }
  }
  save(step);
  return running;
}

}  // namespace bijgan::train::detail
