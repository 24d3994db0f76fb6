// The adversarial trainer of the method (method.md §1–§2, Eq. 16–18): a generator and a critic
// with their own Adam optimizers; n_critic WGAN-GP critic steps (double backprop, ProGAN's
// drift) per generator step; the generator minimises λ_b·L_biject + λ_d·L_distill +
// λ_adv·L_adv + λ_r·L_recon with the exponential weighting of Eq. 18 over progressive stages
// (each term can be switched off: the ablation); gradient clipping, a generator EMA, per-stage
// batch sizes with a floor, identity-balanced batches for the bijective metric, callbacks
// (progress bar, CSV log, PNG grids) and atomic checkpoints from which an interrupted run
// resumes to the same parameters as an uninterrupted one; data-parallel over the ranks of
// gan_options::comm (docs/distributed.md). Generic over the named concepts:
// any feature_generator, critic, flows::bijection (H) and staged_network (the student, or the
// engine itself in whitebox mode).
#pragma once

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/concepts/model.hpp"
#include "bijgan/data/rows.hpp"
#include "bijgan/dist/data_parallel.hpp"
#include "bijgan/dist/ops.hpp"
#include "bijgan/eval/reconstruction.hpp"
#include "bijgan/flows/bijection.hpp"
#include "bijgan/io/atomic_file.hpp"
#include "bijgan/io/progress.hpp"
#include "bijgan/io/safetensors.hpp"
#include "bijgan/losses/adversarial.hpp"
#include "bijgan/losses/bijective.hpp"
#include "bijgan/losses/distill.hpp"
#include "bijgan/ops/conv.hpp"
#include "bijgan/ops/resample.hpp"
#include "bijgan/optim/optim.hpp"
#include "bijgan/train/checkpoint.hpp"
#include "bijgan/train/weighting.hpp"

