// Squeeze (RealNVP): each 2x2 block of pixels becomes 4 channels, (N, C, H, W) -> (N, 4C, H/2,
// W/2); volume-preserving (log-det 0). Unsqueeze is its inverse.
#pragma once

#include "bijgan/flows/bijection.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/resample.hpp"

namespace bijgan::flows {

template <class T = float, class B = host>
struct squeeze {
  using value_type = T;
  using backend_type = B;
  flow_result<T, B> forward(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    if (x.rank() != 4 || x.size(2) % 2 != 0 || x.size(3) % 2 != 0)
      fail<shape_error>("flows::squeeze", "input ", x.shape(), " must be (N, C, H, W) with even H and W");
    return {pixel_unshuffle(x, 2), constant(tensor<T, B>::zeros(shape{x.size(0)}))};
  }
  [[nodiscard]] shape output_shape(const shape& in) const {
    if (in.rank() != 4) return in;
    return shape{in[0], in[1] * 4, in[2] / 2, in[3] / 2};
  }
  var<T, B> inverse(const var<T, B>& z) const {
    const nn::module_scope scope_(this);
    if (z.rank() != 4 || z.size(1) % 4 != 0)
      fail<shape_error>("flows::squeeze", "inverse input ", z.shape(), " must be (N, 4C, H, W)");
    return pixel_shuffle(z, 2);
  }
};

}  // namespace bijgan::flows
