// Learning-rate schedules: callables from the step index to a factor of the base learning
// rate, applied with optimizer.set_lr_factor(schedule(step)).
#pragma once

#include <algorithm>

#include "bijgan/config/errors.hpp"

namespace bijgan::optim {

/// Linear warm-up over warmup_steps (factor (step+1)/warmup_steps), constant until
/// decay_start, then linear decay to final_factor at total_steps (and constant after).
struct linear_schedule {
  long warmup_steps = 0;
  long decay_start = 0;
  long total_steps = 0;  ///< 0: no decay
  double final_factor = 0;

  [[nodiscard]] double operator()(long step) const {
    if (step < 0) fail<value_error>("optim::linear_schedule", "step ", step, " must be >= 0");
    double f = 1;
    if (warmup_steps > 0 && step < warmup_steps) f = static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
    const long start = std::max(decay_start, warmup_steps);
    if (total_steps > start && step >= start) {
      const double t = std::min(1.0, static_cast<double>(step - start) / static_cast<double>(total_steps - start));
      f *= 1 - t * (1 - final_factor);
    }
    return f;
  }
};

}  // namespace bijgan::optim
