// The exponential weighting of the loss terms over progressive stages (Eq. 18, method.md §2):
// λ_b = α·e^(R_M − R), λ_d = λ_r = e^(R_M − R), λ_adv = β·e^R, with R the (fractional, during a
// fade-in) stage index 1..R_M.
#pragma once

#include <cmath>

#include "bijgan/config/errors.hpp"

namespace bijgan::train {

struct weighting_options {
  double alpha = 0.001;
  double beta = 1;
};

/// The four weights of Eq. 16 at one point of training.
struct loss_weights {
  double biject, distill, adversarial, recon;
};

/// Eq. 18 at stage (1 <= stage <= max_stage; fractional during a fade-in).
inline loss_weights exponential_weighting(double stage, double max_stage, const weighting_options& o = {}) {
  if (!(max_stage >= 1) || !(stage >= 1 && stage <= max_stage))
    fail<value_error>("exponential_weighting", "stage ", stage, " must lie in [1, ", max_stage, "]");
  const double down = std::exp(max_stage - stage);
  return {o.alpha * down, down, o.beta * std::exp(stage), down};
}

}  // namespace bijgan::train
