// Training a flow by class-conditional maximum likelihood (method.md §3, Eq. 12): batches of
// 8-bit images are dequantised, mapped by the flow, and the mean NLL −log N(z; μ_c, I) −
// log-det is minimised with Adam (optionally plus a weighted cross-entropy of the class
// posterior p(c | z): the hybrid objective). fit_flow drives epochs with a progress bar and atomic
// checkpoints (model, optimizer, step) it can resume from, on one process or data-parallel over
// flow_fit_options::comm (docs/distributed.md); evaluate_flow reports test
// bits/dim and the accuracy of classifying by the most likely class prior.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/data/rows.hpp"
#include "bijgan/dist/data_parallel.hpp"
#include "bijgan/flows/logit.hpp"
#include "bijgan/flows/prior.hpp"
#include "bijgan/io/progress.hpp"
#include "bijgan/io/safetensors.hpp"
#include "bijgan/losses/classification.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/optim/optim.hpp"
#include "bijgan/train/checkpoint.hpp"
#include "bijgan/train/nonfinite.hpp"
#include "bijgan/train/report.hpp"

namespace bijgan::train {

/// NLL per sample (nats, in the dequantised [0, 1) space) of flow F with a
/// class-conditional prior on a batch y (already dequantised) with its class labels.
template <flows::bijection F, class T, class B>
var<T, B> flow_nll(const F& flow, const flows::class_gaussian<T, B>& prior, const tensor<T, B>& y,
                   const std::vector<int>& labels) {
  const auto r = flow.forward(constant(y));
  const std::vector<index_t> lab(labels.begin(), labels.end());
  return -(prior.log_prob(flatten(r.z), lab) + r.logdet);
}

/// The training loss of a batch: mean NLL per dimension (Eq. 12), plus class_weight times the
/// mean cross-entropy of p(c | z) = softmax_c log N(z; μ_c, I) when class_weight > 0 (the
/// hybrid objective; both terms in nats). Returns {loss, nll per dim, cross-entropy}.
template <flows::bijection F, class T, class B>
std::array<var<T, B>, 3> flow_loss(const F& flow, const flows::class_gaussian<T, B>& prior, const tensor<T, B>& y,
                                   const std::vector<int>& labels, double class_weight) {
  const auto r = flow.forward(constant(y));
  const auto z = flatten(r.z);
  const std::vector<index_t> lab(labels.begin(), labels.end());
  const T per_dim = T(1) / static_cast<T>(z.shape()[1]);
  const auto nll = mean(-(prior.log_prob(z, lab) + r.logdet)) * per_dim;
  if (class_weight <= 0) return {nll, nll, constant(tensor<T, B>::zeros(shape{}))};
  const auto ce = losses::cross_entropy(prior.class_logits(z), labels);
  return {nll + ce * static_cast<T>(class_weight), nll, ce};
}

/// Adam parameter groups for a flow: the couplings' zero-initialised per-channel gates
/// (parameters whose path ends in `scale` or `shift`) learn at lr·gate_factor, the rest at lr.
/// Adam moves a parameter by about lr per step whatever its gradient, so a gate that starts at
/// 0 needs ~1/lr steps to open; a larger rate lets new couplings start working sooner.
template <nn::module M>
auto flow_param_groups(const M& flow, double lr, double gate_factor) {
  using V = nn::var_of<M>;
  std::vector<V> gates, rest;
  const auto is_gate = [](const std::string& path) {
    const auto leaf = path.substr(path.find_last_of('.') + 1);  // npos + 1 == 0: the whole path
    return leaf == "scale" || leaf == "shift";
  };
  for (const auto& [path, p] : nn::named_parameters(flow)) (is_gate(path) ? gates : rest).push_back(p);
  std::vector<optim::param_group<typename V::value_type, typename V::backend_type>> groups;
  if (!rest.empty()) groups.push_back({std::move(rest), lr, {}});
  if (!gates.empty()) groups.push_back({std::move(gates), lr * gate_factor, {}});
  return groups;
}

struct flow_fit_options {
  int epochs = 1;
  index_t batch = 64;
  double lr = 1e-3;
  double gate_lr_factor = 10;  ///< learning-rate multiple of the couplings' scale/shift gates
  long warmup_steps = 200;
  double final_lr_factor = 0.1;  ///< linear decay to lr·factor over the run
  double clip_norm = 100;        ///< gradient-norm clipping of the per-dimension loss (0: none)
  /// Weight of the class cross-entropy added to the NLL per dimension (0: pure maximum
  /// likelihood, Eq. 12). A hybrid objective trades a little bits/dim for classes the prior
  /// tells apart; see docs/flows.md.
  double class_weight = 0;
  std::uint64_t seed = 1;  ///< batch order and dequantisation noise
  /// A non-finite NLL, cross-entropy or gradient: stop with an error naming it and the step
  /// (before the update and any checkpoint), or skip the step's update.
  nonfinite on_nonfinite = nonfinite::stop;
  std::filesystem::path checkpoint;  ///< empty: no checkpoints
  long checkpoint_every = 200;       ///< steps between checkpoints (and one at the end)
  bool resume = false;               ///< continue from `checkpoint` when it exists
  /// Resume even where the options differ from those the checkpoint recorded (the schedule,
  /// optimizer, objective, seed, prior and data); the differences are logged.
  bool allow_option_changes = false;
  long max_steps = 0;           ///< stop after this many steps in total (0: run all epochs)
  std::ostream* log = nullptr;  ///< progress bars and resume lines (nullptr: silent); rank 0 only
  /// The ranks that train together (default: this process alone). Every rank draws the same
  /// batches and takes every size()-th row of each; each rank's loss is weighted by its share
  /// of the batch and gradients are averaged, so R ranks take the steps one process takes with
  /// the same batch (up to summation order). Data-dependent initialisation (ActNorm) runs on
  /// the whole first batch on every rank. Rank 0 writes checkpoints. docs/distributed.md.
  dist::communicator_ref comm{};
};

struct flow_fit_result {
  long steps = 0;         ///< optimizer steps taken in total (including resumed ones)
  long resumed_from = 0;  ///< the step the run continued from (0: fresh)
  double seconds = 0;     ///< wall time of this run's training steps
  double last_loss = 0;   ///< smoothed training NLL per dimension (nats)
};

/// Trains flow (a module and bijection on host floats) with Adam on images (N, C, H, W) of
/// k/255 values. Callbacks run after every step (values: nll/dim, xent, bits/dim of the step;
/// train::at_epoch_end(f): after each epoch, for evaluation and samples).
template <class F, class T, class B>
flow_fit_result fit_flow(F& flow, const flows::class_gaussian<T, B>& prior, const tensor<float, host>& images,
                         const std::vector<int>& labels, const flow_fit_options& o,
                         const std::vector<callback>& callbacks = {}) {
  static_assert(flows::bijection<F> && nn::module<F>,
                "fit_flow needs a flow that is also a module (its parameters are trained)");
  if (o.epochs < 1 || o.batch < 1)
    fail<value_error>("train::fit_flow", "epochs ", o.epochs, " and batch ", o.batch, " must be >= 1");
  if (static_cast<index_t>(labels.size()) != images.size(0))
    fail<shape_error>("train::fit_flow", images.size(0), " images but ", labels.size(), " labels");
  const dist::communicator_ref comm = o.comm;
  const int ranks = comm.size(), me = comm.rank();
  if (ranks > 1) {
    dist::fingerprint fp;
    fp.add(o.epochs).add(o.batch).add(o.lr).add(o.gate_lr_factor).add(o.warmup_steps).add(o.final_lr_factor);
    fp.add(o.clip_norm).add(o.class_weight).add(o.seed).add(o.max_steps).add(o.resume).add_module(flow);
    fp.add(prior.classes).add(prior.dim).add(images, 997).add(std::span<const int>(labels));
    dist::check_consistent(comm, fp.value(), "train::fit_flow's options, flow or data");
    dist::broadcast_module(comm, flow);
  }
  std::ostringstream quiet;
  std::ostream& log = me == 0 && o.log ? *o.log : quiet;
  const auto params = nn::parameters(flow);
  auto opt = optim::adam<T, B>(flow_param_groups(flow, o.lr, o.gate_lr_factor), {.lr = o.lr});
  const long per_epoch = (images.size(0) + o.batch - 1) / o.batch;
  const long total = o.max_steps > 0 ? std::min<long>(o.max_steps, per_epoch * o.epochs) : per_epoch * o.epochs;
  const optim::linear_schedule schedule{.warmup_steps = o.warmup_steps,
                                        .decay_start = o.warmup_steps,
                                        .total_steps = per_epoch * o.epochs,
                                        .final_factor = o.final_lr_factor};
  const auto dims = images.numel() / images.size(0);
  flow_fit_result res;
  const auto parts = [&](auto&& each) {
    each("model", flow);
    each("optimizer", opt);
  };
  const checkpoint_plan plan{.path = o.checkpoint,
                             .resume = o.resume,
                             .allow_option_changes = o.allow_option_changes,
                             .trainer = "train::fit_flow"};
  run_record record;  // only made where a checkpoint is kept
  if (!o.checkpoint.empty()) {
    record.add("epochs", o.epochs).add("batch", o.batch).add("lr", o.lr).add("gate_lr_factor", o.gate_lr_factor);
    record.add("warmup_steps", o.warmup_steps).add("final_lr_factor", o.final_lr_factor).add("clip_norm", o.clip_norm);
    record.add("class_weight", o.class_weight).add("seed", o.seed);
    record.add("prior.classes", prior.classes).add("prior.dim", prior.dim).add("prior.delta", prior.delta);
    record.add("prior.layout", static_cast<int>(prior.layout)).add("prior.seed", prior.seed);
    record.add_hash("flow", dist::fingerprint().add_module(flow).value());
    record.add_hash("data", dist::fingerprint().add(images, 997).add(std::span<const int>(labels)).value());
  }
  const auto save = [&](long at) { save_checkpoint(comm, plan, at, record, parts); };
  long step = res.resumed_from = resume_checkpoint(comm, plan, record, &log, parts);
  const auto t0 = std::chrono::steady_clock::now();
  double running = 0, running_ce = 0;
  for (int e = static_cast<int>(step / per_epoch); e < o.epochs && step < total; ++e) {
    const long first = step - long(e) * per_epoch;  // batches of this epoch already done
    io::progress_bar bar(per_epoch, "epoch " + std::to_string(e + 1) + "/" + std::to_string(o.epochs), o.batch, log,
                         first);
    const auto batches = data::shuffled_batches(images.size(0), o.batch, o.seed * 7919 + static_cast<std::uint64_t>(e));
    long k = first;
    for (std::size_t bi = static_cast<std::size_t>(first); bi < batches.size(); ++bi) {
      if (step >= total) break;
      rng noise(o.seed * 104729 + static_cast<std::uint64_t>(step));
      // The whole batch is dequantised on every rank (the noise is drawn for all of it), and
      // each rank keeps every ranks-th row.
      const auto whole = flows::dequantize(data::as_batch<T, B>(data::gather_rows(images, batches[bi])), noise);
      if (ranks > 1 && step == 0) {  // data-dependent initialisation from the whole first batch
        const no_grad off;
        (void)flow.forward(constant(whole));
      }
      const auto sh = dist::share_of(batches[bi], me, ranks);
      std::vector<int> batch_labels;
      for (index_t r : sh.rows) batch_labels.push_back(labels[static_cast<std::size_t>(r)]);
      opt.set_lr_factor(schedule(step));
      opt.zero_grad();
      std::array<double, 2> figures{0, 0};  // nll, ce of this rank's rows, weighted by its share
      if (!sh.rows.empty()) {
        const auto [loss, nll, ce] = nn::within(flow, "flow", [&] {
          return flow_loss(flow, prior, dist::rows_of(whole, sh), batch_labels, o.class_weight);
        });
        // Means over this rank's rows, weighted so that their average over ranks is the mean
        // over the whole batch (the last batch of an epoch may not split evenly).
        const double share = sh.weight(ranks);
        backward(ranks == 1 ? loss : loss * static_cast<T>(share));
        const auto v = detail::fetch_scalars<T, B>({nll.value(), ce.value()});  // one transfer
        figures = {v[0] * share, v[1] * share};
      }
      dist::average_gradients(comm, params);
      dist::mean_over_ranks(comm, figures);
      // The gradient norm (clipping's, or the probe without clipping) tells whether every
      // gradient is finite.
      const bool gradients_finite = o.clip_norm > 0
                                        ? std::isfinite(optim::clip_grad_norm(params, o.clip_norm))
                                        : detail::fetch_scalars<T, B>({detail::nonfinite_probe(params)})[0] == 0;
      const bool finite = std::isfinite(figures[0]) && std::isfinite(figures[1]) && gradients_finite;
      if (!finite && o.on_nonfinite == nonfinite::stop)
        detail::nonfinite_error("train::fit_flow", step + 1,
                                !std::isfinite(figures[0]) ? std::string("the NLL")
                                : !std::isfinite(figures[1])
                                    ? std::string("the class cross-entropy")
                                    : "the gradient of flow parameter " + detail::first_nonfinite_gradient(flow),
                                "flow_fit_options::on_nonfinite");
      if (finite) opt.step();
      ++step;
      const double smooth = k == first ? 1.0 : 0.02;
      running += smooth * (figures[0] - running);
      running_ce += smooth * (figures[1] - running_ce);
      if (o.class_weight > 0)
        bar.update(++k, {{"bits/dim", flows::bits_per_dim(running * double(dims), dims)}, {"xent", running_ce}});
      else
        bar.update(++k, {{"nll/dim", running}, {"bits/dim", flows::bits_per_dim(running * double(dims), dims)}});
      const auto global = static_cast<index_t>(batches[bi].size());
      const step_report r{.trainer = "train::fit_flow",
                          .step = step,
                          .steps = per_epoch * o.epochs,
                          .epoch = e + 1,
                          .epoch_end = k == per_epoch,
                          .batch = global,
                          .rank = me,
                          .ranks = ranks,
                          .skipped = !finite,
                          .position = {{"epoch", e + 1}, {"batch", static_cast<double>(global)}},
                          .values = {{"nll/dim", figures[0]},
                                     {"bits/dim", flows::bits_per_dim(figures[0] * double(dims), dims)},
                                     {"xent", figures[1]},
                                     {"lr", opt.lr()}}};
      for (const auto& cb : callbacks) cb(r);
      if (o.checkpoint_every > 0 && step % o.checkpoint_every == 0) save(step);
    }
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  dist::broadcast_buffers(comm, flow);  // per-rank batch statistics: every rank ends with rank 0's
  save(step);
  res.steps = step;
  res.last_loss = running;
  return res;
}

struct flow_evaluation {
  double bits_per_dim = 0;           ///< class-conditional, mean over the set (NaN without labels)
  double marginal_bits_per_dim = 0;  ///< under the uniform mixture of the class priors
  double accuracy = 0;               ///< most likely class prior == label (NaN without labels)
};

/// Bits/dim and class accuracy of a flow with a class-conditional prior on images (N, C, H, W)
/// of k/255 values, dequantised with noise from `seed`. Without labels (images of classes the
/// prior does not know) only the marginal bits/dim is computed.
template <flows::bijection F, class T, class B>
flow_evaluation evaluate_flow(const F& flow, const flows::class_gaussian<T, B>& prior,
                              const tensor<float, host>& images, const std::vector<int>& labels, index_t batch = 250,
                              std::uint64_t seed = 99) {
  const no_grad off;
  const index_t n = images.size(0), dims = images.numel() / n;
  const bool labelled = !labels.empty();
  if (labelled && static_cast<index_t>(labels.size()) != n)
    fail<shape_error>("train::evaluate_flow", n, " images but ", labels.size(), " labels");
  for (int c : labels)
    if (c < 0 || c >= prior.classes)
      fail<value_error>("train::evaluate_flow", "label ", c, " is outside [0, ", prior.classes, ")");
  double nll = 0, marginal = 0;
  long right = 0;
  rng noise(seed);
  for (index_t s = 0; s < n; s += batch) {
    const index_t e = std::min(n, s + batch);
    const auto y = flows::dequantize(data::as_batch<T, B>(images.slice_rows(s, e)), noise);
    const auto r = flow.forward(constant(y));
    const auto logdet = r.logdet.value().to_vector();
    // One pass over the class log-densities gives the marginal, the conditional and the class.
    const auto all = prior.log_prob_all(flatten(r.z).value());
    for (std::size_t i = 0; i < all.size(); ++i) {
      const double ld = double(logdet[i]);
      marginal -= flows::detail::logsumexp(all[i]) - std::log(double(prior.classes)) + ld;
      if (!labelled) continue;
      const int label = labels[static_cast<std::size_t>(s) + i];
      nll -= all[i][static_cast<std::size_t>(label)] + ld;
      right += flows::detail::argmax(all[i]) == label;
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {labelled ? flows::bits_per_dim(nll / double(n), dims) : nan, flows::bits_per_dim(marginal / double(n), dims),
          labelled ? double(right) / double(n) : nan};
}

/// Class-conditional samples (classes.size()·per_class, image...): `per_class` images of each
/// listed class (every class when the list is empty), drawn at `temperature` and mapped back by
/// the flow's inverse, values clamped to [0, 1].
template <flows::bijection F, class T, class B>
tensor<float, host> class_samples(const F& flow, const flows::class_gaussian<T, B>& prior, const shape& image,
                                  index_t per_class, T temperature, std::uint64_t seed,
                                  std::vector<index_t> classes = {}) {
  if (classes.empty())
    for (index_t c = 0; c < prior.classes; ++c) classes.push_back(c);
  std::vector<index_t> lab;
  for (index_t c : classes)
    for (index_t k = 0; k < per_class; ++k) lab.push_back(c);
  rng g(seed);
  const auto z = prior.sample(lab, g, temperature);
  const auto n = static_cast<index_t>(lab.size());
  shape full{n};
  for (std::size_t i = 0; i < image.rank(); ++i) full.push_back(image[i]);
  auto zs = z.reshape(flows::output_shape(flow, full));
  auto x = flows::sample(flow, zs).to_vector();
  for (auto& v : x) v = std::clamp(v, T(0), T(1));
  return tensor<float, host>::from(std::vector<float>(x.begin(), x.end()), full);
}

}  // namespace bijgan::train
