// Exponential moving average of a module's weights (the generator EMA of GAN training):
// shadow = d_t * shadow + (1 - d_t) * current after update t, with d_t = decay, or with the
// warm-up d_t = min(decay, (1 + t) / (10 + t)) so that a short run's average is not dominated by
// the initial weights (0.999^800 = 0.45 of them after 800 plain updates); buffers are copied.
#pragma once

#include <algorithm>

#include "bijgan/nn/module.hpp"
#include "bijgan/optim/optimizer.hpp"

namespace bijgan::optim {

/// Whether the average ramps its decay up as min(decay, (1 + t) / (10 + t)) (on) or uses the
/// decay from the first update (off).
enum class ema_warmup { on, off };

template <nn::module M>
class ema {
 public:
  using value_type = typename M::value_type;
  using backend_type = typename M::backend_type;

  /// Starts the average at a copy of m.
  ema(const M& m, double decay, ema_warmup warmup = ema_warmup::on)
      : shadow_(nn::clone(m)), decay_(decay), warmup_(warmup) {
    if (!(decay >= 0 && decay <= 1)) fail<value_error>("optim::ema", "decay ", decay, " must lie in [0, 1]");
  }
  /// Folds m's current weights into the average (m must have the structure the average began with).
  void update(const M& m) {
    using T = value_type;
    const double d_t = next_decay();
    const auto src = nn::named_parameters(m);
    const auto dst = nn::named_parameters(shadow_);
    if (src.size() != dst.size())
      fail<shape_error>("optim::ema", "module has ", src.size(), " parameters, the average ", dst.size());
    for (std::size_t i = 0; i < src.size(); ++i) {
      const auto& s = src[i].second.value();
      const auto& d = dst[i].second.value();
      if (s.shape() != d.shape())
        fail<shape_error>("optim::ema", "parameter ", src[i].first, " has shape ", s.shape(), " vs ", d.shape());
      dst[i].second.set_value(apply(fn::lerp<T>{static_cast<T>(1 - d_t)}, d, s, "optim::ema"));
    }
    updates_.increment();
    auto sb = nn::named_buffers(const_cast<M&>(m));
    auto db = nn::named_buffers(shadow_);
    for (std::size_t i = 0; i < sb.size() && i < db.size(); ++i) *db[i].second = sb[i].second->clone();
  }
  /// The averaged module (evaluate or sample with it).
  [[nodiscard]] const M& module() const { return shadow_; }
  M& module() { return shadow_; }
  /// The configured decay (the ceiling of the warm-up).
  [[nodiscard]] double decay() const { return decay_; }
  /// Updates folded in so far.
  [[nodiscard]] long updates() const { return updates_.value(); }
  /// The decay the next update will use.
  [[nodiscard]] double next_decay() const {
    const double t = static_cast<double>(updates() + 1);
    return warmup_ == ema_warmup::on ? std::min(decay_, (1 + t) / (10 + t)) : decay_;
  }

  /// Checks a loaded update count (a whole number T counts exactly); value_error otherwise.
  void check_state() const { detail::check_counter(updates_.stored(), "ema updates"); }

  /// The shadow weights and the update count, for checkpoints.
  template <class F>
  void visit(F&& f) {
    f("shadow", shadow_);
    f("updates", updates_.for_visit());
  }

 private:
  M shadow_;
  double decay_;
  ema_warmup warmup_;
  detail::host_counter<value_type, backend_type> updates_;  // counted on the host, a tensor in checkpoints
};

}  // namespace bijgan::optim
