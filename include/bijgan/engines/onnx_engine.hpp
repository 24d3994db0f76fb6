// A face engine from an ONNX file: the graph runs on bijgan's ops, its feature dim and image
// shape are compile-time parameters checked against the file at load, and its preprocessing
// (pixel mean and scale, channel order, layout, output normalisation, the crop the data side
// cuts) is data in its options. It meets blackbox_engine (plain tensors in and out) and also
// offers a differentiable forward for whitebox use. Link bijgan::onnx.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "bijgan/concepts/engine.hpp"
#include "bijgan/engines/onnx/graph.hpp"
#include "bijgan/ops/resample.hpp"

namespace bijgan::engines {

/// How images in [0, 1] become a file engine's input, and how its output becomes features.
struct file_engine_options {
  /// The box (left, top, right, bottom) that the data side crops from LFW's 250x250 images
  /// before resizing to the engine's input; the engine itself receives the crop.
  std::array<index_t, 4> crop{0, 0, 250, 250};
  /// Input value = (255 * pixel - mean[c]) / scale[c], per channel in the file's order.
  std::array<float, 3> mean{0, 0, 0};
  std::array<float, 3> scale{255, 255, 255};
  bool bgr = false;           ///< the file takes channels as B, G, R
  bool nhwc = false;          ///< the file takes (N, H, W, C) rather than (N, C, H, W)
  bool l2_normalize = false;  ///< divide each feature vector by its L2 norm
  index_t batch = 16;         ///< images per graph call (1 where the file fixes its batch at 1)
};

/// An ONNX recognition engine taking (N, C, H, W) images in [0, 1] to (N, FeatureDim)
/// features. The file's single input must be (?, C, H, W) (or (?, H, W, C) with nhwc) and its
/// first output (?, FeatureDim).
template <index_t FeatureDim, index_t C, index_t H, index_t W>
class onnx_engine {
  static_assert(FeatureDim > 0 && C > 0 && H > 0 && W > 0,
                "onnx_engine: the feature dim and image shape must be positive");

 public:
  static constexpr index_t feature_dim = FeatureDim;
  static constexpr std::array<index_t, 3> image_shape{C, H, W};

  /// Loads and checks the file. io_error naming the file and both shapes when its input or
  /// output does not match the engine's compile-time shape.
  static onnx_engine load(const std::filesystem::path& file, const file_engine_options& options = {}) {
    onnx_engine e(onnx::graph<float, host>::load(file), options);
    const auto& g = e.graph_;
    if (g.inputs().size() != 1)
      fail<io_error>("onnx_engine::load", file, ": needs one graph input, the file has ", g.inputs().size());
    const auto& in = g.inputs()[0].dims;
    const std::array<index_t, 3> want =
        options.nhwc ? std::array<index_t, 3>{H, W, C} : std::array<index_t, 3>{C, H, W};
    const bool in_ok = in.size() == 4 && (in[1] < 0 || in[1] == want[0]) && (in[2] < 0 || in[2] == want[1]) &&
                       (in[3] < 0 || in[3] == want[2]);
    auto dims_str = [](const std::vector<index_t>& d) {
      std::string s = "[";
      for (std::size_t k = 0; k < d.size(); ++k)
        s += (k ? ", " : "") + (d[k] < 0 ? std::string("?") : std::to_string(d[k]));
      return s + "]";
    };
    if (!in_ok)
      fail<io_error>("onnx_engine::load", file, ": input \"", g.inputs()[0].name, "\" is ", dims_str(in),
                     ", the engine type expects [?, ", want[0], ", ", want[1], ", ", want[2], "]");
    const auto& out = g.outputs().at(0).dims;
    if (out.size() != 2 || (out[1] >= 0 && out[1] != FeatureDim))
      fail<io_error>("onnx_engine::load", file, ": output \"", g.outputs()[0].name, "\" is ", dims_str(out),
                     ", the engine type expects [?, ", FeatureDim, "]");
    if (in[0] == 1) e.options_.batch = 1;  // a file exported with batch 1 runs image by image
    return e;
  }

