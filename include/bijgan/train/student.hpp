// Training the student F^S from blackbox queries only (method.md §5, Eq. 14): the engine's
// features of the training images are the targets; the student minimises the cosine
// distillation loss E (1 − cos(F(x), F^S(x)))², then is frozen (eval mode) and serves as the
// distiller of the generator's feature distillation.
#pragma once

#include <iomanip>
#include <random>
#include <sstream>
#include <vector>

#include "bijgan/concepts/engine.hpp"
#include "bijgan/concepts/model.hpp"
#include "bijgan/data/rows.hpp"
#include "bijgan/eval/verification.hpp"
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
  std::ostream* log = nullptr;  ///< progress bars, held-out lines, resume lines (nullptr: silent); rank 0 only
  epoch_checkpoint_options checkpoint{};  ///< the student and its optimizer, every checkpoint.every steps
  /// A non-finite loss or gradient: stop with an error naming it and the step (before the update
  /// and any checkpoint), or skip the step's update.
  nonfinite on_nonfinite = nonfinite::stop;
  /// Flip each batch image left-right with probability 1/2, keeping its target: an augmentation
  /// for engines that are (nearly) mirror-invariant, as face engines are.
  bool mirror = false;
  /// Held-out images (M, C, H, W) and the engine's features of them (M, D): when both are given,
  /// the student's mean cosine with the engine on them is logged after every epoch and, when
  /// held_out_cosines is given, appended to it.
  const tensor<float, host>* held_out_images = nullptr;
  const tensor<float, host>* held_out_teacher = nullptr;
  std::vector<double>* held_out_cosines = nullptr;
  /// The ranks that train together (default: this process alone): each takes every size()-th
  /// row of each batch, gradients are averaged; log on rank 0. docs/distributed.md.
  dist::communicator_ref comm{};
};

/// The features s(x) (N, D) of images (N, C, H, W) in [0, 1], resized to s's input, in
/// batches of 64, without a graph (s is used as it is: call nn::eval first for inference
/// statistics).
template <class S>
tensor<float, host> student_features(const S& s, const tensor<float, host>& images) {
  using T = typename S::value_type;
  using B = typename S::backend_type;
  static_assert(std::is_same_v<T, float>, "student_features reads float students");
  constexpr auto in = S::image_shape;
  if (images.rank() != 4 || images.size(0) == 0)
    fail<shape_error>("train::student_features", "images ", images.shape(), " must be (N, C, H, W) with N >= 1");
  const no_grad off;
  return in_batches(images, 64, tensor<float, host>{}, [&](const tensor<float, host>& part) {
    return to<host>(s(resize(constant(data::as_batch<T, B>(part)), in[1], in[2])).value());
  });
}

/// Trains a staged_network s so that s(x) points where the engine's feature F(x) does, from
/// images (N, C, H, W) in [0, 1] (resized to the student's input when sizes differ) and the
/// engine's features (N, D). Returns the last smoothed loss; leaves s in eval mode.
/// Callbacks run after every step (train::at_epoch_end(f): after each epoch, after the
/// held-out evaluation).
template <class S>
double fit_student(S& s, const tensor<float, host>& images, const tensor<float, host>& teacher,
                   const student_options& o, std::vector<callback> callbacks = {}) {
  static_assert(check_staged_network<S>());
  using T = typename S::value_type;
  if (images.rank() != 4 || teacher.rank() != 2 || teacher.size(0) != images.size(0))
    fail<shape_error>("train::fit_student", "images ", images.shape(), " and teacher features ", teacher.shape(),
                      " must be (N, C, H, W) and (N, D)");
  static_assert(std::is_same_v<T, float>, "fit_student trains float students");
  const bool held_out = o.held_out_images && o.held_out_teacher;
  if (held_out && (o.held_out_images->rank() != 4 || o.held_out_images->size(1) != images.size(1) ||
                   o.held_out_teacher->shape() != shape{o.held_out_images->size(0), teacher.size(1)}))
    fail<shape_error>("train::fit_student", "held-out images ", o.held_out_images->shape(), " and features ",
                      o.held_out_teacher->shape(), " must be (M, ", images.size(1), ", H, W) and (M, ", teacher.size(1),
                      ")");
  nn::train(s);
  constexpr auto in = S::image_shape;
  std::mt19937_64 flips(o.seed ^ 0x9e3779b97f4a7c15ULL);
  const auto held_out_epoch = [&](int e) {
    if (!held_out) return;
    nn::eval(s);
    const double c = eval::mean_cosine(student_features(s, *o.held_out_images), *o.held_out_teacher);
    nn::train(s);
    if (o.held_out_cosines) o.held_out_cosines->push_back(c);
    if (o.log && o.comm.rank() == 0) {
      std::ostringstream line;  // formatted here, so the caller's stream keeps its own settings
      line << "student: epoch " << e << ", held-out cosine with the engine " << std::fixed << std::setprecision(4) << c
           << "\n";
      *o.log << line.str();
    }
  };
  callbacks.insert(callbacks.begin(), at_epoch_end(held_out_epoch));
  run_record record;
  if (!o.checkpoint.path.empty()) {
    record.add("mirror", o.mirror);
    record.add_hash("data", dist::fingerprint().add(images, 997).add(teacher, 7).value());
  }
  // The flips of one batch, drawn for the whole batch: every rank keeps its rows' flips (and a
  // resumed run draws those of the batches it passes over, to continue the same sequence).
  const auto draw_flips = [&](const dist::batch_share& sh) {
    std::vector<bool> all(sh.all.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = (flips() >> 63) != 0;
    return all;
  };
  const double running = detail::adam_epochs(
      nn::parameters(s), images.size(0), o, "train::fit_student", "student", "cos loss", s, std::move(record),
      [&](const dist::batch_share& sh) {
        using B = typename S::backend_type;  // batches move to the student's backend
        const auto& rows = sh.rows;
        auto batch = data::gather_rows(images, rows);
        if (o.mirror) {
          const auto all = draw_flips(sh);
          std::vector<bool> flip;
          for (index_t p : sh.positions) flip.push_back(all[static_cast<std::size_t>(p)]);
          data::mirror_images(batch, flip);
        }
        const auto x = resize(constant(data::as_batch<T, B>(batch)), in[1], in[2]);
        return losses::cosine_distill(data::as_batch<T, B>(data::gather_rows(teacher, rows)), s(x));
      },
      [&](const dist::batch_share& sh) {
        if (o.mirror) (void)draw_flips(sh);
      },
      callbacks);
  dist::broadcast_buffers(o.comm, s);  // batch norm's statistics were per rank: rank 0's for all
  nn::eval(s);
  return running;
}

}  // namespace bijgan::train
