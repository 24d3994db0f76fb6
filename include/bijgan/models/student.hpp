// The student F^S of the blackbox mode (method.md §5, Eq. 14): a ResNet trained only from the
// engine's outputs by the cosine distillation loss, then frozen; its stage outputs are the
// targets of the generator's feature distillation (Eq. 15). stem conv3x3 → `stages` stages of
// two residual blocks (the first of each halving the map and doubling the width) → global
// average pooling → linear to the engine's feature size.
#pragma once

#include <array>
#include <vector>

#include "bijgan/concepts/model.hpp"
#include "bijgan/nn/conv.hpp"
#include "bijgan/nn/linear.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/nn/norm.hpp"

namespace bijgan::models {

struct student_config {
  index_t channels = 1;        ///< image channels
  index_t resolution = 32;     ///< input size (images are resized to it)
  index_t feature_dim = 1024;  ///< the engine's feature size
  index_t width = 32;          ///< channels of the first stage (doubled per stage)
  index_t stages = 3;          ///< each halves the map
};

/// A pre-activation-free basic residual block with batch norm: x' = relu(bn(conv(relu(bn(conv(x))))) + skip(x)).
template <class T = float, class B = host>
struct residual_block {
  using value_type = T;
  using backend_type = B;
  nn::conv2d<T, B> conv1, conv2;
  nn::batch_norm<T, B> bn1, bn2;
  std::vector<nn::conv2d<T, B>> skip;  ///< 1x1 stride-2 projection when the shape changes
  residual_block(index_t in, index_t out, index_t stride, rng& g)
      : conv1({.in = in, .out = out, .kernel = 3, .stride = stride, .padding = 1, .bias = false}, g),
        conv2({.in = out, .out = out, .kernel = 3, .padding = 1, .bias = false}, g),
        bn1({.channels = out}, g),
        bn2({.channels = out}, g) {
    if (stride != 1 || in != out)
      skip.emplace_back(nn::conv2d_options{.in = in, .out = out, .kernel = 1, .stride = stride, .bias = false}, g);
  }
  var<T, B> operator()(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    const auto h = bn2(conv2(relu(bn1(conv1(x)))));
    return relu(h + (skip.empty() ? x : skip[0](x)));
  }
  template <class F>
  void visit(F&& f) {
    f("conv1", conv1);
    f("bn1", bn1);
    f("conv2", conv2);
    f("bn2", bn2);
    f("skip", skip);
  }
};

/// The student network of `Cfg` (a staged_network: stages(x) gives each stage's output).
template <student_config Cfg, class T = float, class B = host>
struct student {
  static_assert(Cfg.stages >= 1 && Cfg.width >= 1 && Cfg.feature_dim >= 1,
                "student_config: stages, width, feature_dim must be >= 1");
  static_assert(Cfg.resolution % (index_t{1} << Cfg.stages) == 0,
                "student_config::resolution must be divisible by 2^stages");
  using value_type = T;
  using backend_type = B;
  using V = var<T, B>;
  static constexpr index_t feature_dim = Cfg.feature_dim;
  static constexpr std::array<index_t, 3> image_shape{Cfg.channels, Cfg.resolution, Cfg.resolution};

  nn::conv2d<T, B> stem;
  nn::batch_norm<T, B> stem_bn;
  std::vector<residual_block<T, B>> blocks;  ///< two per stage
  nn::linear<T, B> head;

  explicit student(rng& g = nn::default_rng())
      : stem({.in = Cfg.channels, .out = Cfg.width, .kernel = 3, .padding = 1, .bias = false}, g),
        stem_bn({.channels = Cfg.width}, g),
        head({.in = Cfg.width << (Cfg.stages - 1), .out = Cfg.feature_dim}, g) {
    for (index_t s = 0; s < Cfg.stages; ++s) {
      const index_t in = s == 0 ? Cfg.width : Cfg.width << (s - 1), out = Cfg.width << s;
      blocks.emplace_back(in, out, 2, g);
      blocks.emplace_back(out, out, 1, g);
    }
  }

  /// Stage outputs (N, width·2^s, r/2^(s+1), r/2^(s+1)) and the features (N, feature_dim).
  staged_output<V> stages(const V& x) const {
    const nn::module_scope scope_(this);
    if (x.rank() != 4 || x.size(1) != Cfg.channels || x.size(2) != Cfg.resolution || x.size(3) != Cfg.resolution)
      fail<shape_error>("models::student", "images ", x.shape(), " must be (N, ", Cfg.channels, ", ", Cfg.resolution,
                        ", ", Cfg.resolution, ")");
    staged_output<V> out;
    V h = relu(stem_bn(stem(x)));
    for (std::size_t b = 0; b < blocks.size(); b += 2) {
      h = blocks[b + 1](blocks[b](h));
      out.stages.push_back(h);
    }
    out.features = head(mean(h, {2, 3}));
    return out;
  }
  /// The features (N, feature_dim).
  V operator()(const V& x) const {
    const nn::module_scope scope_(this);
    return stages(x).features;
  }

  template <class F>
  void visit(F&& f) {
    f("stem", stem);
    f("stem_bn", stem_bn);
    f("blocks", blocks);
    f("head", head);
  }
};

}  // namespace bijgan::models