  /// Features of images (N, C, H, W) in [0, 1] (other sizes are resized bilinearly first).
  [[nodiscard]] tensor<float, host> features(const tensor<float, host>& images) const {
    check(images, "onnx_engine::features");
    no_grad ng;
    return in_batches(images, options_.batch, tensor<float, host>::zeros(shape{0, FeatureDim}),
                      [&](const tensor<float, host>& part) { return forward(constant(part)).value(); });
  }

  /// The differentiable forward (whitebox use): images (n, C, H, W) in [0, 1], n at most the
  /// file's batch where it fixes one, to (n, FeatureDim).
  [[nodiscard]] var<float, host> forward(const var<float, host>& images) const {
    if (options_.batch == 1 && images.size(0) != 1) {
      std::vector<var<float, host>> rows;
      for (index_t i = 0; i < images.size(0); ++i) rows.push_back(forward(slice(images, 0, i, i + 1)));
      return concat(rows, 0);
    }
    auto x = resize(images, H, W, interpolation::bilinear);
    if (options_.bgr)
      x = concat(std::vector<var<float, host>>{slice(x, 1, 2, 3), slice(x, 1, 1, 2), slice(x, 1, 0, 1)}, 1);
    x = (x - constant(mean_)) / constant(scale_);
    if (options_.nhwc) x = permute(x, {0, 2, 3, 1});
    auto y = graph_({x}).at(0);
    if (y.rank() != 2 || y.size(1) != FeatureDim)
      fail<shape_error>("onnx_engine", graph_.source(), ": output of shape ", y.shape(), " for ", images.size(0),
                        " images, expected (", images.size(0), ", ", FeatureDim, ")");
    if (options_.l2_normalize) y = y / l2_norm(y, {1}, true);
    return y;
  }

  [[nodiscard]] const file_engine_options& options() const noexcept { return options_; }
  [[nodiscard]] const onnx::graph<float, host>& graph() const noexcept { return graph_; }
  /// FNV-1a of the model file (keys feature caches).
  [[nodiscard]] std::uint64_t checksum() const noexcept { return graph_.checksum(); }

 private:
  onnx_engine(onnx::graph<float, host> g, const file_engine_options& o) : graph_(std::move(g)), options_(o) {
    std::vector<float> m, s;
    for (index_t c = 0; c < C; ++c) {
      const auto k = static_cast<std::size_t>(std::min<index_t>(c, 2));
      m.push_back(o.mean[k] / 255.0f);
      s.push_back(o.scale[k] / 255.0f);
    }
    mean_ = tensor<float, host>::from(m, shape{C, 1, 1});
    scale_ = tensor<float, host>::from(s, shape{C, 1, 1});
  }
  static void check(const tensor<float, host>& images, const char* op) {
    if (images.rank() != 4 || images.size(1) != C)
      fail<shape_error>(op, "images ", images.shape(), " must be (N, ", C, ", H, W) in [0, 1]");
  }

  onnx::graph<float, host> graph_;
  file_engine_options options_;
  tensor<float, host> mean_, scale_;
};

/// The faceplugin MobileFaceNet-style ArcFace engine of ../shared/data/face-engines/arcface512:
/// 112x112 RGB, (p - 127) / 128, 512-D raw features (compare by cosine), LFW crop (63, 54, 188, 179).
using arcface512 = onnx_engine<512, 3, 112, 112>;

/// Loads arcface512 from its folder (fr_feature.onnx) with the preprocessing its README gives.
inline arcface512 load_arcface512(const std::filesystem::path& dir) {
  file_engine_options o;
  o.crop = {63, 54, 188, 179};
  o.mean = {127, 127, 127};
  o.scale = {128, 128, 128};
  return arcface512::load(dir / "fr_feature.onnx", o);
}

static_assert(blackbox_engine<arcface512>);

}  // namespace bijgan::engines
