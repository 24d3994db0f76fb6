// Engine 1: a LeNet-style classifier for 32x32 grey images (Fashion-MNIST padded from 28x28),
// the recognition engine of the paper's MNIST ablation. Its 1024-D penultimate activation is
// the feature F(x). As a module it trains like any other (and serves the whitebox mode, where
// gradients flow through it); features() is its blackbox face: tensors in, tensors out.
#pragma once

#include <array>

#include "bijgan/concepts/engine.hpp"
#include "bijgan/concepts/model.hpp"
#include "bijgan/nn/chain.hpp"
#include "bijgan/nn/conv.hpp"
#include "bijgan/nn/linear.hpp"
#include "bijgan/nn/module_scope.hpp"

namespace bijgan::engines {

/// conv 5x5 (1 -> 32) - ReLU - max-pool 2 - conv 5x5 (32 -> 64) - ReLU - max-pool 2 -
/// linear 1600 -> 1024 - ReLU (the feature) - linear 1024 -> 10 (class logits).
template <class T = float, class B = host>
struct lenet {
  using value_type = T;
  using backend_type = B;
  static constexpr index_t feature_dim = 1024;
  static constexpr index_t classes = 10;
  static constexpr std::array<index_t, 3> image_shape{1, 32, 32};

  nn::conv2d<T, B> conv1, conv2;
  nn::linear<T, B> fc1, fc2;

  explicit lenet(rng& g = nn::default_rng())
      : conv1({.in = 1, .out = 32, .kernel = 5}, g),
        conv2({.in = 32, .out = 64, .kernel = 5}, g),
        fc1({.in = 64 * 5 * 5, .out = feature_dim}, g),
        fc2({.in = feature_dim, .out = classes}, g) {}

  /// The differentiable feature of images (N, 1, 32, 32) in [0, 1]: (N, 1024).
  var<T, B> feature(const var<T, B>& x) const { return stages(x).features; }
  /// The two pooled conv stages (N, 32, 14, 14), (N, 64, 5, 5) and the feature: the whitebox
  /// targets of the feature distillation (Eq. 15, the paper's MNIST ablation).
  staged_output<var<T, B>> stages(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    if (x.rank() != 4 || x.size(1) != 1 || x.size(2) != 32 || x.size(3) != 32)
      fail<shape_error>("engines::lenet", "images ", x.shape(), " must be (N, 1, 32, 32) (pad 28x28 by 2)");
    auto h1 = max_pool2d(relu(conv1(x)), {.kernel = 2});
    auto h2 = max_pool2d(relu(conv2(h1)), {.kernel = 2});
    auto f = relu(fc1(flatten(h2, 1, -1)));
    return {{h1, h2}, f};
  }
  /// Class logits (N, 10).
  var<T, B> operator()(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    return fc2(feature(x));
  }

  /// The blackbox face: features of images (N, 1, 32, 32), computed without a graph in batches.
  [[nodiscard]] tensor<T, B> features(const tensor<T, B>& images, index_t batch = 500) const {
    no_grad ng;
    return in_batches(images, batch, tensor<T, B>::zeros(shape{0, feature_dim}),
                      [&](const tensor<T, B>& part) { return feature(constant(part)).value(); });
  }
  /// Predicted classes of images (N, 1, 32, 32).
  [[nodiscard]] std::vector<int> classify(const tensor<T, B>& images, index_t batch = 500) const {
    no_grad ng;
    std::vector<int> out;
    for (index_t s = 0; s < images.size(0); s += batch) {
      const auto logits =
          (*this)(constant(images.slice_rows(s, std::min(images.size(0), s + batch)))).value().to_vector();
      for (std::size_t i = 0; i < logits.size(); i += classes)
        out.push_back(static_cast<int>(std::max_element(logits.begin() + static_cast<std::ptrdiff_t>(i),
                                                        logits.begin() + static_cast<std::ptrdiff_t>(i + classes)) -
                                       (logits.begin() + static_cast<std::ptrdiff_t>(i))));
    }
    return out;
  }

  template <class F>
  void visit(F&& f) {
    f("conv1", conv1);
    f("conv2", conv2);
    f("fc1", fc1);
    f("fc2", fc2);
  }
};

static_assert(blackbox_engine<lenet<float, host>>);

/// Pads 28x28 images (N, 1, 28, 28) to the engine's 32x32 with zeros.
inline tensor<float, host> pad_to_32(const tensor<float, host>& images) {
  if (images.rank() != 4 || images.size(2) != 28 || images.size(3) != 28)
    fail<shape_error>("pad_to_32", "images ", images.shape(), " must be (N, C, 28, 28)");
  const index_t pads[] = {0, 0, 0, 0, 2, 2, 2, 2};
  return pad(images, std::span<const index_t>(pads), 0.0f);
}

}  // namespace bijgan::engines
