// The generator's objective as a composition of loss terms (Eq. 16 with the weights of Eq. 18,
// method.md §1–§2). A term is any type meeting gan_loss_term: a name, a weight at each point of
// the schedule, and a loss computed from what the generator step sees (gan_term_context: the
// fakes, the reals, the frozen critic, H, the distiller). The four terms of the method are
// here (adversarial_term, reconstruction_term, distillation_term, bijective_term); a user adds
// a term of their own by writing a type (docs/gan.md, examples/custom_gan.cpp), without editing
// the library. A term that needs H or a distiller says so (needs_bijection, needs_distiller),
// and fit_gan refuses at compile time an objective whose parts were not given.
#pragma once

#include <algorithm>
#include <concepts>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "bijgan/concepts/model.hpp"
#include "bijgan/dist/data_parallel.hpp"
#include "bijgan/dist/ops.hpp"
#include "bijgan/losses/adversarial.hpp"
#include "bijgan/losses/bijective.hpp"
#include "bijgan/losses/distill.hpp"
#include "bijgan/ops/resample.hpp"
#include "bijgan/train/checkpoint.hpp"
#include "bijgan/train/weighting.hpp"

namespace bijgan::train {

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

/// Where the run is when a term's weight is asked (a term's schedule is a function of it).
struct term_point {
  stage_point stage;  ///< the progressive stage and fade-in
  int max_stage = 1;  ///< R_M
  long step = 0;      ///< the generator step being taken (0-based)
  long steps = 0;     ///< the run's planned total
  /// R(i) of Eq. 18.
  [[nodiscard]] double r() const { return stage.r(); }
};

/// No bijection / no distiller (a slot left empty).
struct none {};

/// What a term of the generator's objective sees at one generator step. V is the generator's
/// var; H and S the bijection and distiller given to fit_gan (train::none where not given).
/// Everything is this rank's share of the batch, except where said.
template <class V, class H, class S>
struct gan_term_context {
  using var_type = V;
  using bijection_type = H;
  using distiller_type = S;

  V fake;       ///< the generator's output (n, C, r, r) at the stage's resolution r
  V real;       ///< the real images as the critic sees them at this stage (pooled, faded)
  V real_full;  ///< the real images at full resolution (n, C, R, R)
  V features;   ///< the engine's features of the reals (n, D): the generator's input
  term_point point;
  std::function<V(const V&)> critic;              ///< the critic, frozen (no weight gradients)
  const H* bijection = nullptr;                   ///< H, frozen (nullptr when none)
  const S* distiller = nullptr;                   ///< the distiller, frozen (nullptr when none)
  index_t resolution = 0;                         ///< R, the generator's full resolution
  dist::communicator_ref comm{};                  ///< the ranks that train together
  const dist::batch_share* share = nullptr;       ///< this rank's rows of the global batch
  const std::vector<int>* data_labels = nullptr;  ///< the label of every training image
  index_t unit = 1;                               ///< rows per identity group on one rank

  /// The fakes at full resolution (nearest upsampling of a stage's output), made once per step.
  const V& fake_full() const {
    if (!fake_full_) fake_full_ = upsample(fake, resolution / fake.size(2));
    return *fake_full_;
  }
  /// The labels of this rank's rows.
  [[nodiscard]] std::vector<int> labels() const {
    std::vector<int> out;
    for (const auto i : share->rows) out.push_back((*data_labels)[static_cast<std::size_t>(i)]);
    return out;
  }
  /// The labels of every rank's rows, in rank order: the rows dist::all_gather returns.
  [[nodiscard]] std::vector<int> global_labels() const {
    std::vector<int> out;
    const int ranks = comm.size();
    for (int r = 0; r < ranks; ++r)
      for (auto i : dist::pick(share->all, dist::shard_positions(share->global(), r, ranks, unit)))
        out.push_back((*data_labels)[static_cast<std::size_t>(i)]);
    return out;
  }

