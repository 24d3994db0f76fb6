// Supervised training of a classifier (the engines of the experiments, e.g. the LeNet of the
// MNIST ablation): Adam with warm-up and linear decay over shuffled batches, softmax
// cross-entropy, a progress bar per epoch (given a log), callbacks and checkpoints
// (train/epochs.hpp).
#pragma once

#include <span>
#include <vector>

#include "bijgan/data/rows.hpp"
#include "bijgan/losses/classification.hpp"
#include "bijgan/nn/module.hpp"
#include "bijgan/train/epochs.hpp"

namespace bijgan::train {

struct classifier_options {
  int epochs = 4;
  index_t batch = 128;
  double lr = 1e-3;
  long warmup_steps = 100;
  double final_lr_factor = 0.05;
  std::uint64_t seed = 7;
  std::ostream* log = nullptr;            ///< progress bars and resume lines (nullptr: silent); rank 0 only
  epoch_checkpoint_options checkpoint{};  ///< the network and its optimizer, every checkpoint.every steps
  /// A non-finite loss or gradient: stop with an error naming it and the step (before the update
  /// and any checkpoint), or skip the step's update.
  nonfinite on_nonfinite = nonfinite::stop;
  /// The ranks that train together (default: this process alone): each takes every size()-th
  /// row of each batch, gradients are averaged; log on rank 0. docs/distributed.md.
  dist::communicator_ref comm{};
};

/// Trains net (a module; net(var images) -> logits (N, classes)) on images (N, ...) with
/// integer labels. Callbacks run after every step (train::at_epoch_end(f): after each epoch).
template <nn::module M>
void fit_classifier(M& net, const tensor<float, host>& images, const std::vector<int>& labels,
                    const classifier_options& o, const std::vector<callback>& callbacks = {}) {
  if (o.epochs < 1 || o.batch < 1)
    fail<value_error>("train::fit_classifier", "epochs ", o.epochs, " and batch ", o.batch, " must be >= 1");
  if (static_cast<index_t>(labels.size()) != images.size(0))
    fail<shape_error>("train::fit_classifier", images.size(0), " images but ", labels.size(), " labels");
  run_record record;
  if (!o.checkpoint.path.empty())
    record.add_hash("data", dist::fingerprint().add(images, 997).add(std::span<const int>(labels)).value());
  detail::adam_epochs(
      nn::parameters(net), images.size(0), o, "train::fit_classifier", "epoch", "loss", net, std::move(record),
      [&](const dist::batch_share& sh) {
        const auto& rows = sh.rows;
        std::vector<int> y;
        for (index_t r : rows) y.push_back(labels[static_cast<std::size_t>(r)]);
        // The batch moves to the network's backend (and element type).
        return losses::cross_entropy(net(constant(data::as_batch<typename M::value_type, typename M::backend_type>(
                                         data::gather_rows(images, rows)))),
                                     y);
      },
      [](const dist::batch_share&) {}, callbacks);
  dist::broadcast_buffers(o.comm, net);  // batch norm's statistics were per rank: rank 0's for all
}

}  // namespace bijgan::train
