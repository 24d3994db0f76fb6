// The vocabulary of fit_gan: its options, what its callbacks see after each generator step
// (gan_report), what it returns, and the training data it takes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <vector>

#include "bijgan/dist/communicator.hpp"
#include "bijgan/losses/adversarial.hpp"
#include "bijgan/tensor/tensor.hpp"
#include "bijgan/train/report.hpp"

namespace bijgan::train {

struct gan_options {
  long steps = 1000;         ///< generator steps in total
  int n_critic = 1;          ///< critic steps per generator step
  index_t batch = 64;        ///< at the first stage
  bool halve_batch = false;  ///< halve the batch at every stage (method.md §2) …
  index_t min_batch = 32;    ///< … but never below this floor
  index_t per_identity = 0;  ///< > 0: batches of batch/per_identity identities × per_identity images
  double lr_generator = 1e-3;
  double lr_critic = 1e-3;
  losses::wgan_critic_options wgan{};
  double clip_norm = 0;      ///< > 0: clip each model's gradient norm
  double ema_decay = 0.999;  ///< generator EMA (with the warm-up min(decay, (1 + t) / (10 + t)))
  long steps_per_stage = 0;  ///< 0: no growing (every step at full resolution)
  long fade_steps = 0;       ///< fade-in length at the start of each new stage
  std::uint64_t seed = 1;    ///< batches, v and ε all derive from (seed, step)
  /// A non-finite critic loss, generator term or gradient: stop with an error naming it and the
  /// step (before the step's update or checkpoint), or skip the step's update.
  nonfinite on_nonfinite = nonfinite::stop;
  std::filesystem::path checkpoint;  ///< empty: no checkpoints
  long checkpoint_every = 200;
  bool resume = false;  ///< continue from `checkpoint` when it exists (its recorded options must match)
  /// Resume even where the options differ from those the checkpoint recorded (train/checkpoint.hpp:
  /// the objective, optimizer, schedule, seed, data, H and distiller); the differences are logged.
  bool allow_option_changes = false;
  long max_steps = 0;           ///< stop after this many steps in total (0: all)
  std::ostream* log = nullptr;  ///< progress bar and resume lines (nullptr: silent); rank 0 only
  /// The ranks that train together (default: this process alone). Each rank takes its share
  /// of every batch (whole identity groups, whole minibatch-stddev groups), gradients are
  /// averaged over ranks, the bijective metric sees the whole batch's latents (global), and
  /// rank 0 writes checkpoints; k steps on R ranks equal k steps in one process with the
  /// same batch, up to summation order. Every stage's batch must be a multiple of 4·R, and
  /// batch/(4·R) a multiple of per_identity. docs/distributed.md.
  dist::communicator_ref comm{};
  std::size_t bucket_bytes = std::size_t{25} << 20;  ///< gradient allreduce bucket size
};

/// What a callback sees after each generator step: the step_report every trainer gives
/// (position: stage, alpha, batch; values: each term that is on, "generator" (the weighted
/// sum), and the last critic step's "critic", "wasserstein", "gp"), plus the stage and two
/// functions that reconstruct with the current models.
struct gan_report : step_report {
  int stage = 1;
  double alpha = 1;
  /// The generator EMA at the current stage: reconstruct(features (n, D), seed) -> images
  /// (n, C, r, r) at the stage's resolution r, v drawn from seed (for grids and probes).
  std::function<tensor<float, host>(const tensor<float, host>&, std::uint64_t)> reconstruct;
  /// The same with the generator being trained (not its EMA): what the generator step's
  /// losses saw (student_refresh queries the engine on these).
  std::function<tensor<float, host>(const tensor<float, host>&, std::uint64_t)> generate;
};
/// A callback of fit_gan (a train::callback, which sees the step_report part, converts to it).
using gan_callback = std::function<void(const gan_report&)>;

struct gan_result {
  long steps = 0;
  long resumed_from = 0;
  double seconds = 0;
  long skipped = 0;  ///< steps skipped for a non-finite loss or gradient (nonfinite::skip)
  gan_report last;
};

/// The training data: images (N, C, R, R) in [0, 1] at the generator's full resolution, the
/// engine's features of the same images (N, feature_dim; blackbox queries made once), and a
/// class or identity label per image (the bijective metric groups by it).
struct gan_data {
  tensor<float, host> images;
  tensor<float, host> features;
  std::vector<int> labels;
};

}  // namespace bijgan::train
