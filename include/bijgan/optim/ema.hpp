// Exponential moving average of a module's weights (the generator EMA of GAN training):
// shadow = decay * shadow + (1 - decay) * current after each step; buffers are copied.
#pragma once

#include "bijgan/nn/module.hpp"

namespace bijgan::optim {

template <nn::module M>
class ema {
 public:
  using value_type = typename M::value_type;
  using backend_type = typename M::backend_type;

  /// Starts the average at a copy of m.
  ema(const M& m, double decay) : shadow_(nn::clone(m)), decay_(decay) {
    if (!(decay >= 0 && decay <= 1)) fail<value_error>("optim::ema", "decay ", decay, " must lie in [0, 1]");
  }
  /// Folds m's current weights into the average (m must have the structure the average began with).
  void update(const M& m) {
    using T = value_type;
    const auto src = nn::named_parameters(m);
    const auto dst = nn::named_parameters(shadow_);
    if (src.size() != dst.size()) fail<shape_error>("optim::ema", "module has ", src.size(), " parameters, the average ", dst.size());
    for (std::size_t i = 0; i < src.size(); ++i) {
      const auto& s = src[i].second.value();
      const auto& d = dst[i].second.value();
      if (s.shape() != d.shape()) fail<shape_error>("optim::ema", "parameter ", src[i].first, " has shape ", s.shape(), " vs ", d.shape());
      dst[i].second.set_value(apply(fn::lerp<T>{static_cast<T>(1 - decay_)}, d, s, "optim::ema"));
    }
    auto sb = nn::named_buffers(const_cast<M&>(m));
    auto db = nn::named_buffers(shadow_);
    for (std::size_t i = 0; i < sb.size() && i < db.size(); ++i) *db[i].second = sb[i].second->clone();
  }
  /// The averaged module (evaluate or sample with it).
  [[nodiscard]] const M& module() const { return shadow_; }
  M& module() { return shadow_; }
  [[nodiscard]] double decay() const { return decay_; }

  /// The shadow weights for checkpoints.
  template <class F>
  void visit(F&& f) {
    f("shadow", shadow_);
  }

 private:
  M shadow_;
  double decay_;
};

}  // namespace bijgan::optim
