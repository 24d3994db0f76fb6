// Adam (Kingma & Ba 2015) and its variants as one template: L2 weight decay added to the
// gradient (adam), decoupled weight decay (adamw, Loshchilov & Hutter 2019), and AMSGrad
// (Reddi et al. 2018: the running maximum of the second moment). One fused kernel per
// parameter reads p, g, m, v once and writes p, m, v once (the bandwidth floor).
#pragma once

#include <algorithm>
#include <cmath>

#include "bijgan/config/instances.hpp"
#include "bijgan/optim/optimizer.hpp"

#if !defined(__CUDACC__)
BIJGAN_THIRD_PARTY_BEGIN
#include <Eigen/Core>
BIJGAN_THIRD_PARTY_END
#endif

namespace bijgan::optim {

/// Which Adam: how weight decay enters, and whether the second moment is a running maximum.
struct adam_policy {
  bool decoupled_weight_decay = false;
  bool amsgrad = false;
};

struct adam_options {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
};

namespace detail {
template <class T>
struct adam_kernel {
  T* p;
  const T* g;
  T* m;
  T* v;
  T* vmax;  ///< AMSGrad only
  T beta1, beta2, step_size, bias2_sqrt_inv, eps, l2, decay;
  bool amsgrad;
  BIJGAN_HD void operator()(index_t i) const {
    const T grad = g[i] + l2 * p[i];
    const T mi = beta1 * m[i] + (T(1) - beta1) * grad;
    const T vi = beta2 * v[i] + (T(1) - beta2) * grad * grad;
    m[i] = mi;
    v[i] = vi;
    T second = vi;
    if (amsgrad) {
      second = vmax[i] > vi ? vmax[i] : vi;
      vmax[i] = second;
    }
    p[i] = p[i] * decay - step_size * mi / (math::sqrt(second) * bias2_sqrt_inv + eps);
  }
#if !defined(__CUDACC__)
  /// The same update over [lo, hi) on the host, in L1-sized blocks of Eigen array expressions
  /// (SIMD sqrt and division; a scalar loop with std::sqrt does not vectorise because of errno).
  void run(index_t lo, index_t hi) const {
    using arr = Eigen::Array<T, Eigen::Dynamic, 1>;
    constexpr index_t block = 1024;
    for (index_t b = lo; b < hi; b += block) {
      const index_t n = std::min(block, hi - b);
      Eigen::Map<arr> pp(p + b, n), mp(m + b, n), vp(v + b, n);
      const Eigen::Map<const arr> gp(g + b, n);
      mp = beta1 * mp + (T(1) - beta1) * (gp + l2 * pp);
      vp = beta2 * vp + (T(1) - beta2) * (gp + l2 * pp).square();
      if (amsgrad) {
        Eigen::Map<arr> xp(vmax + b, n);
        xp = xp.max(vp);
        pp = pp * decay - step_size * mp / (xp.sqrt() * bias2_sqrt_inv + eps);
      } else {
        pp = pp * decay - step_size * mp / (vp.sqrt() * bias2_sqrt_inv + eps);
      }
    }
  }
#endif
};
}  // namespace detail

/// Per-parameter state: first and second moments (and their running maximum for AMSGrad).
template <class T, class B>
struct adam_state {
  using value_type = T;
  using backend_type = B;
  tensor<T, B> exp_avg, exp_avg_sq, max_exp_avg_sq;
  template <class F>
  void visit(F&& f) {
    f("exp_avg", exp_avg);
    f("exp_avg_sq", exp_avg_sq);
    if (max_exp_avg_sq.defined()) f("max_exp_avg_sq", max_exp_avg_sq);
  }
};

/// The Adam family; see the aliases adam, adamw, amsgrad.
template <adam_policy Policy, class T = float, class B = host>
class basic_adam : public optimizer_base<T, B> {
 public:
  basic_adam(std::vector<var<T, B>> params, const adam_options& o = {})
      : basic_adam(std::vector<param_group<T, B>>{{std::move(params), {}, {}}}, o) {}
  basic_adam(std::vector<param_group<T, B>> groups, const adam_options& o)
      : optimizer_base<T, B>(detail::resolve(std::move(groups), o.lr, o.weight_decay, "optim::adam")), options_(o) {
    if (!(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 && o.eps >= 0))
      fail<value_error>("optim::adam", "betas (", o.beta1, ", ", o.beta2, ") must lie in [0, 1) and eps ", o.eps,
                        " >= 0");
    for (const auto& g : this->groups_)
      for (const auto& p : g.params)
        state_.push_back({tensor<T, B>::zeros(p.shape()), tensor<T, B>::zeros(p.shape()),
                          Policy.amsgrad ? tensor<T, B>::zeros(p.shape()) : tensor<T, B>()});
  }

