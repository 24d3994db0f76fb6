// ActNorm (Glow, method.md §3): a per-channel affine map y = (x + bias)·exp(log_scale) whose
// parameters are set from the first batch it sees (data-dependent initialisation: every channel
// of that batch comes out with zero mean and unit variance); log-det = H·W·Σ log_scale.
#pragma once

#include "bijgan/autodiff/grad_mode.hpp"
#include "bijgan/config/instances.hpp"
#include "bijgan/flows/bijection.hpp"
#include "bijgan/nn/module.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/nn/norm.hpp"
#include "bijgan/ops/reduce.hpp"

namespace bijgan::flows {

/// ActNorm over (N, C, H, W) (or (N, C)). The flag `initialized` is a buffer (1 once set), so a
/// checkpoint restores a trained layer without re-initialising it.
template <class T = float, class B = host>
struct actnorm {
  using value_type = T;
  using backend_type = B;
  var<T, B> log_scale;       ///< (C), zeros until initialised
  var<T, B> bias;            ///< (C), zeros until initialised
  tensor<T, B> initialized;  ///< (1): 0 or 1
  double eps = 1e-6;

  explicit actnorm(index_t channels)
      : log_scale(parameter(tensor<T, B>::zeros(shape{channels}))),
        bias(parameter(tensor<T, B>::zeros(shape{channels}))),
        initialized(tensor<T, B>::zeros(shape{1})) {
    if (channels < 1) fail<shape_error>("flows::actnorm", "channel count ", channels, " must be >= 1");
  }

  [[nodiscard]] bool is_initialized() const { return initialized.to_vector()[0] != T(0); }

  /// Sets bias = −mean and log_scale = −log(std + eps) per channel from x (values only; the
  /// population standard deviation over the batch and positions).
  void initialize(const tensor<T, B>& x) const {
    check(x.shape(), "initialize");
    if (x.numel() / channels() < 2)
      fail<shape_error>("flows::actnorm", "initialisation needs more than one value per channel, input ", x.shape());
    const no_grad off;
    const axes_t axes = x.rank() == 2 ? axes_t{0} : axes_t{0, 2, 3};
    const auto v = constant(x);
    bias.set_value((-mean(v, axes)).value());
    log_scale.set_value((-log(sqrt(variance(v, axes, false, 0)) + static_cast<T>(eps))).value());
    nn::detail::assign(initialized, tensor<T, B>::ones(shape{1}));
  }

  /// The first call initialises from x's values when the layer is not yet initialised.
  flow_result<T, B> forward(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    check(x.shape(), "forward");
    if (!is_initialized()) initialize(x.value());
    const shape cs = nn::detail::channel_shape(x.shape(), channels());
    const T pixels = static_cast<T>(x.rank() == 2 ? 1 : x.size(2) * x.size(3));
    return {(x + reshape(bias, cs)) * exp(reshape(log_scale, cs)),
            detail::same_logdet(sum(log_scale) * pixels, x.size(0))};
  }
  var<T, B> inverse(const var<T, B>& y) const {
    const nn::module_scope scope_(this);
    check(y.shape(), "inverse");
    if (!is_initialized())
      fail<value_error>("flows::actnorm",
                        "inverse called before the layer was initialised by a forward pass or a checkpoint");
    const shape cs = nn::detail::channel_shape(y.shape(), channels());
    return y * exp(-reshape(log_scale, cs)) - reshape(bias, cs);
  }

  [[nodiscard]] index_t channels() const { return log_scale.size(0); }

  /// This step on backend To with the same structure, for nn::to (which then copies the values).
  template <class To>
  actnorm<T, To> rebuild() const {
    return actnorm<T, To>(log_scale.size(0));
  }

  template <class F>
  void visit(F&& f) {
    f("log_scale", log_scale);
    f("bias", bias);
    f("initialized", initialized);
  }

 private:
  void check(const shape& s, const char* dir) const {
    if ((s.rank() != 2 && s.rank() != 4) || s[1] != channels())
      fail<shape_error>("flows::actnorm", dir, " input ", s, " must be (N, ", channels(), ") or (N, ", channels(),
                        ", H, W)");
  }
};

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_ACTNORM_INSTANCES(X, T, B) X struct actnorm<T, B>;
BIJGAN_EXTERN_INSTANCES(BIJGAN_ACTNORM_INSTANCES)

}  // namespace bijgan::flows
