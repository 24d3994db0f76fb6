// The loop the supervised trainers share (fit_classifier, fit_student): Adam with linear warm-up
// and linear decay over shuffled mini-batches, one progress bar per epoch showing an
// exponentially smoothed loss; data-parallel over the options' comm (each rank takes every
// size()-th row of every batch, gradients averaged: docs/distributed.md).
#pragma once

#include <functional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/data/rows.hpp"
#include "bijgan/dist/data_parallel.hpp"
#include "bijgan/io/progress.hpp"
#include "bijgan/optim/optim.hpp"

namespace bijgan::train::detail {

/// Runs o.epochs epochs over n samples in batches of o.batch, shuffled per epoch from
/// o.seed + epoch; loss_of(dist::batch_share) returns the scalar mean loss of this rank's rows of one batch
/// (a graph to differentiate; never called for a rank with no rows). Opts has epochs, batch,
/// lr, warmup_steps, final_lr_factor, seed, log and comm.
/// on_epoch(e) runs after each epoch. Returns the smoothed loss at the end.
template <class T, class B, class Opts, class Loss>
double adam_epochs(const std::vector<var<T, B>>& params, index_t n, const Opts& o, const std::string& label,
                   const char* loss_name, Loss&& loss_of, const std::function<void(int)>& on_epoch = {}) {
  const dist::communicator_ref comm = o.comm;
  const int ranks = comm.size(), me = comm.rank();
  if (ranks > 1) {
    dist::fingerprint fp;
    fp.add(n).add(o.epochs).add(o.batch).add(o.lr).add(o.warmup_steps).add(o.final_lr_factor).add(o.seed).add(label);
    for (const auto& p : params) fp.add(p.shape());
    dist::check_consistent(comm, fp.value(), "train::" + label + "'s options, model or data");
    for (const auto& p : params) dist::broadcast(comm, p.value());
  }
  std::ostream* const log = me == 0 ? o.log : nullptr;
  optim::adam<T, B> opt(params, {.lr = o.lr});
  const long per_epoch = (n + o.batch - 1) / o.batch;
  const optim::linear_schedule schedule{.warmup_steps = o.warmup_steps,
                                        .decay_start = 0,
                                        .total_steps = o.epochs * per_epoch,
                                        .final_factor = o.final_lr_factor};
  std::ostringstream quiet;
  long step = 0;
  double running = 0;
  for (int e = 1; e <= o.epochs; ++e) {
    io::progress_bar bar(per_epoch, label + " " + std::to_string(e) + "/" + std::to_string(o.epochs), o.batch,
                         log ? *log : quiet);
    long k = 0;
    for (auto& all : data::shuffled_batches(n, o.batch, o.seed + static_cast<std::uint64_t>(e))) {
      opt.set_lr_factor(schedule(step++));
      opt.zero_grad();
      const auto sh = dist::share_of(std::move(all), me, ranks);
      double value = 0;  // this rank's mean loss weighted by its share of the batch
      if (!sh.rows.empty()) {
        const auto loss = loss_of(sh);
        backward(ranks == 1 ? loss : loss * static_cast<T>(sh.weight(ranks)));
        value = loss.item() * sh.weight(ranks);
      }
      dist::average_gradients(comm, params);
      dist::mean_over_ranks(comm, std::span<double>(&value, 1));
      opt.step();
      running = step == 1 ? value : 0.98 * running + 0.02 * value;
      bar.update(++k, {{loss_name, running}});
    }
    if (on_epoch) on_epoch(e);
  }
  return running;
}

}  // namespace bijgan::train::detail
