// The adversarial trainer of the method (method.md §1–§2, Eq. 16–18), assembled from parts: the
// slots of train::gan(g, d) (generator, critic, optional H, distiller, optimizer policy:
// gan_parts.hpp), an objective of loss terms each with its weight and schedule (terms.hpp: the
// method's four, or the user's own), and callbacks (report.hpp: CSV, PNG grids, student
// refresh, the user's). Per generator step: n_critic WGAN-GP critic steps (double backprop,
// ProGAN's drift), then the generator minimises Σ weight_k·loss_k over progressive stages;
// gradient clipping, a generator EMA, per-stage batch sizes with a floor, identity-balanced
// batches for the bijective metric, a check that stops (or skips) a step with a non-finite loss
// or gradient, atomic checkpoints from which an interrupted run resumes to the same parameters
// as an uninterrupted one (checkpoint.hpp), data-parallel over gan_options::comm
// (docs/distributed.md). The loss figures of a step come back from the device in one transfer.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/concepts/model.hpp"
#include "bijgan/data/rows.hpp"
#include "bijgan/dist/data_parallel.hpp"
#include "bijgan/dist/ops.hpp"
#include "bijgan/eval/reconstruction.hpp"
#include "bijgan/io/atomic_file.hpp"
#include "bijgan/io/progress.hpp"
#include "bijgan/io/safetensors.hpp"
#include "bijgan/losses/adversarial.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/conv.hpp"
#include "bijgan/ops/resample.hpp"
#include "bijgan/optim/optim.hpp"
#include "bijgan/train/checkpoint.hpp"
#include "bijgan/train/gan_parts.hpp"
#include "bijgan/train/nonfinite.hpp"
#include "bijgan/train/report.hpp"
#include "bijgan/train/terms.hpp"

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

/// A term's loss. A bijgan::error leaving it is named by the module it came from: the
/// critic's, H's or the distiller's path ("bijection.1.steps.3: ..."), or the term
/// ("terms.tv: ...") when it came from none of them.
template <class Term, class Context, class D>
typename Context::var_type term_loss(const Term& t, const Context& ctx, const D& critic) {
  try {
    return t.loss(ctx);
  } catch (error& e) {
    if (e.module_path().empty()) {
      std::string path = std::string("terms.") + Term::name;
      const auto inside = [&](const char* name, const auto* m) {
        if (m == nullptr || path.rfind("terms.", 0) != 0) return;
        if (const auto at = nn::module_path_in(*m, e)) path = name + (at->empty() ? "" : "." + *at);
      };
      inside("critic", &critic);
      inside("bijection", ctx.bijection);
      inside("distiller", ctx.distiller);
      e.set_module_path(std::move(path));
    }
    throw;
  }
}

/// What a resume must repeat of a GAN run (train/checkpoint.hpp), without the fingerprints of
/// the models and data: the options, every term's settings and the optimizer policy.
template <class Opt, class... Terms>
run_record gan_options_record(const gan_options& o, const objective<Terms...>& obj, const Opt& policy) {
  run_record r;
  r.add("steps", o.steps).add("n_critic", o.n_critic).add("batch", o.batch).add("halve_batch", o.halve_batch);
  r.add("min_batch", o.min_batch).add("per_identity", o.per_identity);
  r.add("lr_generator", o.lr_generator).add("lr_critic", o.lr_critic);
  r.add("wgan.lambda", o.wgan.lambda).add("wgan.drift", o.wgan.drift).add("clip_norm", o.clip_norm);
  r.add("ema_decay", o.ema_decay).add("steps_per_stage", o.steps_per_stage).add("fade_steps", o.fade_steps);
  r.add("seed", o.seed).add("on_nonfinite", static_cast<int>(o.on_nonfinite));
  if constexpr (requires { policy.record(r, std::string()); }) policy.record(r, "optimizer");
  std::string names;
  std::apply(
      [&](const auto&... term) {
        const auto one = [&](const auto& t) {
          using Term = std::remove_cvref_t<decltype(t)>;
          const std::string key = std::string("terms.") + Term::name;
          names += (names.empty() ? "" : ",") + std::string(Term::name);
          if constexpr (requires { t.record(r, key); })
            t.record(r, key);
          else
            r.add(key + ".on", term_on(t));
        };
        (one(term), ...);
      },
      obj.terms);
  r.add("terms", names);
  return r;
}

