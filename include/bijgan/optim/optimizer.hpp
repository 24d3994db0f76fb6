// What every optimizer shares: parameter groups (each with its own learning rate and weight
// decay), the learning-rate factor a schedule sets, zero_grad, and the step counter. Optimizer
// state is named through visit(), so checkpoints save and load it like a module's buffers.
#pragma once

#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "bijgan/nn/module.hpp"

namespace bijgan::optim {

/// Parameters sharing hyper-parameters; unset values take the optimizer's defaults.
template <class T = float, class B = host>
struct param_group {
  std::vector<var<T, B>> params;
  std::optional<double> lr;
  std::optional<double> weight_decay;
};

namespace detail {
/// A group with resolved hyper-parameters.
template <class T, class B>
struct resolved_group {
  std::vector<var<T, B>> params;
  double base_lr;
  double lr;
  double weight_decay;
};

template <class T, class B>
std::vector<resolved_group<T, B>> resolve(std::vector<param_group<T, B>> groups, double lr, double wd, const char* op) {
  std::vector<resolved_group<T, B>> out;
  for (auto& g : groups) {
    for (const auto& p : g.params)
      if (!p.defined() || !p.requires_grad())
        fail<value_error>(op, "parameters must be defined vars that require grad");
    const double l = g.lr.value_or(lr), w = g.weight_decay.value_or(wd);
    if (!(l >= 0) || !(w >= 0)) fail<value_error>(op, "learning rate ", l, " and weight decay ", w, " must be >= 0");
    out.push_back({std::move(g.params), l, l, w});
  }
  return out;
}
}  // namespace detail

namespace detail {
/// A counter kept in a one-element tensor (so checkpoints carry it) must hold a whole number in
/// [0, 2^digits], the range where T counts exactly.
template <class T, class B>
void check_counter(const tensor<T, B>& c, const char* name) {
  if (c.numel() != 1) fail<value_error>("optim", name, " counter has shape ", c.shape(), ", expected one element");
  const double v = static_cast<double>(c.item());
  const double top = std::ldexp(1.0, std::numeric_limits<T>::digits);
  if (!(v >= 0 && v <= top) || v != std::floor(v))
    fail<value_error>("optim", name, " counter is ", v, ", expected a whole number in [0, ", top, "]");
}

/// A step count kept on the host, with a one-element tensor copy for checkpoints: counting
/// costs no device transfer (reading a device tensor every step would wait for the device).
/// The tensor is written from the count when visited (a save) and the count is read back from
/// the tensor, once, after a visit (a load may have replaced it).
template <class T, class B>
class host_counter {
 public:
  [[nodiscard]] long value() const {
    if (!known_) {
      value_ = static_cast<long>(tensor_.item());
      known_ = true;
    }
    return value_;
  }
  long increment() {
    value_ = value() + 1;
    tensor_stale_ = true;
    return value_;
  }
  /// The tensor a visit saves or loads (the count is read from it again afterwards).
  tensor<T, B>& for_visit() {
    if (tensor_stale_) tensor_ = tensor<T, B>::scalar(static_cast<T>(value_)).reshape(shape{1});
    tensor_stale_ = false;
    known_ = false;
    return tensor_;
  }
  [[nodiscard]] const tensor<T, B>& stored() const { return tensor_; }

 private:
  tensor<T, B> tensor_ = tensor<T, B>::zeros(shape{1});
  mutable long value_ = 0;
  mutable bool known_ = true;
  bool tensor_stale_ = false;
};
}  // namespace detail

/// Base of the optimizers: groups, learning-rate factor, step count, zero_grad.
template <class T, class B>
class optimizer_base {
 public:
  using value_type = T;
  using backend_type = B;

  /// Sets every group's learning rate to factor * its base rate (what schedules call).
  void set_lr_factor(double factor) {
    for (auto& g : groups_) g.lr = g.base_lr * factor;
  }
  /// Learning rate of group i (after the schedule's factor).
  [[nodiscard]] double lr(std::size_t group = 0) const { return groups_.at(group).lr; }
  /// Steps taken (restored from checkpoints).
  [[nodiscard]] long steps() const { return step_.value(); }
  /// Drops the gradients of every parameter.
  void zero_grad() const {
    for (const auto& g : groups_)
      for (const auto& p : g.params) p.zero_grad();
  }
  /// Checks a loaded step counter: a whole number in [0, 2^24] (float) or [0, 2^53] (double),
  /// where every count is exact. value_error otherwise (io::state_dict::load_module calls this).
  void check_state() const { detail::check_counter(step_.stored(), "step"); }
  /// All parameters, group after group.
  [[nodiscard]] std::vector<var<T, B>> parameters() const {
    std::vector<var<T, B>> out;
    for (const auto& g : groups_) out.insert(out.end(), g.params.begin(), g.params.end());
    return out;
  }

 protected:
  explicit optimizer_base(std::vector<detail::resolved_group<T, B>> groups) : groups_(std::move(groups)) {}
  long advance() { return step_.increment(); }
  std::vector<detail::resolved_group<T, B>> groups_;
  detail::host_counter<T, B> step_;
};

}  // namespace bijgan::optim