  /// One update of every parameter that has a gradient.
  void step() {
    const long t = this->advance();
    const double bc1 = 1 - std::pow(options_.beta1, static_cast<double>(t));
    const double bc2 = 1 - std::pow(options_.beta2, static_cast<double>(t));
    std::size_t k = 0;
    for (const auto& g : this->groups_) {
      for (const auto& p : g.params) {
        auto& s = state_[k++];
        if (!p.grad().defined()) continue;
        if (p.grad().shape() != p.shape())
          fail<shape_error>("optim::adam", "gradient ", p.grad().shape(), " for a parameter of shape ", p.shape());
        const detail::adam_kernel<T> kern{p.value().data(),
                                          p.grad().data(),
                                          s.exp_avg.data(),
                                          s.exp_avg_sq.data(),
                                          s.max_exp_avg_sq.data(),
                                          static_cast<T>(options_.beta1),
                                          static_cast<T>(options_.beta2),
                                          static_cast<T>(g.lr / bc1),
                                          static_cast<T>(1 / std::sqrt(bc2)),
                                          static_cast<T>(options_.eps),
                                          static_cast<T>(Policy.decoupled_weight_decay ? 0 : g.weight_decay),
                                          static_cast<T>(Policy.decoupled_weight_decay ? 1 - g.lr * g.weight_decay : 1),
                                          Policy.amsgrad};
        B::for_each(p.numel(), kern);
      }
    }
  }

  [[nodiscard]] const adam_options& options() const { return options_; }

  /// Checks loaded state: the step counter (optimizer_base) and second moments >= 0 (a negative
  /// one would make the next step's square root NaN). value_error naming the state otherwise.
  void check_state() const {
    optimizer_base<T, B>::check_state();
    for (std::size_t k = 0; k < state_.size(); ++k)
      for (const auto* t : {&state_[k].exp_avg_sq, &state_[k].max_exp_avg_sq}) {
        if (!t->defined()) continue;
        const auto v = t->to_vector();
        for (std::size_t i = 0; i < v.size(); ++i)
          if (!(v[i] >= 0))
            fail<value_error>("optim::adam", "state.", k,
                              (t == &state_[k].exp_avg_sq ? ".exp_avg_sq" : ".max_exp_avg_sq"), " holds ", v[i],
                              " at element ", i, ", expected >= 0");
      }
  }

  /// Names the state for checkpoints: "step", "state.<i>.exp_avg", ...
  template <class F>
  void visit(F&& f) {
    f("step", this->step_.for_visit());
    f("state", state_);
  }

 private:
  adam_options options_;
  std::vector<adam_state<T, B>> state_;
};

template <class T = float, class B = host>
using adam = basic_adam<adam_policy{}, T, B>;
template <class T = float, class B = host>
using adamw = basic_adam<adam_policy{.decoupled_weight_decay = true}, T, B>;
template <class T = float, class B = host>
using amsgrad = basic_adam<adam_policy{.amsgrad = true}, T, B>;

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_ADAM_INSTANCES(X, T, B)                                   \
  X class basic_adam<adam_policy{}, T, B>;                               \
  X class basic_adam<adam_policy{.decoupled_weight_decay = true}, T, B>; \
  X class basic_adam<adam_policy{.amsgrad = true}, T, B>;
BIJGAN_EXTERN_INSTANCES(BIJGAN_ADAM_INSTANCES)

}  // namespace bijgan::optim