/// The fingerprints a checkpoint records besides the options: models, data, H and distiller.
template <class G, class D, class H, class S>
void add_part_hashes(run_record& r, const gan_data& data, const G& g, const D& d, const H* h, const S* distiller) {
  const auto part = [&r](const char* name, const auto* p) {
    using P = std::remove_cvref_t<decltype(*p)>;
    if (p == nullptr)
      r.add(name, "none");
    else if constexpr (nn::module<P>)
      r.add_hash(name, dist::fingerprint().add_module_values(*p).value());
    else
      r.add(name, "given");
  };
  r.add_hash("generator", dist::fingerprint().add_module(g).value());
  r.add_hash("critic", dist::fingerprint().add_module(d).value());
  r.add_hash(
      "data",
      dist::fingerprint().add(data.images, 997).add(data.features, 7).add(std::span<const int>(data.labels)).value());
  part("h", h);
  part("distiller", distiller);
}
}  // namespace detail

/// Trains parts.generator against parts.critic on data, minimising `objective` (Eq. 16–18
/// with the method's terms: dabgan_objective()). Progressive models (set_stage) grow by the
/// schedule; a critic that is not progressive sees every image upsampled to full resolution.
/// H and the distiller are used frozen, never trained. Callbacks run after each generator step
/// (train::callback and gan_callback both fit). An objective with a term needing H or a
/// distiller that parts lacks does not compile.
template <class G, class D, class H, class S, class Opt, class... Terms>
gan_result fit_gan(const gan_parts<G, D, H, S, Opt>& parts, const gan_data& data, const gan_options& o,
                   const objective<Terms...>& obj, const std::vector<gan_callback>& callbacks = {}) {
  using T = typename G::value_type;
  using B = typename G::backend_type;
  using V = var<T, B>;
  using context = gan_term_context<V, H, S>;
  static_assert(check_generator<G>() && check_critic<D>());
  static_assert(sizeof...(Terms) > 0, "fit_gan: the objective has no terms");
  static_assert((check_gan_term<Terms, context>() && ...));
  static_assert(!objective<Terms...>::needs_bijection || !std::is_same_v<H, none>,
                "fit_gan: a term of the objective (bijective_term) needs a bijection H: "
                "pass it with train::gan(g, d).with_bijection(h), or leave the term out of the objective");
  static_assert(!objective<Terms...>::needs_distiller || !std::is_same_v<S, none>,
                "fit_gan: a term of the objective (distillation_term) needs a distiller: pass the student or "
                "engines::whitebox with train::gan(g, d).with_distiller(s), or leave the term out of the objective");
  static_assert(optimizer_policy_for<Opt, T, B>,
                "fit_gan: the optimizer policy needs make<T, B>(params, lr) giving an optimizer with zero_grad() and "
                "step() (train::optimizer_policy)");
  G& g = *parts.generator;
  D& d = *parts.critic;
  const H* const h = parts.bijection;
  const S* const distiller = parts.distiller;
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
  const run_record options_record = detail::gan_options_record(o, obj, parts.optimizer);
  if (ranks > 1) {
    for (int s = 1; s <= max_stage; ++s)
      if (const index_t b = batch_at(s); b % (4 * ranks) != 0 || (b / (4 * ranks)) % unit != 0)
        fail<value_error>(
            op, "the batch of ", b, " at stage ", s, " cannot be shared by ", ranks,
            " ranks: it must be a multiple of 4 x ranks (minibatch-stddev groups), and batch / (4 x ranks) ",
            "a multiple of per_identity ", o.per_identity, " (identity groups stay on one rank)");
    dist::fingerprint fp;
    for (const auto& [k, v] : options_record.entries()) fp.add(k).add(v);
    fp.add(o.max_steps).add(o.resume);
    fp.add_module(g).add_module(d).add(data.images, 997).add(data.features, 7);
    fp.add(std::span<const int>(data.labels));
    if constexpr (nn::module<H>)
      if (h) fp.add_module_values(*h);
    if constexpr (nn::module<S>)
      if (distiller) fp.add_module_values(*distiller);
    dist::check_consistent(comm, fp.value(), "train::fit_gan's options, objective, models, H, distiller or data");
    dist::broadcast_module(comm, g);  // one initialisation for all
    dist::broadcast_module(comm, d);
  }
  std::ostream* const log = me == 0 ? o.log : nullptr;

  const auto pg = nn::parameters(g), pd = nn::parameters(d);
  auto opt_g = parts.optimizer.template make<T, B>(pg, o.lr_generator);
  auto opt_d = parts.optimizer.template make<T, B>(pd, o.lr_critic);
  optim::ema<G> average(g, o.ema_decay);

  gan_result res;
  const auto checkpointed = [&](auto&& each) {
    each("generator", g);
    each("critic", d);
    each("generator_ema", average);
    each("optimizer_generator", opt_g);
    each("optimizer_critic", opt_d);
  };
  const checkpoint_plan plan{
      .path = o.checkpoint, .resume = o.resume, .allow_option_changes = o.allow_option_changes, .trainer = op};
  // The fingerprints of the models, data and H are only made where a checkpoint is kept.
  run_record record = options_record;
  if (!o.checkpoint.empty()) detail::add_part_hashes(record, data, g, d, h, distiller);
  const auto save = [&](long at) { save_checkpoint(comm, plan, at, record, checkpointed); };
  long step = res.resumed_from = resume_checkpoint(comm, plan, record, log, checkpointed);
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
  // A non-finite figure or gradient: the error (nonfinite::stop) names it and the step.
  const auto nonfinite_error = [&](long at, const std::string& what) {
    detail::nonfinite_error(op, at, what, "gan_options::on_nonfinite");
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
    gan_report report;
    report.trainer = op;
    report.step = step + 1;
    report.steps = o.steps;
    report.batch = batch;
    report.rank = me;
    report.ranks = ranks;
    report.position = {{"stage", p.stage}, {"alpha", p.alpha}, {"batch", static_cast<double>(batch)}};
    report.stage = p.stage;
    report.alpha = p.alpha;
    report.reconstruct = [&average](const tensor<float, host>& f, std::uint64_t seed) {
      return eval::reconstruct(average.module(), f, seed);
    };
    report.generate = [&g](const tensor<float, host>& f, std::uint64_t seed) { return eval::reconstruct(g, f, seed); };
    bool skip = false;

    // Critic steps (Eq. 17).
    for (int k = 0; k < o.n_critic && !skip; ++k) {
      const auto sh = share_of(
          detail::draw_batch(data, batch, o.per_identity, base + 17 + static_cast<std::uint64_t>(k) * 31, by_label));
      const auto real =
          detail::real_at(constant(detail::gather_rows<T, B>(data.images, sh.rows)), p, resolution, progressive<G>);
      V fake;
      {
        const no_grad off;
        fake = nn::within(g, "generator", [&] {
          return constant(g(constant(detail::gather_rows<T, B>(data.features, sh.rows)),
                            noise(101 + static_cast<std::uint64_t>(k), sh))
                              .value());
        });
      }
      rng eps(base + 211 + static_cast<std::uint64_t>(k));
      shape es{sh.global()};  // ε for the whole batch, as v
      for (std::size_t i = 1; i < real.rank(); ++i) es.push_back(1);
      opt_d.zero_grad();
      const auto c = nn::within(d, "critic", [&] {
        return losses::wgan_critic(critic_view, real, fake,
                                   dist::rows_of(tensor<T, B>::random(es, eps, {distribution::uniform, 0, 1}), sh),
                                   o.wgan);
      });
      backward(c.loss);
      dist::average_gradients(comm, pd, o.bucket_bytes);
      // One transfer: the three figures and whether every gradient is finite.
      auto v = detail::fetch_scalars<T, B>(
          {c.loss.value(), c.wasserstein.value(), c.gradient_penalty.value(), detail::nonfinite_probe(pd)});
      dist::mean_over_ranks(comm, v);
      report.values["critic"] = v[0];
      report.values["wasserstein"] = v[1];
      report.values["gp"] = v[2];
      if (!std::isfinite(v[0]) || !std::isfinite(v[3])) {
        if (o.on_nonfinite == nonfinite::stop)
          nonfinite_error(step + 1, std::isfinite(v[0])
                                        ? "the gradient of critic parameter " + detail::first_nonfinite_gradient(d)
                                        : std::string("the critic loss"));
        skip = true;
        opt_d.zero_grad();
        break;
      }
      if (o.clip_norm > 0) optim::clip_grad_norm(pd, o.clip_norm);
      opt_d.step();
    }

    // Generator step (Eq. 16: Σ weight_k · loss_k over the objective's terms, Eq. 18's weights).
    if (!skip) {
      const auto sh = share_of(detail::draw_batch(data, batch, o.per_identity, base + 7, by_label));
      const auto full = constant(detail::gather_rows<T, B>(data.images, sh.rows));
      const auto real = detail::real_at(full, p, resolution, progressive<G>);
      opt_g.zero_grad();
      const D d_frozen = nn::frozen(d);
      const auto features = constant(detail::gather_rows<T, B>(data.features, sh.rows));
      context ctx;
      ctx.fake = nn::within(g, "generator", [&] { return g(features, noise(1, sh)); });
      ctx.real = real;
      ctx.real_full = full;
      ctx.features = features;
      ctx.point = {.stage = p, .max_stage = max_stage, .step = step, .steps = o.steps};
      ctx.critic = view_of(d_frozen);
      ctx.bijection = h_frozen ? &*h_frozen : nullptr;
      ctx.distiller = distiller_frozen ? &*distiller_frozen : nullptr;
      ctx.resolution = resolution;
      ctx.comm = comm;
      ctx.share = &sh;
      ctx.data_labels = &data.labels;
      ctx.unit = unit;
      V total_loss = constant(tensor<T, B>::zeros(shape{}));
      std::vector<const char*> names;
      std::vector<tensor<T, B>> figures;
      std::apply(
          [&](const auto&... term) {
            const auto one = [&](const auto& t) {
              if (!term_on(t)) return;
              const auto l = detail::term_loss(t, ctx, d_frozen);
              total_loss = total_loss + l * static_cast<T>(t.weight(ctx.point));
              names.push_back(std::remove_cvref_t<decltype(t)>::name);
              figures.push_back(l.value());
            };
            (one(term), ...);
          },
          obj.terms);
      backward(total_loss);
      dist::average_gradients(comm, pg, o.bucket_bytes);
      figures.push_back(total_loss.value());
      figures.push_back(detail::nonfinite_probe(pg));
      auto v = detail::fetch_scalars(figures);  // one transfer: every term, the sum, the gradients' check
      const double probe = v.back();
      v.pop_back();
      dist::mean_over_ranks(comm, v);
      for (std::size_t i = 0; i < names.size(); ++i) report.values[names[i]] = v[i];
      report.values["generator"] = v.back();
      if (!std::isfinite(v.back()) || !std::isfinite(probe)) {
        if (o.on_nonfinite == nonfinite::stop) {
          // The first term that is not finite; else the weighted sum (a weight); else a gradient.
          const auto bad = std::find_if(v.begin(), v.end() - 1, [](double x) { return !std::isfinite(x); });
          nonfinite_error(step + 1, bad != v.end() - 1 ? std::string("the ") +
                                                             names[static_cast<std::size_t>(bad - v.begin())] + " term"
                                    : !std::isfinite(v.back())
                                        ? std::string("the weighted sum of the terms (a weight)")
                                        : "the gradient of generator parameter " + detail::first_nonfinite_gradient(g));
        }
        skip = true;
        opt_g.zero_grad();
      } else {
        if (o.clip_norm > 0) optim::clip_grad_norm(pg, o.clip_norm);
        opt_g.step();
        average.update(g);
      }
    }
    report.skipped = skip;
    res.skipped += skip ? 1 : 0;
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
  if (parts.ema_output != nullptr) *parts.ema_output = nn::clone(average.module());
  return res;
}

/// fit_gan with the method's objective (dabgan_objective(): all four terms, Eq. 16–18).
template <class G, class D, class H, class S, class Opt>
gan_result fit_gan(const gan_parts<G, D, H, S, Opt>& parts, const gan_data& data, const gan_options& o,
                   const std::vector<gan_callback>& callbacks = {}) {
  return fit_gan(parts, data, o, dabgan_objective(), callbacks);
}

}  // namespace bijgan::train
