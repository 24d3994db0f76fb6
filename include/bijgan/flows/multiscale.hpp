// flows::realnvp_multiscale, the bijection H of the paper (method.md §3): per scale 3
// checkerboard affine couplings (alternating masks), squeeze, 3 channel couplings (alternating
// halves), factor-out of half the channels; the last scale has 4 checkerboard couplings. Every
// coupling's conditioner is an nn::conv_resnet (paper: 2 residual blocks of 32 feature maps);
// paper: 5 scales. Maps (N, C, H, W) to a flat latent (N, C·H·W) laid out as [scale-1 factor,
// scale-2 factor, ..., last scale].
#pragma once

#include <utility>
#include <vector>

#include "bijgan/flows/coupling.hpp"
#include "bijgan/flows/factor_out.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/nn/resnet.hpp"
#include "bijgan/ops/checkpoint.hpp"
#include "bijgan/ops/resample.hpp"

namespace bijgan::flows {

struct realnvp_options {
  index_t channels = 3;
  index_t height = 64;
  index_t width = 64;
  index_t scales = 5;     ///< number of scales, the last one without squeeze and factor-out
  index_t blocks = 2;     ///< residual blocks per conditioner
  index_t features = 32;  ///< feature maps of the conditioners
  /// Keep no coupling's conditioner activations for the backward pass: each coupling's forward
  /// runs under bijgan::checkpoint and is recomputed when its gradient is needed (one more
  /// forward of H per backward; on faces_lfw's 64x64 H it frees ~1 GB of the training step).
  bool recompute = false;
};

template <class T = float, class B = host>
struct realnvp_multiscale {
  using value_type = T;
  using backend_type = B;
  using coupling = affine_coupling<nn::conv_resnet<T, B>>;

  /// The couplings of one scale before its factor-out.
  struct scale_steps {
    using value_type = T;
    using backend_type = B;
    std::vector<coupling> checkerboard, channel;
    template <class F>
    void visit(F&& f) {
      f("checkerboard", checkerboard);
      f("channel", channel);
    }
  };

  realnvp_options options;
  std::vector<scale_steps> levels;  ///< scales − 1 of them
  std::vector<coupling> last;       ///< 4 checkerboard couplings

  explicit realnvp_multiscale(const realnvp_options& o, rng& g = nn::default_rng()) : options(o) {
    validate(o);
    index_t c = o.channels;
    for (index_t s = 0; s + 1 < o.scales; ++s) {
      scale_steps st;
      for (int k = 0; k < 3; ++k) st.checkerboard.push_back(make(c, mask_kind::checkerboard, k % 2, g));
      for (int k = 0; k < 3; ++k) st.channel.push_back(make(4 * c, mask_kind::channel, k % 2, g));
      levels.push_back(std::move(st));
      c *= 2;  // squeeze ×4, half leaves
    }
    for (int k = 0; k < 4; ++k) last.push_back(make(c, mask_kind::checkerboard, k % 2, g));
  }

  /// (C, H, W) of the last scale's input.
  [[nodiscard]] shape last_shape() const {
    const index_t f = index_t(1) << (options.scales - 1);
    return shape{options.channels << (options.scales - 1), options.height / f, options.width / f};
  }
  [[nodiscard]] index_t dims() const { return options.channels * options.height * options.width; }
  [[nodiscard]] shape output_shape(const shape& in) const { return shape{in[0], dims()}; }

  flow_result<T, B> forward(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    const auto& o = options;
    if (x.rank() != 4 || x.size(1) != o.channels || x.size(2) != o.height || x.size(3) != o.width)
      fail<shape_error>("flows::realnvp_multiscale", "input ", x.shape(), " must be (N, ", o.channels, ", ", o.height,
                        ", ", o.width, ")");
    flow_result<T, B> r{x, constant(tensor<T, B>::zeros(shape{x.size(0)}))};
    std::vector<var<T, B>> parts;
    for (const auto& st : levels) {
      run(st.checkerboard, r);
      r.z = pixel_unshuffle(r.z, 2);
      run(st.channel, r);
      auto [leave, stay] = detail::split_channels(r.z);
      parts.push_back(flatten(leave));
      r.z = stay;
    }
    run(last, r);
    parts.push_back(flatten(r.z));
    r.z = concat(parts, 1);
    return r;
  }

  var<T, B> inverse(const var<T, B>& z) const {
    const nn::module_scope scope_(this);
    const auto& o = options;
    if (z.rank() != 2 || z.size(1) != dims())
      fail<shape_error>("flows::realnvp_multiscale", "inverse input ", z.shape(), " must be (N, ", dims(), ")");
    // Split the flat latent: one factor per scale, then the last scale's input.
    std::vector<var<T, B>> leaving;
    var<T, B> rest = z;
    index_t c = o.channels, h = o.height, w = o.width;
    for (std::size_t s = 0; s < levels.size(); ++s) {
      c *= 4, h /= 2, w /= 2;
      auto [leave, r] = detail::split_flat(rest, shape{c / 2, h, w}, "flows::realnvp_multiscale");
      leaving.push_back(leave);
      rest = r;
      c -= c / 2;
    }
    var<T, B> x = detail::unflatten(rest, shape{z.size(0), c, h, w});
    x = run_inverse(last, x);
    for (std::size_t s = levels.size(); s-- > 0;) {
      x = run_inverse(levels[s].channel, concat(std::vector{leaving[s], x}, 1));
      x = run_inverse(levels[s].checkerboard, pixel_shuffle(x, 2));
    }
    return x;
  }

  template <class F>
  void visit(F&& f) {
    f("levels", levels);
    f("last", last);
  }

 private:
  coupling make(index_t c, mask_kind m, int parity, rng& g) const {
    return coupling(
        c, nn::conv_resnet<T, B>({.in = c, .out = 2 * c, .width = options.features, .blocks = options.blocks}, g),
        {.mask = m, .parity = parity});
  }
  void run(const std::vector<coupling>& steps, flow_result<T, B>& r) const {
    for (const auto& k : steps) {
      if (!options.recompute) {
        detail::chain_step(r, k);
        continue;
      }
      // The coupling is captured by value (its parameters are shared): the graph may outlive this flow.
      const auto outs = checkpoint(
          [k](const std::vector<var<T, B>>& in) {
            auto s = k.forward(in[0]);
            return std::vector<var<T, B>>{std::move(s.z), std::move(s.logdet)};
          },
          std::vector<var<T, B>>{r.z}, nn::parameters(k));
      r.z = outs[0];
      r.logdet = r.logdet + outs[1];
    }
  }
  static var<T, B> run_inverse(const std::vector<coupling>& steps, var<T, B> x) {
    for (auto k = steps.rbegin(); k != steps.rend(); ++k) x = k->inverse(x);
    return x;
  }
  static void validate(const realnvp_options& o) {
    if (o.scales < 1 || o.channels < 1 || o.features < 1 || o.blocks < 0)
      fail<value_error>("flows::realnvp_multiscale", "needs scales, channels, features >= 1 and blocks >= 0");
    if (o.scales > 16) fail<value_error>("flows::realnvp_multiscale", o.scales, " scales is more than 16");
    const index_t f = index_t(1) << (o.scales - 1);
    if (o.height % f != 0 || o.width % f != 0 || (o.height / f) * (o.width / f) < 2)
      fail<shape_error>("flows::realnvp_multiscale", "an image of ", o.height, "x", o.width, " does not fit ", o.scales,
                        " scales: height and width must be multiples of ", f,
                        " with at least 2 pixels left at the last scale");
  }
};

}  // namespace bijgan::flows
