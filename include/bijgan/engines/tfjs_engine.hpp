// Face engines from TF.js graph models: engines::file_engine running an engines::tfjs::graph,
// and the two real ones in ../shared/data/face-engines (faceres1024, mobilefacenet192).
#pragma once

#include <filesystem>

#include "bijgan/engines/file_engine.hpp"
#include "bijgan/engines/tfjs/graph.hpp"

namespace bijgan::engines {

/// A TF.js graph-model recognition engine: (N, C, H, W) images in [0, 1] to (N, FeatureDim).
template <index_t FeatureDim, index_t C, index_t H, index_t W>
using tfjs_engine = file_engine<tfjs::graph<float, host>, FeatureDim, C, H, W>;

/// HSE FaceRes from @vladmandic/human (../shared/data/face-engines/faceres1024): 224x224 RGB
/// NHWC, plain 0..255 pixel values, the 1024-D global-pool descriptor (output
/// "global_pooling/Mean"; compare by cosine), LFW crop (45, 40, 205, 200).
using faceres1024 = tfjs_engine<1024, 3, 224, 224>;
inline faceres1024 load_faceres1024(const std::filesystem::path& dir) {
  file_engine_options o;
  o.crop = {45, 40, 205, 200};
  o.mean = {0, 0, 0};
  o.scale = {1, 1, 1};
  o.nhwc = true;
  o.output = "global_pooling/Mean";
  return faceres1024::load(dir / "faceres.json", o);
}

/// MobileFaceNet from @vladmandic/human (../shared/data/face-engines/mobilefacenet192): 112x112
/// RGB NHWC in [0, 1], 192-D embeddings L2-normalised in the graph. Its shipped weights do not
/// separate faces (its README): a loader test, not an engine to invert.
using mobilefacenet192 = tfjs_engine<192, 3, 112, 112>;
inline mobilefacenet192 load_mobilefacenet192(const std::filesystem::path& dir) {
  file_engine_options o;
  o.crop = {63, 54, 188, 179};
  o.mean = {0, 0, 0};
  o.scale = {255, 255, 255};
  o.nhwc = true;
  return mobilefacenet192::load(dir / "mobilefacenet.json", o);
}

static_assert(blackbox_engine<faceres1024>);
static_assert(blackbox_engine<mobilefacenet192>);

}  // namespace bijgan::engines