 private:
  mutable std::optional<V> fake_full_;
};

/// A loss term of the generator's objective. Required: `static constexpr const char* name`
/// (its column in reports and logs), `double weight(const term_point&) const` (its weight and
/// schedule) and `var loss(const Context&) const` (a scalar). Optional: `bool on` (false: the
/// term is skipped, for ablations), `static constexpr bool needs_bijection` /
/// `needs_distiller` (fit_gan then requires that slot at compile time) and
/// `void record(run_record&, const std::string& key) const` (settings a resume must repeat).
template <class Term, class Context>
concept gan_loss_term = requires(const Term& t, const Context& c, const term_point& p) {
  { Term::name } -> std::convertible_to<std::string_view>;
  { t.weight(p) } -> std::convertible_to<double>;
  { t.loss(c) } -> std::same_as<typename Context::var_type>;
};

/// static_asserts naming what a term lacks (fit_gan calls this for every term).
template <class Term, class Context>
constexpr bool check_gan_term() {
  static_assert(
      requires { Term::name; }, "a loss term needs static constexpr const char* name (its column in the reports)");
  static_assert(
      requires(const Term& t, const term_point& p) {
        { t.weight(p) } -> std::convertible_to<double>;
      },
      "a loss term needs double weight(const train::term_point&) const (its weight at that point)");
  static_assert(
      requires(const Term& t, const Context& c) {
        { t.loss(c) } -> std::same_as<typename Context::var_type>;
      },
      "a loss term needs var loss(const Context&) const returning the generator's var (a scalar), with Context a "
      "train::gan_term_context");
  return true;
}

/// Whether a term needs H / a distiller (its static needs_bijection / needs_distiller; false
/// where it has none).
template <class Term>
inline constexpr bool term_needs_bijection = requires {
  requires static_cast<bool>(Term::needs_bijection);
};
template <class Term>
inline constexpr bool term_needs_distiller = requires {
  requires static_cast<bool>(Term::needs_distiller);
};

/// Whether a term is switched on (its `on` member; a term without one always is).
template <class Term>
bool term_on(const Term& t) {
  if constexpr (requires { t.on; })
    return static_cast<bool>(t.on);
  else
    return true;
}

/// −E D(fake): the WGAN generator loss (Eq. 16's L_adv), weighted β·e^R (Eq. 18) × scale.
struct adversarial_term {
  static constexpr const char* name = "adv";
  bool on = true;
  double scale = 1;  ///< multiple of Eq. 18's weight
  double beta = 1;   ///< β of Eq. 18
  [[nodiscard]] double weight(const term_point& p) const {
    return exponential_weighting(p.r(), p.max_stage, {.alpha = 0, .beta = beta}).adversarial * scale;
  }
  template <class C>
  typename C::var_type loss(const C& c) const {
    return losses::wgan_generator(c.critic, c.fake);
  }
  void record(run_record& r, const std::string& key) const {
    r.add(key + ".on", on).add(key + ".scale", scale).add(key + ".beta", beta);
  }
};

/// L1 between the fakes and the reals at the stage's resolution (L_recon), weighted
/// e^(R_M − R) (Eq. 18) × scale.
struct reconstruction_term {
  static constexpr const char* name = "recon";
  bool on = true;
  double scale = 1;
  [[nodiscard]] double weight(const term_point& p) const {
    return exponential_weighting(p.r(), p.max_stage).recon * scale;
  }
  template <class C>
  typename C::var_type loss(const C& c) const {
    return losses::l1(c.fake, c.real);
  }
  void record(run_record& r, const std::string& key) const { r.add(key + ".on", on).add(key + ".scale", scale); }
};

/// Feature distillation through the distiller's stages and features (Eq. 15, L_distill), the
/// reals' side computed without a graph; weighted e^(R_M − R) (Eq. 18) × scale. Needs a
/// distiller (the student, or the engine in whitebox mode). Images reach it at full
/// resolution, resized to its input.
struct distillation_term {
  static constexpr const char* name = "distill";
  static constexpr bool needs_distiller = true;
  bool on = true;
  double scale = 1;
  losses::feature_distill_options options{.stage_weights = {}, .final_weight = 10};  ///< empty: 1 per stage
  [[nodiscard]] double weight(const term_point& p) const {
    return exponential_weighting(p.r(), p.max_stage).distill * scale;
  }
  template <class C>
  typename C::var_type loss(const C& c) const {
    using V = typename C::var_type;
    using S = typename C::distiller_type;
    const auto at_input = [](const V& x) { return resize(x, S::image_shape[1], S::image_shape[2]); };
    staged_output<V> target;  // computed without a graph: constants of the loss
    {
      const no_grad off;
      target = c.distiller->stages(at_input(c.real_full));
    }
    const auto stages = c.distiller->stages(at_input(c.fake_full()));
    auto o = options;
    if (o.stage_weights.empty()) o.stage_weights.assign(stages.stages.size(), 1.0);
    return losses::feature_distill(stages.stages, target.stages, stages.features, target.features, o);
  }
  void record(run_record& r, const std::string& key) const {
    std::string weights;
    for (double w : options.stage_weights) weights += (weights.empty() ? "" : ",") + std::to_string(w);
    r.add(key + ".on", on).add(key + ".scale", scale).add(key + ".final_weight", options.final_weight);
    r.add(key + ".stage_weights", weights);
  }
};

/// The bijective metric on H's latents (method.md §4, L_biject), over the whole batch of every
/// rank (global semantics); weighted α·e^(R_M − R) (Eq. 18) × scale. Needs H. Images reach H at
/// full resolution.
struct bijective_term {
  static constexpr const char* name = "biject";
  static constexpr bool needs_bijection = true;
  bool on = true;
  double scale = 1;
  double alpha = 0.001;  ///< α of Eq. 18
  losses::bijective_metric_options options{};
  [[nodiscard]] double weight(const term_point& p) const {
    return exponential_weighting(p.r(), p.max_stage, {.alpha = alpha, .beta = 1}).biject * scale;
  }
  template <class C>
  typename C::var_type loss(const C& c) const {
    using V = typename C::var_type;
    const auto latents = [&c](const V& x) { return dist::all_gather(c.comm, c.bijection->forward(x).z); };
    return losses::bijective_metric(latents, c.real_full, c.fake_full(), c.global_labels(), options);
  }
  void record(run_record& r, const std::string& key) const {
    r.add(key + ".on", on).add(key + ".scale", scale).add(key + ".alpha", alpha);
    r.add(key + ".margin", options.margin).add(key + ".covariance", static_cast<int>(options.covariance));
    r.add(key + ".max_negatives", options.max_negatives);
  }
};

/// The generator's objective: Σ weight_k · loss_k over the terms that are on, in order.
template <class... Terms>
struct objective {
  std::tuple<Terms...> terms;

