// The machinery of fit_gan (train/adversarial.hpp), step by step: the batches (identity
// groups, this rank's share), the reals at each stage, the checks of the inputs and of the ranks,
// the record a checkpoint keeps, and gan_run, which holds one run's state across steps and
// takes its critic steps (Eq. 17) and generator steps (Eq. 16 with Eq. 18's weights).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
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
#include "bijgan/io/progress.hpp"
#include "bijgan/losses/adversarial.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/conv.hpp"
#include "bijgan/ops/resample.hpp"
#include "bijgan/optim/optim.hpp"
#include "bijgan/train/checkpoint.hpp"
#include "bijgan/train/gan_parts.hpp"
#include "bijgan/train/gan_types.hpp"
#include "bijgan/train/nonfinite.hpp"
#include "bijgan/train/report.hpp"
#include "bijgan/train/terms.hpp"

namespace bijgan::train {

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

/// The batch at each stage: halved per stage when asked, never below min_batch, a multiple of 4
/// (minibatch-stddev groups).
inline index_t batch_at(const gan_options& o, int stage) {
  const index_t b = o.halve_batch ? std::max(o.min_batch, o.batch >> (stage - 1)) : o.batch;
  return b - b % 4;
}

/// The stages of a generator (1 when it does not grow).
template <class G>
int stages_of(const G& g) {
  if constexpr (progressive<G>)
    return g.stages();
  else
    return 1;
}

/// Checks the data against the generator's shapes and the options against the data: a
/// shape_error or value_error saying what is wrong.
template <class G>
void check_gan_inputs(const G& g, const gan_data& data, const gan_options& o) {
  const char* op = "train::fit_gan";
  constexpr index_t resolution = G::image_shape[1];
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
  const int ranks = o.comm.size();
  const index_t unit = o.per_identity > 0 ? o.per_identity : 1;
  if (ranks > 1)
    for (int s = 1; s <= stages_of(g); ++s)
      if (const index_t b = batch_at(o, s); b % (4 * ranks) != 0 || (b / (4 * ranks)) % unit != 0)
        fail<value_error>(
            op, "the batch of ", b, " at stage ", s, " cannot be shared by ", ranks,
            " ranks: it must be a multiple of 4 x ranks (minibatch-stddev groups), and batch / (4 x ranks) ",
            "a multiple of per_identity ", o.per_identity, " (identity groups stay on one rank)");
}

/// With several ranks: checks that every rank has the same options, objective, models, H,
/// distiller and data (dist_error naming the ranks otherwise), then gives every rank rank 0's
/// initialisation of the generator and critic.
template <class G, class D, class H, class S, class Opt>
void share_across_ranks(const gan_parts<G, D, H, S, Opt>& parts, const gan_data& data, const gan_options& o,
                        const run_record& options_record) {
  if (o.comm.size() <= 1) return;
  dist::fingerprint fp;
  for (const auto& [k, v] : options_record.entries()) fp.add(k).add(v);
  fp.add(o.max_steps).add(o.resume);
  fp.add_module(*parts.generator).add_module(*parts.critic).add(data.images, 997).add(data.features, 7);
  fp.add(std::span<const int>(data.labels));
  if constexpr (nn::module<H>)
    if (parts.bijection) fp.add_module_values(*parts.bijection);
  if constexpr (nn::module<S>)
    if (parts.distiller) fp.add_module_values(*parts.distiller);
  dist::check_consistent(o.comm, fp.value(), "train::fit_gan's options, objective, models, H, distiller or data");
  dist::broadcast_module(o.comm, *parts.generator);  // one initialisation for all
  dist::broadcast_module(o.comm, *parts.critic);
}

/// One fit_gan run: the parts, data, options and objective it was given, and what lives from
/// step to step (optimizers, the generator EMA, frozen H and distiller, the batches' index).
/// train() takes the steps, each a series of critic steps then one generator step.
template <class G, class D, class H, class S, class Opt, class... Terms>
class gan_run {
 public:
  using T = typename G::value_type;
  using B = typename G::backend_type;
  using V = var<T, B>;
  using context = gan_term_context<V, H, S>;
  using optimizer_type = decltype(std::declval<const Opt&>().template make<T, B>(std::vector<V>{}, 0.0));
  static constexpr index_t resolution = G::image_shape[1];
  static constexpr const char* op = "train::fit_gan";

