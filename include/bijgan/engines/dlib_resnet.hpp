// A real pretrained face recognition engine: dlib's ResNet face descriptor (29 conv layers,
// 128-D output), loaded from the TF.js files that @vladmandic/face-api ships. The forward pass
// follows ../shared/data/README.md: a 7x7 stride-2 stem, max-pool, residual blocks at 32, 64,
// 128 and 256 channels with average-pool shortcuts in the down blocks, global average, a
// 256 -> 128 linear map. Each conv unit's affine "scale" layer is folded into its filters.
// A blackbox through features() (tensors in and out, no graph); forward() and forward_stages()
// record var ops, so gradients reach the images (the whitebox mode, engines/whitebox.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bijgan/concepts/engine.hpp"
#include "bijgan/concepts/model.hpp"
#include "bijgan/io/checksum.hpp"
#include "bijgan/io/tfjs.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/ops.hpp"

namespace bijgan::engines {

/// dlib's face descriptor network. Images (N, 3, 150, 150) RGB in [0, 1] -> (N, 128) descriptors
/// (not normalised; dlib's rule: same person when the Euclidean distance is below 0.6).
class dlib_resnet {
 public:
  static constexpr index_t feature_dim = 128;
  static constexpr std::array<index_t, 3> image_shape{3, 150, 150};
  static constexpr const char* manifest_name = "face_recognition_model-weights_manifest.json";

  /// Loads the weights from dir, which holds the manifest and its shard, or is an unpacked
  /// `npm pack @vladmandic/face-api` (the files under package/model/ or model/). Throws
  /// io_error naming what was looked for.
  static dlib_resnet load(const std::filesystem::path& dir) {
    std::filesystem::path manifest;
    for (const auto& d : {dir, dir / "package" / "model", dir / "model"})
      if (std::filesystem::exists(d / manifest_name)) {
        manifest = d / manifest_name;
        break;
      }
    if (manifest.empty())
      fail<io_error>("dlib_resnet::load", "no ", manifest_name, " in ", dir, ", ", dir / "package" / "model", " or ",
                     dir / "model", " (npm pack @vladmandic/face-api provides it)");
    io::fnv1a weights_checksum;
    const auto w = io::load_tfjs_weights(manifest, &weights_checksum);
    dlib_resnet net;
    net.checksum_ = weights_checksum.value();
    net.stem_ = unit(w, "conv32_down/", 2);
    const char* blocks[] = {"conv32_1",     "conv32_2",  "conv32_3",     "conv64_down",     "conv64_1",
                            "conv64_2",     "conv64_3",  "conv128_down", "conv128_1",       "conv128_2",
                            "conv256_down", "conv256_1", "conv256_2",    "conv256_down_out"};
    for (const char* b : blocks) {
      const std::string name(b);
      const bool down = name.find("down") != std::string::npos;
      net.blocks_.push_back({name, down, unit(w, name + "/conv1/", down ? 2 : 1), unit(w, name + "/conv2/", 1)});
    }
    const auto fc = w.find("fc");
    if (fc == w.end() || fc->second.shape() != shape{256, 128})
      fail<io_error>("dlib_resnet::load", manifest, ": fc must be [256, 128]");
    net.fc_ = fc->second;
    return net;
  }

  /// Descriptors of images (N, 3, 150, 150) in [0, 1], computed in batches of `batch`.
  [[nodiscard]] tensor<float, host> features(const tensor<float, host>& images, index_t batch = 16) const {
    check(images, "dlib_resnet::features");
    no_grad ng;
    return in_batches(images, batch, tensor<float, host>::zeros(shape{0, feature_dim}),
                      [&](const tensor<float, host>& part) { return run(constant(part), nullptr).value(); });
  }

  /// The differentiable forward (whitebox use): images (N, 3, 150, 150) in [0, 1] to
  /// descriptors (N, 128); the weights are constants, so only the images get gradients.
  [[nodiscard]] var<float> forward(const var<float>& images) const {
    const nn::module_scope scope_(this);
    check(images.value(), "dlib_resnet::forward");
    return run(images, nullptr);
  }

  /// forward() with the output of each width's last block kept for Eq. 15: conv32_3
  /// (N, 32, 35, 35), conv64_3 (N, 64, 17, 17), conv128_2 (N, 128, 8, 8), conv256_2 (N, 256, 4, 4).
  [[nodiscard]] staged_output<var<float>> forward_stages(const var<float>& images) const {
    const nn::module_scope scope_(this);
    check(images.value(), "dlib_resnet::forward_stages");
    std::vector<std::pair<std::string, var<float>>> trace;
    staged_output<var<float>> out;
    out.features = run(images, &trace);
    for (auto& [name, v] : trace)
      if (name == "03_conv32_3" || name == "05_conv64_3" || name == "07_conv128_2" || name == "09_conv256_2")
        out.stages.push_back(std::move(v));
    return out;
  }

  /// The activation after every stage, named as in ../shared/data/face-engine-reference
  /// ("00_input_norm", "01_conv32_down", ..., "12_descriptor"), NCHW.
  [[nodiscard]] std::vector<std::pair<std::string, tensor<float, host>>> stages(
      const tensor<float, host>& images) const {
    const nn::module_scope scope_(this);
    check(images, "dlib_resnet::stages");
    no_grad ng;
    std::vector<std::pair<std::string, var<float>>> trace;
    run(constant(images), &trace);
    std::vector<std::pair<std::string, tensor<float, host>>> out;
    out.reserve(trace.size());
    for (auto& [name, v] : trace) out.emplace_back(name, v.value());
    return out;
  }

