// The loop the supervised trainers share (fit_classifier, fit_student): Adam with linear warm-up
// and linear decay over shuffled mini-batches, one progress bar per epoch showing an
// exponentially smoothed loss.
#pragma once

#include <functional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/data/rows.hpp"
#include "bijgan/io/progress.hpp"
#include "bijgan/optim/optim.hpp"

namespace bijgan::train::detail {

/// Runs o.epochs epochs over n samples in batches of o.batch, shuffled per epoch from
/// o.seed + epoch; loss_of(rows) returns the scalar loss of one batch (a graph to
/// differentiate). Opts has epochs, batch, lr, warmup_steps, final_lr_factor, seed and log.
/// on_epoch(e) runs after each epoch. Returns the smoothed loss at the end.
template <class T, class B, class Opts, class Loss>
double adam_epochs(const std::vector<var<T, B>>& params, index_t n, const Opts& o, const std::string& label, const char* loss_name,
                   Loss&& loss_of, const std::function<void(int)>& on_epoch = {}) {
  optim::adam<T, B> opt(params, {.lr = o.lr});
  const long per_epoch = (n + o.batch - 1) / o.batch;
  const optim::linear_schedule schedule{.warmup_steps = o.warmup_steps, .decay_start = 0, .total_steps = o.epochs * per_epoch,
                                        .final_factor = o.final_lr_factor};
  std::ostringstream quiet;
  long step = 0;
  double running = 0;
  for (int e = 1; e <= o.epochs; ++e) {
    io::progress_bar bar(per_epoch, label + " " + std::to_string(e) + "/" + std::to_string(o.epochs), o.batch, o.log ? *o.log : quiet);
    long k = 0;
    for (const auto& rows : data::shuffled_batches(n, o.batch, o.seed + static_cast<std::uint64_t>(e))) {
      opt.set_lr_factor(schedule(step++));
      opt.zero_grad();
      const auto loss = loss_of(rows);
      backward(loss);
      opt.step();
      running = step == 1 ? loss.item() : 0.98 * running + 0.02 * loss.item();
      bar.update(++k, {{loss_name, running}});
    }
    if (on_epoch) on_epoch(e);
  }
  return running;
}

}  // namespace bijgan::train::detail
