// Training the student F^S from blackbox queries only (method.md §5, Eq. 14): the engine's
// features of the training images are the targets; the student minimises the cosine
// distillation loss E (1 − cos(F(x), F^S(x)))², then is frozen (eval mode) and serves as the
// distiller of the generator's feature distillation.
#pragma once

#include <iostream>
#include <vector>

#include "bijgan/concepts/model.hpp"
#include "bijgan/data/rows.hpp"
#include "bijgan/losses/distill.hpp"
#include "bijgan/nn/module.hpp"
#include "bijgan/ops/resample.hpp"
#include "bijgan/train/epochs.hpp"

namespace bijgan::train {

struct student_options {
  int epochs = 2;
  index_t batch = 64;
  double lr = 1e-3;
  long warmup_steps = 100;
  double final_lr_factor = 0.05;
  std::uint64_t seed = 3;
  std::ostream* log = &std::cout;
};

/// Trains a staged_network s so that s(x) points where the engine's feature F(x) does, from
/// images (N, C, H, W) in [0, 1] (resized to the student's input when sizes differ) and the
/// engine's features (N, D). Returns the last smoothed loss; leaves s in eval mode.
template <class S>
double fit_student(S& s, const tensor<float, host>& images, const tensor<float, host>& teacher, const student_options& o) {
  static_assert(check_staged_network<S>());
  using T = typename S::value_type;
  if (images.rank() != 4 || teacher.rank() != 2 || teacher.size(0) != images.size(0))
    fail<shape_error>("train::fit_student", "images ", images.shape(), " and teacher features ", teacher.shape(), " must be (N, C, H, W) and (N, D)");
  static_assert(std::is_same_v<T, float>, "fit_student trains float students");
  nn::train(s);
  constexpr auto in = S::image_shape;
  const double running =
      detail::adam_epochs(nn::parameters(s), images.size(0), o, "student", "cos loss", [&](const std::vector<index_t>& rows) {
        using B = typename S::backend_type;  // batches move to the student's backend
        const auto x = resize(constant(data::as_batch<T, B>(data::gather_rows(images, rows))), in[1], in[2]);
        return losses::cosine_distill(data::as_batch<T, B>(data::gather_rows(teacher, rows)), s(x));
      });
  nn::eval(s);
  return running;
}

}  // namespace bijgan::train