  gan_run(const gan_parts<G, D, H, S, Opt>& parts, const gan_data& data, const gan_options& o,
          const objective<Terms...>& obj, const run_record& options_record)
      : g_(*parts.generator),
        d_(*parts.critic),
        data_(data),
        o_(o),
        obj_(obj),
        comm_(o.comm),
        ranks_(comm_.size()),
        me_(comm_.rank()),
        unit_(o.per_identity > 0 ? o.per_identity : 1),
        max_stage_(stages_of(g_)),
        pg_(nn::parameters(g_)),
        pd_(nn::parameters(d_)),
        opt_g_(parts.optimizer.template make<T, B>(pg_, o.lr_generator)),
        opt_d_(parts.optimizer.template make<T, B>(pd_, o.lr_critic)),
        average_(g_, o.ema_decay),
        plan_{.path = o.checkpoint, .resume = o.resume, .allow_option_changes = o.allow_option_changes, .trainer = op},
        record_(options_record),
        ema_output_(parts.ema_output) {
    for (index_t i = 0; i < data.images.size(0); ++i) by_label_[data.labels[static_cast<std::size_t>(i)]].push_back(i);
    // The fingerprints of the models, data and H are only made where a checkpoint is kept.
    if (!o.checkpoint.empty()) add_part_hashes(record_, data, g_, d_, parts.bijection, parts.distiller);
    h_frozen_ = freeze(parts.bijection);
    distiller_frozen_ = freeze(parts.distiller);
  }

  /// Resumes where a checkpoint says, takes the steps up to max_steps (or all), calls the
  /// callbacks after each, checkpoints every checkpoint_every steps and at the end.
  gan_result train(const std::vector<gan_callback>& callbacks) {
    std::ostream* const log = me_ == 0 ? o_.log : nullptr;
    gan_result res;
    long step = res.resumed_from = resume_checkpoint(comm_, plan_, record_, log, checkpointed());
    const long total = o_.max_steps > 0 ? std::min(o_.max_steps, o_.steps) : o_.steps;
    std::optional<io::progress_bar> bar;
    if (log) bar.emplace(o_.steps, "GAN training", o_.batch, *log, step);
    const auto t0 = std::chrono::steady_clock::now();
    for (; step < total; ++step) {
      const auto p = stage_at(step, o_.steps_per_stage, o_.fade_steps, max_stage_);
      set_stage(p);
      const index_t batch = batch_at(o_, p.stage);
      const std::uint64_t base = o_.seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(step) * 1000003ull;
      auto report = report_at(step, p, batch);
      bool done = true;
      for (int k = 0; k < o_.n_critic && done; ++k) done = critic_step(k, p, batch, base, report);
      if (done) done = generator_step(step, p, batch, base, report);
      report.skipped = !done;
      res.skipped += done ? 0 : 1;
      res.last = report;
      for (const auto& cb : callbacks) cb(report);
      if (bar) {
        std::vector<std::pair<std::string, double>> shown{{"stage", p.r()}};
        for (const char* k : {"critic", "adv", "recon", "distill", "biject"})
          if (report.values.count(k)) shown.emplace_back(k, report.values[k]);
        bar->update(step + 1, shown);
      }
      if (o_.checkpoint_every > 0 && (step + 1) % o_.checkpoint_every == 0) save(step + 1);
    }
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.steps = step;
    res.last.reconstruct = res.last.generate = {};  // they refer to this call's models
    dist::broadcast_buffers(comm_, g_);             // per-rank batch statistics: every rank ends with rank 0's
    dist::broadcast_buffers(comm_, d_);
    dist::broadcast_buffers(comm_, average_.module());
    save(step);
    if (ema_output_ != nullptr) *ema_output_ = nn::clone(average_.module());
    return res;
  }

 private:
  /// The parts a checkpoint holds, named.
  auto checkpointed() {
    return [this](auto&& each) {
      each("generator", g_);
      each("critic", d_);
      each("generator_ema", average_);
      each("optimizer_generator", opt_g_);
      each("optimizer_critic", opt_d_);
    };
  }
  void save(long at) { save_checkpoint(comm_, plan_, at, record_, checkpointed()); }

  /// A frozen copy of a module H or distiller (no weight gradients), or a copy of another type.
  template <class P>
  static std::optional<P> freeze(const P* part) {
    if (part == nullptr) return std::nullopt;
    if constexpr (nn::module<P>)
      return nn::frozen(*part);
    else
      return *part;
  }