  objective() requires(sizeof...(Terms) > 0) = default;
  explicit objective(Terms... t) : terms(std::move(t)...) {}

  /// This objective with one more term.
  template <class Term>
  [[nodiscard]] objective<Terms..., Term> plus(Term t) const {
    return std::apply([&](const auto&... mine) { return objective<Terms..., Term>(mine..., std::move(t)); }, terms);
  }
  /// The term of type Term (to switch or scale it).
  template <class Term>
  Term& term() {
    return std::get<Term>(terms);
  }
  template <class Term>
  const Term& term() const {
    return std::get<Term>(terms);
  }

  static constexpr bool needs_bijection = (term_needs_bijection<Terms> || ...);
  static constexpr bool needs_distiller = (term_needs_distiller<Terms> || ...);
};
template <class... Terms>
objective(Terms...) -> objective<Terms...>;

/// Which of the method's four terms are on (the ablation switches of dabgan_objective).
struct gan_terms {
  bool adversarial = true;
  bool recon = true;
  bool distill = true;  ///< needs a distiller (student or whitebox engine)
  bool biject = true;   ///< needs a bijection H
};

/// The method's objective (Eq. 16): adversarial, reconstruction, distillation and bijective
/// terms with Eq. 18's weights, each switched by `on`.
inline auto dabgan_objective(const gan_terms& on = {}) {
  return objective(adversarial_term{.on = on.adversarial}, reconstruction_term{.on = on.recon},
                   distillation_term{.on = on.distill}, bijective_term{.on = on.biject});
}

}  // namespace bijgan::train
