// The whitebox mode (method.md §5, Table II's left half): the recognition engine itself, rather
// than a student fitted to its answers, as the network whose stage outputs and features the
// generator's feature distillation matches (Eq. 15). engines::whitebox<E> adapts any engine
// with a differentiable forward (dlib_resnet, file_engine, or a user's own) to the
// staged_network concept fit_gan takes as its distiller. The engine is never trained: it has
// no parameters as a module, so only the images it sees receive gradients.
#pragma once

#include <array>
#include <concepts>
#include <optional>
#include <utility>

#include "bijgan/concepts/model.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/ops.hpp"

namespace bijgan::engines {

/// An engine gradients can flow through: images (N, C, H, W) in [0, 1] -> features (N, D)
/// as a var recorded by our ops:
///   E::feature_dim, E::image_shape (static constexpr), e.forward(var images) -> var
template <class E>
concept differentiable_engine = requires(const E& e, const var<float, host>& x) {
  { E::feature_dim } -> std::convertible_to<index_t>;
  { E::image_shape[0] } -> std::convertible_to<index_t>;
  { e.forward(x) } -> std::same_as<var<float, host>>;
};

/// A differentiable engine that also gives its intermediate stages (Eq. 15's F_j):
///   e.forward_stages(var images) -> staged_output<var>
template <class E>
concept staged_engine = differentiable_engine<E> && requires(const E& e, const var<float, host>& x) {
  { e.forward_stages(x) } -> std::same_as<staged_output<var<float, host>>>;
};

/// The engine's stage outputs and features on images (differentiable): forward_stages where E
/// is a staged_engine, otherwise no stages and forward's features.
template <differentiable_engine E>
staged_output<var<float, host>> staged_forward(const E& engine, const var<float, host>& images) {
  if constexpr (staged_engine<E>)
    return engine.forward_stages(images);
  else
    return {{}, engine.forward(images)};
}

struct whitebox_options {
  /// (feature_dim) subtracted from the engine's features before the cosine of Eq. 15 (empty:
  /// none). Real engines' features share a large common direction (data/standardize.hpp), so a
  /// cosine of raw features is near 1 for anyone; pass feature_standardizer::mean.
  tensor<float, host> centre;
  /// Match the engine's intermediate stages too, where it has them (staged_engine); false:
  /// the final features only.
  bool stages = true;
};

/// The engine E as a staged_network (fit_gan's distiller in whitebox mode). Holds a reference:
/// the engine must outlive the adapter. Images are resized to E::image_shape by the caller
/// (fit_gan does: bilinear).
template <differentiable_engine E>
class whitebox {
 public:
  using value_type = float;
  using backend_type = host;
  static constexpr index_t feature_dim = E::feature_dim;
  static constexpr std::array<index_t, 3> image_shape{E::image_shape[0], E::image_shape[1], E::image_shape[2]};

  whitebox(const E&&, whitebox_options = {}) = delete;  // it would outlive a temporary engine
  /// shape_error when options.centre is neither empty nor (feature_dim).
  explicit whitebox(const E& engine, whitebox_options options = {}) : engine_(&engine), options_(std::move(options)) {
    const auto& c = options_.centre;
    if (c.numel() > 0) {
      if (c.rank() != 1 || c.size(0) != feature_dim)
        fail<shape_error>("engines::whitebox", "centre ", c.shape(), " must be (", feature_dim, ")");
      centre_ = constant(c.reshape({1, feature_dim}));
    }
  }

  /// No trainable parameters: the engine is fixed (nn::parameters gives none, fit_gan's
  /// optimiser never sees it).
  template <class F>
  void visit(F&&) {}

  /// The engine's stage outputs (when it has them and options.stages) and its features, centred.
  [[nodiscard]] staged_output<var<float, host>> stages(const var<float, host>& images) const {
    const nn::module_scope scope_(this);
    staged_output<var<float, host>> out;
    if (options_.stages)
      out = staged_forward(*engine_, images);
    else
      out.features = engine_->forward(images);
    if (centre_) out.features = out.features - *centre_;
    return out;
  }
  /// The centred features alone.
  [[nodiscard]] var<float, host> operator()(const var<float, host>& images) const {
    const nn::module_scope scope_(this);
    return stages(images).features;
  }

  [[nodiscard]] const E& engine() const noexcept { return *engine_; }
  [[nodiscard]] const whitebox_options& options() const noexcept { return options_; }

 private:
  const E* engine_;
  whitebox_options options_;
  std::optional<var<float, host>> centre_;
};

}  // namespace bijgan::engines