  /// FNV-1a hash of the weight file (keys feature caches to the weights they came from).
  [[nodiscard]] std::uint64_t checksum() const noexcept { return checksum_; }

 private:
  dlib_resnet() = default;  // only load() makes one: an engine always has its weights

  struct conv_unit {
    var<float> weight, bias;  // scale folded in: OIHW filters, per-channel bias
    index_t stride;
  };
  struct block {
    std::string name;
    bool down;
    conv_unit conv1, conv2;
  };

  static const tensor<float, host>& get(const std::map<std::string, tensor<float, host>>& w, const std::string& name) {
    const auto it = w.find(name);
    if (it == w.end()) fail<io_error>("dlib_resnet::load", "weights lack \"", name, "\"");
    return it->second;
  }
  /// conv + bias, then * scale.weights + scale.biases, folded into one conv: W' = W * s,
  /// b' = b * s + t. TF.js filters are HWIO; ours are OIHW.
  static conv_unit unit(const std::map<std::string, tensor<float, host>>& w, const std::string& p, index_t stride) {
    const auto& f = get(w, p + "conv/filters");
    if (f.rank() != 4) fail<io_error>("dlib_resnet::load", p, "conv/filters must be HWIO, got ", f.shape());
    const auto s = get(w, p + "scale/weights"), t = get(w, p + "scale/biases"), b = get(w, p + "conv/bias");
    const auto oihw = permute(f, std::vector<index_t>{3, 2, 0, 1});
    const auto folded = apply(fn::mul{}, oihw, s.reshape({-1, 1, 1, 1}));
    const auto bias = apply(fn::add{}, apply(fn::mul{}, b, s), t);
    return {constant(folded), constant(bias), stride};
  }
  static var<float> apply_unit(const conv_unit& u, const var<float>& x, bool relu_after) {
    // "same" padding for stride 1, "valid" for stride 2 (TF.js conventions of this model).
    const index_t pad = u.stride == 1 ? u.weight.size(2) / 2 : 0;
    auto y = conv2d(x, u.weight, u.bias, {.stride = u.stride, .padding = pad});
    return relu_after ? relu(y) : y;
  }
  static void check(const tensor<float, host>& images, const char* op) {
    if (images.rank() != 4 || images.size(1) != 3 || images.size(2) != 150 || images.size(3) != 150)
      fail<shape_error>(op, "images ", images.shape(), " must be (N, 3, 150, 150) RGB in [0, 1]");
  }

  /// The network on images (a constant or a var with a graph); trace, when given, receives
  /// every stage's output under its reference name.
  var<float> run(const var<float>& images, std::vector<std::pair<std::string, var<float>>>* trace) const {
    auto keep = [&](const char* name, const var<float>& v) {
      if (trace) trace->emplace_back(name, v);
    };
    // x = (pixel - mean) / 255 with pixel = 255 * image.
    const auto mean = constant(
        tensor<float, host>::from(std::vector<float>{122.782f / 255, 117.001f / 255, 104.298f / 255}, shape{3, 1, 1}));
    auto x = images - mean;
    keep("00_input_norm", x);
    x = apply_unit(stem_, x, true);
    keep("01_conv32_down", x);
    x = max_pool2d(x, {.kernel = 3, .stride = 2});
    keep("02_maxpool", x);
    const std::map<std::string, const char*> after = {
        {"conv32_3", "03_conv32_3"},   {"conv64_down", "04_conv64_down"},
        {"conv64_3", "05_conv64_3"},   {"conv128_down", "06_conv128_down"},
        {"conv128_2", "07_conv128_2"}, {"conv256_down", "08_conv256_down"},
        {"conv256_2", "09_conv256_2"}, {"conv256_down_out", "10_conv256_down_out"}};
    for (const auto& b : blocks_) {
      auto main = apply_unit(b.conv2, apply_unit(b.conv1, x, true), false);
      var<float> shortcut = x;
      if (b.down) {
        shortcut = avg_pool2d(x, {.kernel = 2, .stride = 2});
        const index_t extra = main.size(1) - shortcut.size(1);
        if (extra > 0) shortcut = pad(shortcut, {0, 0, 0, extra, 0, 0, 0, 0});
        const index_t dh = shortcut.size(2) - main.size(2), dw = shortcut.size(3) - main.size(3);
        if (dh > 0 || dw > 0) main = pad(main, {0, 0, 0, 0, 0, dh, 0, dw});
      }
      x = relu(main + shortcut);
      if (const auto it = after.find(b.name); it != after.end()) keep(it->second, x);
    }
    const auto pooled = mean_of_positions(x);
    keep("11_global_avg", pooled);
    auto d = matmul(pooled, constant(fc_));
    keep("12_descriptor", d);
    return d;
  }
  static var<float> mean_of_positions(const var<float>& x) { return mean(x, {2, 3}); }

  conv_unit stem_;
  std::vector<block> blocks_;
  tensor<float, host> fc_;
  std::uint64_t checksum_ = 0;
};

static_assert(blackbox_engine<dlib_resnet>);

}  // namespace bijgan::engines
