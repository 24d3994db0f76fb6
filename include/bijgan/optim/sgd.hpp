// Stochastic gradient descent with momentum (PyTorch's formulation: the first step sets the
// buffer to the gradient), dampening, Nesterov momentum and L2 weight decay.
#pragma once

#include "bijgan/config/instances.hpp"
#include "bijgan/optim/optimizer.hpp"

namespace bijgan::optim {

struct sgd_options {
  double lr = 1e-2;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

namespace detail {
template <class T>
struct sgd_kernel {
  T* p;
  const T* g;
  T* buf;
  T lr, momentum, dampening, l2;
  bool first, nesterov, use_momentum;
  BIJGAN_HD void operator()(index_t i) const {
    T d = g[i] + l2 * p[i];
    if (use_momentum) {
      const T b = first ? d : momentum * buf[i] + (T(1) - dampening) * d;
      buf[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    p[i] -= lr * d;
  }
};
}  // namespace detail

template <class T, class B>
struct sgd_state {
  using value_type = T;
  using backend_type = B;
  tensor<T, B> momentum_buffer;
  template <class F>
  void visit(F&& f) {
    f("momentum_buffer", momentum_buffer);
  }
};

template <class T = float, class B = host>
class sgd : public optimizer_base<T, B> {
 public:
  sgd(std::vector<var<T, B>> params, const sgd_options& o = {})
      : sgd(std::vector<param_group<T, B>>{{std::move(params), {}, {}}}, o) {}
  sgd(std::vector<param_group<T, B>> groups, const sgd_options& o)
      : optimizer_base<T, B>(detail::resolve(std::move(groups), o.lr, o.weight_decay, "optim::sgd")), options_(o) {
    if (o.momentum < 0 || (o.nesterov && (o.momentum <= 0 || o.dampening != 0)))
      fail<value_error>("optim::sgd", "momentum ", o.momentum, " (Nesterov needs momentum > 0 and no dampening)");
    for (const auto& g : this->groups_)
      for (const auto& p : g.params) state_.push_back({tensor<T, B>::zeros(p.shape())});
  }

  void step() {
    const bool first = this->advance() == 1;
    std::size_t k = 0;
    for (const auto& g : this->groups_)
      for (const auto& p : g.params) {
        auto& s = state_[k++];
        if (!p.grad().defined()) continue;
        const detail::sgd_kernel<T> kern{p.value().data(),
                                         p.grad().data(),
                                         s.momentum_buffer.data(),
                                         static_cast<T>(g.lr),
                                         static_cast<T>(options_.momentum),
                                         static_cast<T>(options_.dampening),
                                         static_cast<T>(g.weight_decay),
                                         first,
                                         options_.nesterov,
                                         options_.momentum != 0};
        B::for_each(p.numel(), kern);
      }
  }

  template <class F>
  void visit(F&& f) {
    f("step", this->step_.for_visit());
    f("state", state_);
  }

 private:
  sgd_options options_;
  std::vector<sgd_state<T, B>> state_;
};

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_SGD_INSTANCES(X, T, B) X class sgd<T, B>;
BIJGAN_EXTERN_INSTANCES(BIJGAN_SGD_INSTANCES)

}  // namespace bijgan::optim