  /// Grows the generator, its EMA and a progressive critic to stage point p. A progressive
  /// critic beside a generator that does not grow works at its last stage.
  void set_stage(const stage_point& p) {
    if constexpr (progressive<G>) {
      g_.set_stage(p.stage, p.alpha);
      average_.module().set_stage(p.stage, p.alpha);
    }
    if constexpr (progressive<D>) {
      if constexpr (progressive<G>)
        d_.set_stage(p.stage, p.alpha);
      else
        d_.set_stage(d_.stages(), 1);
    }
  }

  /// The report of the step being taken, before its figures.
  gan_report report_at(long step, const stage_point& p, index_t batch) {
    gan_report r;
    r.trainer = op;
    r.step = step + 1;
    r.steps = o_.steps;
    r.batch = batch;
    r.rank = me_;
    r.ranks = ranks_;
    r.position = {{"stage", p.stage}, {"alpha", p.alpha}, {"batch", static_cast<double>(batch)}};
    r.stage = p.stage;
    r.alpha = p.alpha;
    r.reconstruct = [this](const tensor<float, host>& f, std::uint64_t seed) {
      return eval::reconstruct(average_.module(), f, seed);
    };
    r.generate = [this](const tensor<float, host>& f, std::uint64_t seed) { return eval::reconstruct(g_, f, seed); };
    return r;
  }

  /// This rank's share of a global batch (whole identity groups).
  [[nodiscard]] dist::batch_share share_of(std::vector<index_t> all) const {
    return dist::share_of(std::move(all), me_, ranks_, unit_);
  }
  /// v for the whole batch, drawn from base + salt; this rank keeps its rows (so R ranks see
  /// what one does).
  V noise(std::uint64_t base, std::uint64_t salt, const dist::batch_share& sh) const {
    rng gen(base + salt);
    return constant(
        dist::rows_of(tensor<T, B>::random(shape{sh.global(), G::noise_dim}, gen, {distribution::normal, 0, 1}), sh));
  }
  /// The critic as a step sees it: images at a stage's resolution, upsampled to full
  /// resolution for a critic that does not grow.
  static auto view_of(const D& critic) {
    return [&critic](const V& x) {
      if constexpr (progressive<D>)
        return critic(x);
      else
        return critic(to_full(x, resolution));
    };
  }

  /// Critic step k of a generator step (Eq. 17: WGAN-GP with drift): false when its loss or a
  /// gradient is not finite and the step is skipped (an error under nonfinite::stop).
  bool critic_step(int k, const stage_point& p, index_t batch, std::uint64_t base, gan_report& report) {
    const auto sh =
        share_of(draw_batch(data_, batch, o_.per_identity, base + 17 + static_cast<std::uint64_t>(k) * 31, by_label_));
    const auto real = real_at(constant(gather_rows<T, B>(data_.images, sh.rows)), p, resolution, progressive<G>);
    V fake;
    {
      const no_grad off;
      fake = nn::within(g_, "generator", [&] {
        return constant(g_(constant(gather_rows<T, B>(data_.features, sh.rows)),
                           noise(base, 101 + static_cast<std::uint64_t>(k), sh))
                            .value());
      });
    }
    rng eps(base + 211 + static_cast<std::uint64_t>(k));
    shape es{sh.global()};  // ε for the whole batch, as v
    for (std::size_t i = 1; i < real.rank(); ++i) es.push_back(1);
    opt_d_.zero_grad();
    const auto c = nn::within(d_, "critic", [&] {
      return losses::wgan_critic(view_of(d_), real, fake,
                                 dist::rows_of(tensor<T, B>::random(es, eps, {distribution::uniform, 0, 1}), sh),
                                 o_.wgan);
    });
    backward(c.loss);
    dist::average_gradients(comm_, pd_, o_.bucket_bytes);
    // One transfer: the three figures and whether every gradient is finite.
    auto v =
        fetch_scalars<T, B>({c.loss.value(), c.wasserstein.value(), c.gradient_penalty.value(), nonfinite_probe(pd_)});
    dist::mean_over_ranks(comm_, v);
    report.values["critic"] = v[0];
    report.values["wasserstein"] = v[1];
    report.values["gp"] = v[2];
    if (!std::isfinite(v[0]) || v[3] != 0) {  // v[3]: gradients with an inf or NaN
      if (o_.on_nonfinite == nonfinite::stop)
        nonfinite_error(op, report.step,
                        std::isfinite(v[0]) ? "the gradient of critic parameter " + first_nonfinite_gradient(d_)
                                            : std::string("the critic loss"),
                        "gan_options::on_nonfinite");
      opt_d_.zero_grad();
      return false;
    }
    if (o_.clip_norm > 0) optim::clip_grad_norm(pd_, o_.clip_norm);
    opt_d_.step();
    return true;
  }

