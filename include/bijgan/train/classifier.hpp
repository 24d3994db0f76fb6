// Supervised training of a classifier (the engines of the experiments, e.g. the LeNet of the
// MNIST ablation): Adam with warm-up and linear decay over shuffled batches, softmax
// cross-entropy, a progress bar per epoch.
#pragma once

#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/data/batches.hpp"
#include "bijgan/io/progress.hpp"
#include "bijgan/losses/classification.hpp"
#include "bijgan/optim/optim.hpp"

namespace bijgan::train {

struct classifier_options {
  int epochs = 4;
  index_t batch = 128;
  double lr = 1e-3;
  long warmup_steps = 100;
  double final_lr_factor = 0.05;
  std::uint64_t seed = 7;
  std::ostream* log = &std::cout;
};

/// Trains net (a module; net(var images) -> logits (N, classes)) on images (N, ...) with
/// integer labels; on_epoch(epoch) runs after each epoch (evaluation).
template <nn::module M>
void fit_classifier(M& net, const tensor<float, host>& images, const std::vector<int>& labels, const classifier_options& o,
                    const std::function<void(int)>& on_epoch = {}) {
  if (o.epochs < 1 || o.batch < 1) fail<value_error>("train::fit_classifier", "epochs ", o.epochs, " and batch ", o.batch, " must be >= 1");
  optim::adam opt(nn::parameters(net), {.lr = o.lr});
  const long per_epoch = (images.size(0) + o.batch - 1) / o.batch;
  const optim::linear_schedule schedule{.warmup_steps = o.warmup_steps, .decay_start = 0, .total_steps = o.epochs * per_epoch,
                                        .final_factor = o.final_lr_factor};
  long step = 0;
  for (int e = 1; e <= o.epochs; ++e) {
    std::ostringstream quiet;
    io::progress_bar bar(per_epoch, "epoch " + std::to_string(e) + "/" + std::to_string(o.epochs), o.batch, o.log ? *o.log : quiet);
    double running = 0;
    long k = 0;
    for (const auto& b : data::labelled_batches(images, labels, o.batch, o.seed + static_cast<std::uint64_t>(e))) {
      opt.set_lr_factor(schedule(step++));
      opt.zero_grad();
      const auto loss = losses::cross_entropy(net(constant(b.images)), b.labels);
      backward(loss);
      opt.step();
      running = k == 0 ? loss.item() : 0.98 * running + 0.02 * loss.item();
      bar.update(++k, {{"loss", running}});
    }
    if (on_epoch) on_epoch(e);
  }
}

}  // namespace bijgan::train
