// Face engines from ONNX files: engines::file_engine running an engines::onnx::graph, and the
// real one in ../shared/data/face-engines/arcface512. Link bijgan::onnx.
#pragma once

#include <filesystem>

#include "bijgan/engines/file_engine.hpp"
#include "bijgan/engines/onnx/graph.hpp"

namespace bijgan::engines {

/// An ONNX recognition engine: (N, C, H, W) images in [0, 1] to (N, FeatureDim) features.
template <index_t FeatureDim, index_t C, index_t H, index_t W>
using onnx_engine = file_engine<onnx::graph<float, host>, FeatureDim, C, H, W>;

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