  /// The generator step (Eq. 16: Σ weight_k · loss_k over the objective's terms that are on,
  /// Eq. 18's weights): false when a term, their sum or a gradient is not finite and the step
  /// is skipped (an error under nonfinite::stop).
  bool generator_step(long step, const stage_point& p, index_t batch, std::uint64_t base, gan_report& report) {
    const auto sh = share_of(draw_batch(data_, batch, o_.per_identity, base + 7, by_label_));
    const auto full = constant(gather_rows<T, B>(data_.images, sh.rows));
    const auto real = real_at(full, p, resolution, progressive<G>);
    opt_g_.zero_grad();
    const D d_frozen = nn::frozen(d_);
    const auto features = constant(gather_rows<T, B>(data_.features, sh.rows));
    context ctx;
    ctx.fake = nn::within(g_, "generator", [&] { return g_(features, noise(base, 1, sh)); });
    ctx.real = real;
    ctx.real_full = full;
    ctx.features = features;
    ctx.point = {.stage = p, .max_stage = max_stage_, .step = step, .steps = o_.steps};
    ctx.critic = view_of(d_frozen);
    ctx.bijection = h_frozen_ ? &*h_frozen_ : nullptr;
    ctx.distiller = distiller_frozen_ ? &*distiller_frozen_ : nullptr;
    ctx.resolution = resolution;
    ctx.comm = comm_;
    ctx.share = &sh;
    ctx.data_labels = &data_.labels;
    ctx.unit = unit_;
    V total = constant(tensor<T, B>::zeros(shape{}));
    std::vector<const char*> names;
    std::vector<tensor<T, B>> figures;
    std::apply(
        [&](const auto&... term) {
          const auto one = [&](const auto& t) {
            if (!term_on(t)) return;
            const auto l = term_loss(t, ctx, d_frozen);
            total = total + l * static_cast<T>(t.weight(ctx.point));
            names.push_back(std::remove_cvref_t<decltype(t)>::name);
            figures.push_back(l.value());
          };
          (one(term), ...);
        },
        obj_.terms);
    backward(total);
    dist::average_gradients(comm_, pg_, o_.bucket_bytes);
    figures.push_back(total.value());
    figures.push_back(nonfinite_probe(pg_));
    auto v = fetch_scalars(figures);  // one transfer: every term, the sum, the gradients' check
    const double probe = v.back();
    v.pop_back();
    dist::mean_over_ranks(comm_, v);
    for (std::size_t i = 0; i < names.size(); ++i) report.values[names[i]] = v[i];
    report.values["generator"] = v.back();
    if (!std::isfinite(v.back()) || probe != 0) {  // probe: gradients with an inf or NaN
      if (o_.on_nonfinite == nonfinite::stop) {
        // The first term that is not finite; else the weighted sum (a weight); else a gradient.
        const auto bad = std::find_if(v.begin(), v.end() - 1, [](double x) { return !std::isfinite(x); });
        nonfinite_error(
            op, report.step,
            bad != v.end() - 1 ? std::string("the ") + names[static_cast<std::size_t>(bad - v.begin())] + " term"
            : !std::isfinite(v.back()) ? std::string("the weighted sum of the terms (a weight)")
                                       : "the gradient of generator parameter " + first_nonfinite_gradient(g_),
            "gan_options::on_nonfinite");
      }
      opt_g_.zero_grad();
      return false;
    }
    if (o_.clip_norm > 0) optim::clip_grad_norm(pg_, o_.clip_norm);
    opt_g_.step();
    average_.update(g_);
    return true;
  }

  G& g_;
  D& d_;
  const gan_data& data_;
  const gan_options& o_;
  const objective<Terms...>& obj_;
  dist::communicator_ref comm_;
  int ranks_, me_;
  index_t unit_;
  int max_stage_;
  std::map<int, std::vector<index_t>> by_label_;
  std::vector<V> pg_, pd_;
  optimizer_type opt_g_, opt_d_;
  optim::ema<G> average_;
  checkpoint_plan plan_;
  run_record record_;
  G* ema_output_;
  std::optional<H> h_frozen_;
  std::optional<S> distiller_frozen_;
};

}  // namespace detail
}  // namespace bijgan::train
