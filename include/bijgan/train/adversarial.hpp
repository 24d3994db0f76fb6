// The adversarial trainer of the method (method.md §1–§2, Eq. 16–18), assembled from parts: the
// slots of train::gan(g, d) (generator, critic, optional H, distiller, optimizer policy:
// gan_parts.hpp), an objective of loss terms each with its weight and schedule (terms.hpp: the
// method's four, or the user's own), options (gan_types.hpp) and callbacks (report.hpp: CSV,
// PNG grids here, student refresh, the user's). Per generator step: n_critic WGAN-GP critic
// steps (double backprop, ProGAN's drift), then the generator minimises Σ weight_k·loss_k over
// progressive stages; gradient clipping, a generator EMA, per-stage batch sizes with a floor,
// identity-balanced batches for the bijective metric, a check that stops (or skips) a step with
// a non-finite loss or gradient, errors naming the module they came from, atomic checkpoints
// from which an interrupted run resumes to the same parameters as an uninterrupted one
// (checkpoint.hpp), data-parallel over gan_options::comm (docs/distributed.md). The steps
// themselves: gan_run.hpp.
#pragma once

#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

#include "bijgan/eval/reconstruction.hpp"
#include "bijgan/io/png.hpp"
#include "bijgan/train/gan_parts.hpp"
#include "bijgan/train/gan_run.hpp"
#include "bijgan/train/gan_types.hpp"
#include "bijgan/train/report.hpp"
#include "bijgan/train/terms.hpp"

namespace bijgan::train {

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
  using context = gan_term_context<var<T, B>, H, S>;
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
  detail::check_gan_inputs(*parts.generator, data, o);
  const run_record options_record = detail::gan_options_record(o, obj, parts.optimizer);
  detail::share_across_ranks(parts, data, o, options_record);
  detail::gan_run<G, D, H, S, Opt, Terms...> run(parts, data, o, obj, options_record);
  return run.train(callbacks);
}

/// fit_gan with the method's objective (dabgan_objective(): all four terms, Eq. 16–18).
template <class G, class D, class H, class S, class Opt>
gan_result fit_gan(const gan_parts<G, D, H, S, Opt>& parts, const gan_data& data, const gan_options& o,
                   const std::vector<gan_callback>& callbacks = {}) {
  return fit_gan(parts, data, o, dabgan_objective(), callbacks);
}

}  // namespace bijgan::train
