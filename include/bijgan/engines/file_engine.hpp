// A face engine from a model file (ONNX or TF.js graph model): the graph runs on bijgan's ops,
// the feature dim and image shape are compile-time parameters checked against the file at load,
// and the preprocessing (pixel mean and scale, channel order, layout, which output, output
// normalisation, the crop the data side cuts) is data in its options. It meets blackbox_engine
// (plain tensors in and out) and offers a differentiable forward for whitebox use.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bijgan/concepts/engine.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/linalg.hpp"
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
  std::string output;         ///< the graph output that holds the features ("": the first)
  index_t batch = 16;         ///< images per graph call (1 where the file fixes its batch at 1)
};

/// A recognition engine running Graph (engines::onnx::graph<>, engines::tfjs::graph<>) that
/// takes (N, C, H, W) images in [0, 1] to (N, FeatureDim) features.
template <class Graph, index_t FeatureDim, index_t C, index_t H, index_t W>
class file_engine {
  static_assert(FeatureDim > 0 && C > 0 && H > 0 && W > 0,
                "file_engine: the feature dim and image shape must be positive");

 public:
  static constexpr index_t feature_dim = FeatureDim;
  static constexpr std::array<index_t, 3> image_shape{C, H, W};

  /// Loads and checks the file: its one input must be [?, C, H, W] ([?, H, W, C] with nhwc)
  /// and the chosen output [?, FeatureDim] (where the file does not declare the output's shape,
  /// one image of zeros is run to learn it). io_error naming the file and both shapes otherwise.
  static file_engine load(const std::filesystem::path& file, const file_engine_options& options = {}) {
    file_engine e(Graph::load(file), options);
    const auto& g = e.graph_;
    if (g.inputs().size() != 1)
      fail<io_error>("file_engine::load", file, ": needs one graph input, the file has ", g.inputs().size());
    const auto& in = g.inputs()[0].dims;
    const std::array<index_t, 3> want =
        options.nhwc ? std::array<index_t, 3>{H, W, C} : std::array<index_t, 3>{C, H, W};
    const bool in_ok = in.empty() || (in.size() == 4 && (in[1] < 0 || in[1] == want[0]) &&
                                      (in[2] < 0 || in[2] == want[1]) && (in[3] < 0 || in[3] == want[2]));
    if (!in_ok)
      fail<io_error>("file_engine::load", file, ": input \"", g.inputs()[0].name, "\" is ", dims_str(in),
                     ", the engine type expects [?, ", want[0], ", ", want[1], ", ", want[2], "]");
    e.output_ = 0;
    if (!options.output.empty()) {
      bool found = false;
      for (std::size_t k = 0; k < g.outputs().size(); ++k)
        if (g.outputs()[k].name == options.output) {
          e.output_ = k;
          found = true;
        }
      if (!found) {
        std::string names;
        for (const auto& o : g.outputs()) names += (names.empty() ? "" : ", ") + o.name;
        fail<io_error>("file_engine::load", file, ": no output \"", options.output, "\" (the outputs are ", names, ")");
      }
    }
    if (g.outputs().empty()) fail<io_error>("file_engine::load", file, ": the graph has no outputs");
    if (!in.empty() && in[0] == 1) e.options_.batch = 1;  // a file exported with batch 1 runs image by image
    auto out = g.outputs()[e.output_].dims;
    if (out.empty()) {  // not declared: learn it from one image
      no_grad ng;
      const auto y =
          e.graph_(std::vector{e.prepare(constant(tensor<float, host>::zeros(shape{1, C, H, W})))}).at(e.output_);
      out.assign(y.shape().begin(), y.shape().end());
    }
    if (out.size() != 2 || (out[1] >= 0 && out[1] != FeatureDim))
      fail<io_error>("file_engine::load", file, ": output \"", g.outputs()[e.output_].name, "\" is ", dims_str(out),
                     ", the engine type expects [?, ", FeatureDim, "]");
    return e;
  }

  /// Features of images (N, C, H, W) in [0, 1] (other sizes are resized bilinearly first).
  [[nodiscard]] tensor<float, host> features(const tensor<float, host>& images) const {
    if (images.rank() != 4 || images.size(1) != C)
      fail<shape_error>("file_engine::features", "images ", images.shape(), " must be (N, ", C, ", H, W) in [0, 1]");
    no_grad ng;
    return in_batches(images, options_.batch, tensor<float, host>::zeros(shape{0, FeatureDim}),
                      [&](const tensor<float, host>& part) { return forward(constant(part)).value(); });
  }

  /// The differentiable forward (whitebox use): images (n, C, H, W) in [0, 1] to (n, FeatureDim).
  [[nodiscard]] var<float, host> forward(const var<float, host>& images) const {
    const nn::module_scope scope_(this);
    if (options_.batch == 1 && images.size(0) != 1) {
      std::vector<var<float, host>> rows;
      for (index_t i = 0; i < images.size(0); ++i) rows.push_back(forward(slice(images, 0, i, i + 1)));
      return concat(rows, 0);
    }
    auto y = graph_(std::vector{prepare(images)}).at(output_);
    if (y.rank() != 2 || y.size(1) != FeatureDim || y.size(0) != images.size(0))
      fail<shape_error>("file_engine", graph_.source(), ": output of shape ", y.shape(), " for ", images.size(0),
                        " images, expected (", images.size(0), ", ", FeatureDim, ")");
    if (options_.l2_normalize) y = y / l2_norm(y, {1}, true);
    return y;
  }

  [[nodiscard]] const file_engine_options& options() const noexcept { return options_; }
  [[nodiscard]] const Graph& graph() const noexcept { return graph_; }
  /// FNV-1a of the model file(s) (keys feature caches).
  [[nodiscard]] std::uint64_t checksum() const noexcept { return graph_.checksum(); }

 private:
  file_engine(Graph g, const file_engine_options& o) : graph_(std::move(g)), options_(o) {
    std::vector<float> m, s;
    for (index_t c = 0; c < C; ++c) {
      const auto k = static_cast<std::size_t>(std::min<index_t>(c, 2));
      m.push_back(o.mean[k] / 255.0f);
      s.push_back(o.scale[k] / 255.0f);
    }
    mean_ = tensor<float, host>::from(m, shape{C, 1, 1});
    scale_ = tensor<float, host>::from(s, shape{C, 1, 1});
  }
  /// Images in [0, 1] -> the file's input: resize, channel order, mean/scale, layout.
  var<float, host> prepare(const var<float, host>& images) const {
    auto x = resize(images, H, W, interpolation::bilinear);
    if (options_.bgr && C == 3)
      x = concat(std::vector<var<float, host>>{slice(x, 1, 2, 3), slice(x, 1, 1, 2), slice(x, 1, 0, 1)}, 1);
    x = (x - constant(mean_)) / constant(scale_);
    if (options_.nhwc) x = permute(x, {0, 2, 3, 1});
    return x;
  }
  static std::string dims_str(const std::vector<index_t>& d) {
    std::string s = "[";
    for (std::size_t k = 0; k < d.size(); ++k)
      s += (k ? ", " : "") + (d[k] < 0 ? std::string("?") : std::to_string(d[k]));
    return s + "]";
  }

  Graph graph_;
  file_engine_options options_;
  std::size_t output_ = 0;
  tensor<float, host> mean_, scale_;
};

}  // namespace bijgan::engines
