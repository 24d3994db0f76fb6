// Keeping the student faithful where the generator is (blackbox mode). fit_student fits F^S to
// the engine on real images only; the generator is then trained to make F^S accept its
// reconstructions, and it finds images F^S accepts and the engine does not (on LFW after 400
// steps: student cosine 0.69 between reconstruction and real, engine 0.12). student_refresh is
// a fit_gan callback that, every few generator steps, shows the engine the images the
// generator makes now — queries only: images in, features out — and takes Adam steps of
// Eq. 14 on them together with real images, so the student follows the engine onto the
// generator's distribution. A departure from the paper (its student is frozen after
// Eq. 14); the engine is still a blackbox.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/concepts/model.hpp"
#include "bijgan/data/rows.hpp"
#include "bijgan/dist/data_parallel.hpp"
#include "bijgan/losses/distill.hpp"
#include "bijgan/ops/resample.hpp"
#include "bijgan/optim/optim.hpp"
#include "bijgan/train/adversarial.hpp"

namespace bijgan::train {

struct student_refresh_options {
  long every = 5;          ///< generator steps between refreshes
  index_t batch = 32;      ///< generated images queried per refresh
  index_t real_batch = 0;  ///< real training images beside them (0: as many as batch); more anchor the student on reals
  int steps = 1;           ///< Adam steps per refresh
  double lr = 2e-4;        ///< Adam (0.9, 0.999), state kept across refreshes
  std::uint64_t seed = 9;  ///< which training rows and which v
  /// The ranks of a data-parallel fit_gan (default: one process): the engine queries are
  /// shared out (each rank asks about every size()-th generated image and the answers are
  /// gathered), then every rank takes the same Adam steps on the whole refresh batch, so the
  /// students stay equal. The query must answer each image independently of the others.
  dist::communicator_ref comm{};
};

/// What the refreshes did so far (shared with the caller through the options' stats pointer).
struct student_refresh_stats {
  long refreshes = 0;
  long queries = 0;                ///< images shown to the engine (by all ranks together)
  double cos_before = 0;           ///< mean cos(F^S, target) on the last generated batch, before its steps
  double cos_before_smoothed = 0;  ///< its exponential average (0.9)
};

/// The blackbox: images (n, C, R, R) in [0, 1] at the training resolution → features (n, D)
/// in the space of the student's targets (e.g. standardised engine descriptors).
using feature_query = std::function<tensor<float, host>(const tensor<float, host>&)>;

namespace detail {
/// query(images) (n, D), each rank asking about its share (every size()-th image) and the
/// answers gathered on every rank in the images' order.
inline tensor<float, host> sharded_query(const feature_query& query, const tensor<float, host>& images, index_t dim,
                                         const dist::communicator_ref& c, const char* op) {
  const index_t n = images.size(0);
  const auto checked = [&](const tensor<float, host>& x) {
    auto a = query(x);
    if (a.rank() != 2 || a.size(0) != x.size(0) || a.size(1) != dim)
      fail<shape_error>(op, "the query returned ", a.shape(), " for ", x.shape(), " images; expected (", x.size(0),
                        ", ", dim, ")");
    return a;
  };
  if (c.size() == 1) return checked(images);
  const int ranks = c.size();
  const index_t per = (n + ranks - 1) / ranks;  // every rank sends as many rows (padded)
  const auto mine = dist::shard_positions(n, c.rank(), ranks);
  auto padded = tensor<float, host>::zeros(shape{per, dim});
  if (!mine.empty()) {
    const auto a = checked(data::gather_rows(images, mine));
    std::copy(a.data(), a.data() + a.numel(), padded.data());
  }
  const auto all = dist::allgather(c, padded);
  auto answer = tensor<float, host>::zeros(shape{n, dim});
  for (int r = 0; r < ranks; ++r) {
    const auto rows = dist::shard_positions(n, r, ranks);
    for (std::size_t k = 0; k < rows.size(); ++k)
      std::copy(all.data() + (r * per + static_cast<index_t>(k)) * dim,
                all.data() + (r * per + static_cast<index_t>(k) + 1) * dim, answer.data() + rows[k] * dim);
  }
  return answer;
}
}  // namespace detail

/// A fit_gan callback refreshing `student` (in place; fit_gan's frozen view of it follows,
/// as it shares storage) every o.every steps: the generator being trained reconstructs
/// o.batch training features (rows and v drawn from o.seed and the step), upsampled
/// bilinearly to the training resolution; `query` gives the engine's features of those
/// images; then o.steps Adam steps of Eq. 14 on the generated images with their queried
/// features plus o.real_batch (default o.batch) real images with their recorded features. The student stays in eval
/// mode (batch norm keeps its statistics from fit_student). images/targets: the training
/// set (N, C, R, R) and its features (N, D) — the student's targets and the generator's
/// condition, as given to fit_student and fit_gan; student, images and targets are held by
/// reference and must outlive the callback. The student's weights are the caller's to save
/// with fit_gan's checkpoints; the refresh's Adam state is not saved (a resumed run restarts
/// it, so a resume is not bit-exact once refreshes have run).
template <class S>
gan_callback student_refresh(S& student, feature_query query, const tensor<float, host>& images,
                             const tensor<float, host>& targets, const student_refresh_options& o = {},
                             student_refresh_stats* stats = nullptr) {
  static_assert(check_staged_network<S>());
  using T = typename S::value_type;
  using B = typename S::backend_type;
  static_assert(std::is_same_v<T, float>, "student_refresh trains float students");
  const char* op = "train::student_refresh";
  if (images.rank() != 4 || targets.rank() != 2 || targets.size(0) != images.size(0))
    fail<shape_error>(op, "images ", images.shape(), " and targets ", targets.shape(),
                      " must be (N, C, H, W) and (N, D)");
  const index_t reals = o.real_batch > 0 ? o.real_batch : o.batch;
  if (o.every < 1 || o.batch < 1 || o.steps < 1 || o.real_batch < 0 || o.batch > images.size(0) ||
      reals > images.size(0))
    fail<value_error>(op, "every ", o.every, ", batch ", o.batch, ", real_batch ", o.real_batch, " and steps ", o.steps,
                      " must be >= 1 (real_batch >= 0; both batches <= ", images.size(0), ")");
  if (!query) fail<value_error>(op, "no query function was given");
  auto opt = std::make_shared<optim::adam<T, B>>(nn::parameters(student), optim::adam_options{.lr = o.lr});
  return [&student, query = std::move(query), &images, &targets, o, reals, stats, opt, op](const gan_report& r) {
    if (r.step % o.every != 0 || !r.generate) return;
    std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(r.step));
    std::uniform_int_distribution<index_t> pick(0, images.size(0) - 1);
    std::vector<index_t> fake_rows(static_cast<std::size_t>(o.batch)), real_rows(static_cast<std::size_t>(reals));
    for (auto& i : fake_rows) i = pick(rng);
    for (auto& i : real_rows) i = pick(rng);
    const tensor<float, host> fake = [&] {
      const no_grad off;
      return resize(constant(r.generate(data::gather_rows(targets, fake_rows), rng())), images.size(2), images.size(3))
          .value();
    }();
    const auto answer = detail::sharded_query(query, fake, targets.size(1), o.comm, op);
    const std::vector<tensor<float, host>> xs{fake, data::gather_rows(images, real_rows)};
    const std::vector<tensor<float, host>> ts{answer, data::gather_rows(targets, real_rows)};
    const auto x_all = concat(std::span<const tensor<float, host>>(xs), 0);
    const auto t_all = concat(std::span<const tensor<float, host>>(ts), 0);
    const auto at_input = [](const tensor<float, host>& x) {  // on the student's backend
      return resize(constant(data::as_batch<T, B>(x)), S::image_shape[1], S::image_shape[2]);
    };
    if (stats) {
      const no_grad off;
      const auto c = cosine_similarity(constant(data::as_batch<T, B>(answer)), student(at_input(fake)), 1);
      double sum = 0;
      for (float e : c.value().to_vector()) sum += e;
      stats->cos_before = sum / double(o.batch);
      stats->cos_before_smoothed =
          stats->refreshes == 0 ? stats->cos_before : 0.9 * stats->cos_before_smoothed + 0.1 * stats->cos_before;
    }
    // The batch moves to the student's backend and input size once, not per Adam step.
    const auto x_in = at_input(x_all);
    const auto t_in = data::as_batch<T, B>(t_all);
    for (int k = 0; k < o.steps; ++k) {
      opt->zero_grad();
      const auto loss = losses::cosine_distill(t_in, student(x_in));
      backward(loss);
      opt->step();
    }
    if (stats) {
      ++stats->refreshes;
      stats->queries += o.batch;
    }
  };
}

}  // namespace bijgan::train