namespace bijgan::train {

/// Which terms of Eq. 16 the generator minimises (all on: the full method).
struct gan_terms {
  bool adversarial = true;
  bool recon = true;
  bool distill = true;  ///< needs a distiller (student or whitebox engine)
  bool biject = true;   ///< needs a bijection H
};

/// Multiples applied on top of Eq. 18's weights (1: the paper's weighting as read in method.md).
struct gan_term_scales {
  double adversarial = 1, recon = 1, distill = 1, biject = 1;
};

struct gan_options {
  long steps = 1000;         ///< generator steps in total
  int n_critic = 1;          ///< critic steps per generator step
  index_t batch = 64;        ///< at the first stage
  bool halve_batch = false;  ///< halve the batch at every stage (method.md §2) …
  index_t min_batch = 32;    ///< … but never below this floor
  index_t per_identity = 0;  ///< > 0: batches of batch/per_identity identities × per_identity images
  double lr_generator = 1e-3;
  double lr_critic = 1e-3;
  double beta1 = 0, beta2 = 0.99;
  losses::wgan_critic_options wgan{};
  double clip_norm = 0;      ///< > 0: clip each model's gradient norm
  double ema_decay = 0.999;  ///< generator EMA (with the warm-up min(decay, (1 + t) / (10 + t)))
  long steps_per_stage = 0;  ///< 0: no growing (every step at full resolution)
  long fade_steps = 0;       ///< fade-in length at the start of each new stage
  gan_terms terms{};
  gan_term_scales scales{};
  weighting_options weighting{};
  losses::feature_distill_options distill{.stage_weights = {}, .final_weight = 10};
  losses::bijective_metric_options biject{};
  std::uint64_t seed = 1;            ///< batches, v and ε all derive from (seed, step)
  std::filesystem::path checkpoint;  ///< empty: no checkpoints
  long checkpoint_every = 200;
  bool resume = false;  ///< continue from `checkpoint` when it exists (its recorded options must match)
  /// Resume even where the options differ from those the checkpoint recorded (train/checkpoint.hpp:
  /// the objective, optimizer, schedule, seed, data, H and distiller); the differences are logged.
  bool allow_option_changes = false;
  long max_steps = 0;              ///< stop after this many steps in total (0: all)
  std::ostream* log = &std::cout;  ///< progress bar (nullptr: silent); rank 0 only
  /// The ranks that train together (default: this process alone). Each rank takes its share
  /// of every batch (whole identity groups, whole minibatch-stddev groups), gradients are
  /// averaged over ranks, the bijective metric sees the whole batch's latents (global), and
  /// rank 0 writes checkpoints; k steps on R ranks equal k steps in one process with the
  /// same batch, up to summation order. Every stage's batch must be a multiple of 4·R, and
  /// batch/(4·R) a multiple of per_identity. docs/distributed.md.
  dist::communicator_ref comm{};
  std::size_t bucket_bytes = std::size_t{25} << 20;  ///< gradient allreduce bucket size
};

/// What a callback sees after each generator step.
struct gan_report {
  long step = 0;  ///< generator steps done
  int stage = 1;
  double alpha = 1;
  index_t batch = 0;  ///< the global batch (all ranks together)
  int rank = 0;       ///< this process's rank (callbacks run on every rank)
  int ranks = 1;
  std::map<std::string, double> values;  ///< loss terms, weights, critic figures (means over ranks)
  /// The generator EMA at the current stage: reconstruct(features (n, D), seed) -> images
  /// (n, C, r, r) at the stage's resolution r, v drawn from seed (for grids and probes).
  std::function<tensor<float, host>(const tensor<float, host>&, std::uint64_t)> reconstruct;
  /// The same with the generator being trained (not its EMA): what the generator step's
  /// losses saw (student_refresh queries the engine on these).
  std::function<tensor<float, host>(const tensor<float, host>&, std::uint64_t)> generate;
};
using gan_callback = std::function<void(const gan_report&)>;

struct gan_result {
  long steps = 0;
  long resumed_from = 0;
  double seconds = 0;
  gan_report last;
};

/// The stage and fade-in at generator step i of a progressive schedule.
struct stage_point {
  int stage = 1;
  double alpha = 1;
  /// R(i) of Eq. 18: stage − 1 + alpha during a fade-in, the stage otherwise.
  [[nodiscard]] double r() const { return alpha < 1 ? stage - 1 + alpha : stage; }
};
inline stage_point stage_at(long step, long steps_per_stage, long fade_steps, int max_stage) {
  if (steps_per_stage <= 0) return {max_stage, 1};
  const int s = static_cast<int>(std::min<long>(max_stage, 1 + step / steps_per_stage));
  const long into = step - (s - 1) * steps_per_stage;
  const double a = s > 1 && fade_steps > 0 && into < fade_steps ? double(into) / double(fade_steps) : 1.0;
  return {s, a};
}

/// No bijection / no distiller (their terms must then be off).
struct none {};
/// Pass for fit_gan's H or distiller when there is none: fit_gan(g, d, data, o, train::no_part, &engine).
inline constexpr const none* no_part = nullptr;

/// The training data: images (N, C, R, R) in [0, 1] at the generator's full resolution, the
/// engine's features of the same images (N, feature_dim; blackbox queries made once), and a
/// class or identity label per image (the bijective metric groups by it).
struct gan_data {
  tensor<float, host> images;
  tensor<float, host> features;
  std::vector<int> labels;
};

/// A callback writing `stem`_<step>.png every `every` steps: rows real | reconstruction | `more`
/// reconstructions with other v of the given reals and their features (eval::reconstruction_sheet,
/// with the generator EMA at the current stage, enlarged to the reals' size). Rank 0 only.
inline gan_callback png_grid(const std::filesystem::path& stem, long every, const tensor<float, host>& reals,
                             const tensor<float, host>& features, index_t more = 4) {
  if (every <= 0) fail<value_error>("train::png_grid", "every ", every, " must be positive");
  if (reals.rank() != 4 || features.rank() != 2 || reals.size(0) != features.size(0))
    fail<shape_error>("train::png_grid", "reals ", reals.shape(), " and features ", features.shape(),
                      " must be (n, C, R, R) and (n, D)");
  return [=](const gan_report& r) {
    if (r.rank != 0 || r.step % every != 0 || !r.reconstruct) return;
    auto path = stem;  // stem_<step>.png (appended piecewise: GCC 12 warns falsely on "_" + to_string)
    path += "_";
    path += std::to_string(r.step);
    path += ".png";
    io::write_png(path, eval::reconstruction_sheet(r.reconstruct, reals, features, more));
  };
}

/// A callback appending one CSV row per generator step to `path` (created with a header of
/// step, stage, alpha, batch and the first report's loss names; a resumed run appends to it).
/// Rank 0 only.
inline gan_callback csv_log(const std::filesystem::path& path) {
  struct state {
    std::ofstream os;
    std::vector<std::string> columns;
  };
  auto st = std::make_shared<state>();
  return [st, path](const gan_report& r) {
    if (r.rank != 0) return;
    if (!st->os.is_open()) {
      bool fresh = !std::filesystem::exists(path) || std::filesystem::file_size(path) == 0;
      if (!fresh) {
        std::ifstream in(path);
        std::string header;
        std::getline(in, header);
        std::stringstream cols(header);
        for (std::string c; std::getline(cols, c, ',');) st->columns.push_back(c);
        fresh = st->columns.size() < 4;
        if (fresh) st->columns.clear();
      }
      st->os.open(path, fresh ? std::ios::trunc : std::ios::app);
      if (!st->os) fail<io_error>("train::csv_log", "cannot open ", path, " for writing");
      if (fresh) {
        st->columns = {"step", "stage", "alpha", "batch"};
        for (const auto& [k, v] : r.values) st->columns.push_back(k);
        for (std::size_t i = 0; i < st->columns.size(); ++i) st->os << (i ? "," : "") << st->columns[i];
        st->os << "\n";
      }
    }
    st->os << r.step << "," << r.stage << "," << r.alpha << "," << r.batch;
    for (std::size_t i = 4; i < st->columns.size(); ++i) {
      const auto it = r.values.find(st->columns[i]);
      st->os << ",";
      if (it != r.values.end()) st->os << it->second;
    }
    st->os << "\n";
    st->os.flush();
  };
}

namespace detail {
/// Indices of one batch, drawn from (seed, step, purpose): distinct images, or per_identity
/// images of each of batch/per_identity distinct identities that have that many.
inline std::vector<index_t> draw_batch(const gan_data& d, index_t batch, index_t per_identity, std::uint64_t seed,
                                       const std::map<int, std::vector<index_t>>& by_label) {
  std::mt19937_64 rng(seed);
  const auto below = [&](std::size_t k) { return static_cast<index_t>(rng() % k); };
  const auto n = d.images.size(0);
  std::vector<index_t> rows;
  if (per_identity <= 0) {
    // Partial Fisher–Yates over the indices.
    std::vector<index_t> all(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) all[static_cast<std::size_t>(i)] = i;
    for (index_t i = 0; i < batch; ++i) {
      const auto j = i + below(static_cast<std::size_t>(n - i));
      std::swap(all[static_cast<std::size_t>(i)], all[static_cast<std::size_t>(j)]);
      rows.push_back(all[static_cast<std::size_t>(i)]);
    }
    return rows;
  }
  std::vector<const std::vector<index_t>*> eligible;
  for (const auto& [label, idx] : by_label)
    if (static_cast<index_t>(idx.size()) >= per_identity) eligible.push_back(&idx);
  const index_t ids = batch / per_identity;
  if (static_cast<index_t>(eligible.size()) < ids)
    fail<value_error>("train::fit_gan", "batches of ", ids, " identities x ", per_identity, " images need ", ids,
                      " identities with that many images; the data has ", eligible.size());
  for (index_t i = 0; i < ids; ++i) {
    const auto j = i + below(eligible.size() - static_cast<std::size_t>(i));
    std::swap(eligible[static_cast<std::size_t>(i)], eligible[static_cast<std::size_t>(j)]);
    auto members = *eligible[static_cast<std::size_t>(i)];
    for (index_t k = 0; k < per_identity; ++k) {
      const auto m = k + below(members.size() - static_cast<std::size_t>(k));
      std::swap(members[static_cast<std::size_t>(k)], members[static_cast<std::size_t>(m)]);
      rows.push_back(members[static_cast<std::size_t>(k)]);
    }
  }
  return rows;
}

/// Rows of a host float tensor as tensor<T, B>.
template <class T, class B>
tensor<T, B> gather_rows(const tensor<float, host>& x, const std::vector<index_t>& rows) {
  return data::as_batch<T, B>(data::gather_rows(x, rows));
}

/// Real images (N, C, R, R) as the critic sees them at stage point p: average-pooled to the
/// stage's resolution and, during a fade-in, blended with the previous resolution (ProGAN).
template <class T, class B>
var<T, B> real_at(const var<T, B>& full, const stage_point& p, index_t resolution, bool growing) {
  const index_t r = growing ? index_t{4} << (p.stage - 1) : resolution;
  auto x = r == resolution ? full : avg_pool2d(full, {.kernel = resolution / r});
  if (p.alpha < 1 && p.stage > 1)
    x = x * static_cast<T>(p.alpha) + upsample(avg_pool2d(x, {.kernel = 2}), 2) * static_cast<T>(1 - p.alpha);
  return x;
}

/// Images at full resolution (nearest upsampling of a stage's output).
template <class T, class B>
var<T, B> to_full(const var<T, B>& x, index_t resolution) {
  return upsample(x, resolution / x.size(2));
}

/// What fit_gan's checkpoints record and a resume must repeat (train/checkpoint.hpp).
template <class G, class D, class H, class S>
run_record gan_record(const gan_options& o, const gan_data& data, const G& g, const D& d, const H* h,
                      const S* distiller) {
  run_record r;
  const auto part = [&r](const char* name, const auto* p) {
    using P = std::remove_cvref_t<decltype(*p)>;
    if (p == nullptr)
      r.add(name, "none");
    else if constexpr (nn::module<P>)
      r.add_hash(name, dist::fingerprint().add_module_values(*p).value());
    else
      r.add(name, "given");
  };
  std::string stage_weights;
  for (double w : o.distill.stage_weights) stage_weights += (stage_weights.empty() ? "" : ",") + std::to_string(w);
  r.add("steps", o.steps).add("n_critic", o.n_critic).add("batch", o.batch).add("halve_batch", o.halve_batch);
  r.add("min_batch", o.min_batch).add("per_identity", o.per_identity);
  r.add("lr_generator", o.lr_generator).add("lr_critic", o.lr_critic).add("beta1", o.beta1).add("beta2", o.beta2);
  r.add("wgan.lambda", o.wgan.lambda).add("wgan.drift", o.wgan.drift).add("clip_norm", o.clip_norm);
  r.add("ema_decay", o.ema_decay).add("steps_per_stage", o.steps_per_stage).add("fade_steps", o.fade_steps);
  r.add("terms.adversarial", o.terms.adversarial).add("terms.recon", o.terms.recon);
  r.add("terms.distill", o.terms.distill).add("terms.biject", o.terms.biject);
  r.add("scales.adversarial", o.scales.adversarial).add("scales.recon", o.scales.recon);
  r.add("scales.distill", o.scales.distill).add("scales.biject", o.scales.biject);
  r.add("weighting.alpha", o.weighting.alpha).add("weighting.beta", o.weighting.beta);
  r.add("distill.final_weight", o.distill.final_weight).add("distill.stage_weights", stage_weights);
  r.add("biject.margin", o.biject.margin).add("biject.covariance", static_cast<int>(o.biject.covariance));
  r.add("biject.max_negatives", o.biject.max_negatives).add("seed", o.seed);
  r.add_hash("generator", dist::fingerprint().add_module(g).value());
  r.add_hash("critic", dist::fingerprint().add_module(d).value());
  r.add_hash(
      "data",
      dist::fingerprint().add(data.images, 997).add(data.features, 7).add(std::span<const int>(data.labels)).value());
  part("h", h);
  part("distiller", distiller);
  return r;
}
}  // namespace detail

/// Trains generator g against critic d on data (Eq. 16–18). h: the bijection H (images at
/// full resolution → latents; nullptr when terms.biject is off); distiller: a staged_network
/// whose stage outputs and features are matched (Eq. 15; the student, or the engine itself in
/// whitebox mode; nullptr when terms.distill is off). Progressive models (set_stage) grow by
/// the schedule; a critic that is not progressive sees every image upsampled to full
/// resolution. Callbacks run after each generator step. ema_out, when given, receives the
/// generator EMA's weights at the end (the model to sample with).
template <class G, class D, class H = none, class S = none>
gan_result fit_gan(G& g, D& d, const gan_data& data, const gan_options& o, const H* h = nullptr,
                   const S* distiller = nullptr, const std::vector<gan_callback>& callbacks = {},
                   G* ema_out = nullptr) {
  static_assert(check_generator<G>() && check_critic<D>());
  static_assert(std::is_same_v<H, none> || flows::bijection<H>,
                "fit_gan: H must be a flows::bijection (or train::none)");
  static_assert(std::is_same_v<S, none> || staged_network<S>,
                "fit_gan: the distiller must be a staged_network (or train::none)");
  using T = typename G::value_type;
  using B = typename G::backend_type;
  using V = var<T, B>;
  constexpr index_t resolution = G::image_shape[1];
  const int max_stage = [&] {
    if constexpr (progressive<G>)
      return g.stages();
    else
      return 1;
  }();
  const char* op = "train::fit_gan";
  const index_t n = data.images.size(0);
  if (data.images.rank() != 4 || data.images.size(1) != G::image_shape[0] || data.images.size(2) != resolution ||
      data.images.size(3) != resolution)
    fail<shape_error>(op, "images ", data.images.shape(), " must be (N, ", G::image_shape[0], ", ", resolution, ", ",
                      resolution, ")");
  if (data.features.rank() != 2 || data.features.size(0) != n || data.features.size(1) != G::feature_dim)
    fail<shape_error>(op, "features ", data.features.shape(), " must be (", n, ", ", G::feature_dim, ")");
  if (static_cast<index_t>(data.labels.size()) != n)
    fail<shape_error>(op, data.labels.size(), " labels for ", n, " images");
  if (o.terms.biject && h == nullptr) fail<value_error>(op, "terms.biject is on but no bijection H was given");
  if (o.terms.distill && distiller == nullptr) fail<value_error>(op, "terms.distill is on but no distiller was given");
  if (o.batch < 4 || o.batch > n || o.n_critic < 1 || o.steps < 1)
    fail<value_error>(op, "batch ", o.batch, " must lie in [4, ", n, "], n_critic ", o.n_critic, " and steps ", o.steps,
                      " must be >= 1");

  if (o.per_identity > 0 && (o.batch % o.per_identity != 0 || (o.halve_batch && o.min_batch % o.per_identity != 0)))
    fail<value_error>(op, "per_identity ", o.per_identity, " must divide the batch ", o.batch,
                      (o.halve_batch ? " and min_batch " : ""),
                      (o.halve_batch ? std::to_string(o.min_batch) : std::string()));
  std::map<int, std::vector<index_t>> by_label;
  for (index_t i = 0; i < n; ++i) by_label[data.labels[static_cast<std::size_t>(i)]].push_back(i);

  // Data parallelism: every rank draws the same global batch and takes its share of it.
  const dist::communicator_ref comm = o.comm;
  const int ranks = comm.size(), me = comm.rank();
  const index_t unit = o.per_identity > 0 ? o.per_identity : 1;
  const auto batch_at = [&](int stage) {
    index_t b = o.halve_batch ? std::max(o.min_batch, o.batch >> (stage - 1)) : o.batch;
    return b - b % 4;  // minibatch-stddev groups of 4
  };
  if (ranks > 1) {
    for (int s = 1; s <= max_stage; ++s)
      if (const index_t b = batch_at(s); b % (4 * ranks) != 0 || (b / (4 * ranks)) % unit != 0)
        fail<value_error>(
            op, "the batch of ", b, " at stage ", s, " cannot be shared by ", ranks,
            " ranks: it must be a multiple of 4 x ranks (minibatch-stddev groups), and batch / (4 x ranks) ",
            "a multiple of per_identity ", o.per_identity, " (identity groups stay on one rank)");
    dist::fingerprint fp;
    fp.add(o.steps).add(o.n_critic).add(o.batch).add(o.halve_batch).add(o.min_batch).add(o.per_identity);
    fp.add(o.lr_generator).add(o.lr_critic).add(o.beta1).add(o.beta2).add(o.wgan.lambda).add(o.wgan.drift);
    fp.add(o.clip_norm).add(o.ema_decay).add(o.steps_per_stage).add(o.fade_steps).add(o.seed).add(o.max_steps);
    fp.add(o.terms.adversarial).add(o.terms.recon).add(o.terms.distill).add(o.terms.biject).add(o.resume);
    fp.add(o.scales.adversarial).add(o.scales.recon).add(o.scales.distill).add(o.scales.biject);
    fp.add_module(g).add_module(d).add(data.images, 997).add(data.features, 7);
    fp.add(std::span<const int>(data.labels));
    if constexpr (nn::module<H>)
      if (h) fp.add_module_values(*h);
    if constexpr (nn::module<S>)
      if (distiller) fp.add_module_values(*distiller);
    dist::check_consistent(comm, fp.value(), "train::fit_gan's options, models, H, distiller or data");
    dist::broadcast_module(comm, g);  // one initialisation for all
    dist::broadcast_module(comm, d);
  }
  std::ostream* const log = me == 0 ? o.log : nullptr;

  const auto pg = nn::parameters(g), pd = nn::parameters(d);
  optim::adam<T, B> opt_g(pg, {.lr = o.lr_generator, .beta1 = o.beta1, .beta2 = o.beta2});
  optim::adam<T, B> opt_d(pd, {.lr = o.lr_critic, .beta1 = o.beta1, .beta2 = o.beta2});
  optim::ema<G> average(g, o.ema_decay);

  gan_result res;
  const auto parts = [&](auto&& each) {
    each("generator", g);
    each("critic", d);
    each("generator_ema", average);
    each("optimizer_generator", opt_g);
    each("optimizer_critic", opt_d);
  };
  const checkpoint_plan plan{
      .path = o.checkpoint, .resume = o.resume, .allow_option_changes = o.allow_option_changes, .trainer = op};
  // The record (fingerprints of the models, data, H) is only made where a checkpoint is kept.
  const run_record record = o.checkpoint.empty() ? run_record{} : detail::gan_record(o, data, g, d, h, distiller);
  const auto save = [&](long at) { save_checkpoint(comm, plan, at, record, parts); };
  long step = res.resumed_from = resume_checkpoint(comm, plan, record, log, parts);
  const long total = o.max_steps > 0 ? std::min(o.max_steps, o.steps) : o.steps;
  std::optional<io::progress_bar> bar;
  if (log) bar.emplace(o.steps, "GAN training", o.batch, *log, step);

  // The critic as both steps see it: the trained one in the critic step, a frozen view (no
  // weight gradients) in the generator step. H and the distiller are never trained here.
  const auto view_of = [&](const D& critic) {
    return [&critic](const V& x) {
      if constexpr (progressive<D>)
        return critic(x);
      else
        return critic(detail::to_full(x, resolution));
    };
  };
  const auto critic_view = view_of(d);
  const auto freeze = [](const auto* part) {
    using P = std::remove_cvref_t<decltype(*part)>;
    if constexpr (nn::module<P>)
      return part ? std::optional<P>(nn::frozen(*part)) : std::optional<P>();
    else
      return part ? std::optional<P>(*part) : std::optional<P>();
  };
  const auto h_frozen = freeze(h);
  const auto distiller_frozen = freeze(distiller);
  // H's latents of this rank's images; with several ranks, those of the whole batch (the
  // bijective metric's Gaussians and identity pairs span every rank: global semantics).
  const auto latents = [&](const V& x) {
    if constexpr (std::is_same_v<H, none>)
      return x;
    else
      return dist::all_gather(comm, h_frozen->forward(x).z);
  };
  // This rank's share of a global batch (whole identity groups).
  const auto share_of = [&](std::vector<index_t> all) { return dist::share_of(std::move(all), me, ranks, unit); };
  const auto t0 = std::chrono::steady_clock::now();
  for (; step < total; ++step) {
    const auto p = stage_at(step, o.steps_per_stage, o.fade_steps, max_stage);
    if constexpr (progressive<G>) {
      g.set_stage(p.stage, p.alpha);
      average.module().set_stage(p.stage, p.alpha);
    }
    if constexpr (progressive<D>) {
      // A progressive critic follows a growing generator; beside a fixed one it works at its last stage.
      if constexpr (progressive<G>)
        d.set_stage(p.stage, p.alpha);
      else
        d.set_stage(d.stages(), 1);
    }
    const index_t batch = batch_at(p.stage);
    const std::uint64_t base = o.seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(step) * 1000003ull;
    // v is drawn for the whole batch and each rank keeps its rows (so R ranks see what one does).
    const auto noise = [&](std::uint64_t salt, const dist::batch_share& sh) {
      rng gen(base + salt);
      return constant(
          dist::rows_of(tensor<T, B>::random(shape{sh.global(), G::noise_dim}, gen, {distribution::normal, 0, 1}), sh));
    };
    gan_report report{
        .step = step + 1,
        .stage = p.stage,
        .alpha = p.alpha,
        .batch = batch,
        .rank = me,
        .ranks = ranks,
        .values = {},
        .reconstruct = [&average](const tensor<float, host>& f,
                                  std::uint64_t seed) { return eval::reconstruct(average.module(), f, seed); },
        .generate = [&g](const tensor<float, host>& f, std::uint64_t seed) { return eval::reconstruct(g, f, seed); }};

    // Critic steps (Eq. 17).
    for (int k = 0; k < o.n_critic; ++k) {
      const auto sh = share_of(
          detail::draw_batch(data, batch, o.per_identity, base + 17 + static_cast<std::uint64_t>(k) * 31, by_label));
      const auto real =
          detail::real_at(constant(detail::gather_rows<T, B>(data.images, sh.rows)), p, resolution, progressive<G>);
      V fake;
      {
        const no_grad off;
        fake = constant(g(constant(detail::gather_rows<T, B>(data.features, sh.rows)),
                          noise(101 + static_cast<std::uint64_t>(k), sh))
                            .value());
      }
      rng eps(base + 211 + static_cast<std::uint64_t>(k));
      shape es{sh.global()};  // ε for the whole batch, as v
      for (std::size_t i = 1; i < real.rank(); ++i) es.push_back(1);
      opt_d.zero_grad();
      const auto c =
          losses::wgan_critic(critic_view, real, fake,
                              dist::rows_of(tensor<T, B>::random(es, eps, {distribution::uniform, 0, 1}), sh), o.wgan);
      backward(c.loss);
      dist::average_gradients(comm, pd, o.bucket_bytes);
      if (o.clip_norm > 0) optim::clip_grad_norm(pd, o.clip_norm);
      opt_d.step();
      report.values["critic"] = c.loss.item();
      report.values["wasserstein"] = c.wasserstein.item();
      report.values["gp"] = c.gradient_penalty.item();
    }

    // Generator step (Eq. 16 with the weights of Eq. 18).
    const auto sh = share_of(detail::draw_batch(data, batch, o.per_identity, base + 7, by_label));
    const auto& rows = sh.rows;
    const auto full = constant(detail::gather_rows<T, B>(data.images, rows));
    const auto real = detail::real_at(full, p, resolution, progressive<G>);
    opt_g.zero_grad();
    const D d_frozen = nn::frozen(d);
    const auto frozen_view = view_of(d_frozen);
    const auto fake = g(constant(detail::gather_rows<T, B>(data.features, rows)), noise(1, sh));
    const auto w = exponential_weighting(p.r(), max_stage, o.weighting);
    V total_loss = constant(tensor<T, B>::zeros(shape{}));
    const auto add = [&](const char* name, double weight, const V& term) {
      total_loss = total_loss + term * static_cast<T>(weight);
      report.values[name] = term.item();
    };
    if (o.terms.adversarial)
      add("adv", w.adversarial * o.scales.adversarial, losses::wgan_generator(frozen_view, fake));
    if (o.terms.recon) add("recon", w.recon * o.scales.recon, losses::l1(fake, real));
    // H and the distiller see the output at full resolution (nearest upsampling of a stage's output).
    const auto fake_full = o.terms.distill || o.terms.biject ? detail::to_full(fake, resolution) : fake;
    if constexpr (!std::is_same_v<S, none>) {
      if (o.terms.distill) {
        const auto at_input = [](const V& x) { return resize(x, S::image_shape[1], S::image_shape[2]); };
        staged_output<V> target;  // computed without a graph: constants of the loss
        {
          const no_grad off;
          target = distiller_frozen->stages(at_input(full));
        }
        const auto stages = distiller_frozen->stages(at_input(fake_full));
        auto dopt = o.distill;
        if (dopt.stage_weights.empty()) dopt.stage_weights.assign(stages.stages.size(), 1.0);
        add("distill", w.distill * o.scales.distill,
            losses::feature_distill(stages.stages, target.stages, stages.features, target.features, dopt));
      }
    }
    if constexpr (!std::is_same_v<H, none>) {
      if (o.terms.biject) {
        // The labels of the latents all_gather returns: every rank's rows, in rank order.
        std::vector<int> labels;
        for (int r = 0; r < ranks; ++r)
          for (auto i : dist::pick(sh.all, dist::shard_positions(sh.global(), r, ranks, unit)))
            labels.push_back(data.labels[static_cast<std::size_t>(i)]);
        add("biject", w.biject * o.scales.biject, losses::bijective_metric(latents, full, fake_full, labels, o.biject));
      }
    }
    backward(total_loss);
    dist::average_gradients(comm, pg, o.bucket_bytes);
    if (o.clip_norm > 0) optim::clip_grad_norm(pg, o.clip_norm);
    opt_g.step();
    average.update(g);
    report.values["generator"] = total_loss.item();
    if (ranks > 1) {  // the figures of the whole batch: means over ranks (equal shares)
      std::vector<double> v;
      for (const auto& [k, x] : report.values) v.push_back(x);
      dist::mean_over_ranks(comm, v);
      std::size_t i = 0;
      for (auto& [k, x] : report.values) x = v[i++];
    }
    res.last = report;
    for (const auto& cb : callbacks) cb(report);
    if (bar) {
      std::vector<std::pair<std::string, double>> shown{{"stage", p.r()}};
      for (const char* k : {"critic", "adv", "recon", "distill", "biject"})
        if (report.values.count(k)) shown.emplace_back(k, report.values[k]);
      bar->update(step + 1, shown);
    }
    if (o.checkpoint_every > 0 && (step + 1) % o.checkpoint_every == 0) save(step + 1);
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.steps = step;
  res.last.reconstruct = res.last.generate = {};  // they refer to this call's models
  dist::broadcast_buffers(comm, g);               // per-rank batch statistics: every rank ends with rank 0's
  dist::broadcast_buffers(comm, d);
  dist::broadcast_buffers(comm, average.module());
  save(step);
  if (ema_out != nullptr) *ema_out = nn::clone(average.module());
  return res;
}

}  // namespace bijgan::train
