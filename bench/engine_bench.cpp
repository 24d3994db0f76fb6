// Face engines on their reference inputs, images per second: the ONNX engine arcface512 and the
// TF.js graph models faceres1024 and mobilefacenet192 executed by our ops (bench/peer/
// onnxruntime_engine.js and tfjs_engine.js time the same files in their own runtimes;
// tools/bench.sh engines runs all), the face aligner's two ONNX models (fr_detect on 320x240
// frames, fr_landmark on 64x64 crops) and the whole five-point alignment of a 250x250 LFW
// image, and, for scale, the hand-written dlib ResNet at 150x150.
//
//   engine_bench [--threads N]
#include <bijgan/bijgan.hpp>
#include <bijgan/engines/dlib_resnet.hpp>
#include <bijgan/engines/face_aligner.hpp>
#include <bijgan/engines/onnx_engine.hpp>
#include <bijgan/engines/tfjs_engine.hpp>

#include <filesystem>
#include <iostream>

#include "harness.hpp"

using namespace bijgan;
namespace fs = std::filesystem;

namespace {
/// The reference inputs: uint8 HWC RGB images as (n, 3, side, side) in [0, 1].
tensor<float> load_images(const fs::path& file, index_t side) { return io::read_raw_images(file, 3, side, side); }
}  // namespace

int main(int argc, char** argv) {
  const int threads = bench::threads_arg(argc, argv);
  set_num_threads(threads);
  const fs::path data = fs::path(BIJGAN_SHARED_DIR) / "data";
  const auto arcface_dir = data / "face-engines" / "arcface512";
  if (!fs::exists(arcface_dir / "fr_feature.onnx")) {
    std::cerr << "engine_bench: " << arcface_dir << " absent: skipped\n";
    return 0;
  }
  const auto arcface = engines::load_arcface512(arcface_dir);
  const auto a_imgs = load_images(arcface_dir / "imgs_8x112x112x3_u8.bin", 112);
  const auto ta = bench::time_it([&] { (void)arcface.features(a_imgs); }, 7);
  const double n = static_cast<double>(a_imgs.size(0));
  bench::report("onnx_engine_arcface512", "bijgan", threads, {ta.median_ms / n, ta.min_ms / n}, 1.0, "images/s");
  // One image per call, as the peers run them (TF.js models take any batch; we also show 8).
  auto per_image = [&](const auto& engine, const tensor<float>& imgs, const std::string& name) {
    const auto t1 = bench::time_it(
        [&] {
          for (index_t i = 0; i < imgs.size(0); ++i) (void)engine.features(imgs.slice_rows(i, i + 1));
        },
        5);
    bench::report(name, "bijgan", threads, {t1.median_ms / n, t1.min_ms / n}, 1.0, "images/s");
    const auto t8 = bench::time_it([&] { (void)engine.features(imgs); }, 5);
    bench::report(name + "_batch8", "bijgan", threads, {t8.median_ms / n, t8.min_ms / n}, 1.0, "images/s");
  };
  if (fs::exists(arcface_dir / "fr_detect.onnx") && fs::exists(arcface_dir / "fr_landmark.onnx")) {
    // The aligner's models on the package's own inputs, one per call as the files fix batch 1.
    const auto aligner = engines::face_aligner::load(arcface_dir);
    const auto frames = io::read_raw_images(arcface_dir / "det_inputs_8x240x320x3_u8.bin", 3, 240, 320);
    const auto crops = io::read_raw_images(arcface_dir / "lm_inputs_8x64x64_u8.bin", 1, 64, 64, 256.0f);
    const auto td = bench::time_it(
        [&] {
          for (index_t i = 0; i < frames.size(0); ++i)
            (void)aligner.detect_frame(frames.slice_rows(i, i + 1), 250, 250);
        },
        5);
    bench::report("onnx_model_fr_detect", "bijgan", threads, {td.median_ms / n, td.min_ms / n}, 1.0, "images/s");
    const std::array<index_t, 4> rect{0, 0, 64, 64};
    const auto tl = bench::time_it(
        [&] {
          for (index_t i = 0; i < crops.size(0); ++i) (void)aligner.landmarks_of_crop(crops.slice_rows(i, i + 1), rect);
        },
        5);
    bench::report("onnx_model_fr_landmark", "bijgan", threads, {tl.median_ms / n, tl.min_ms / n}, 1.0, "images/s");
    const auto lfw = data / "lfw" / "lfw-deepfunneled";
    if (fs::exists(lfw)) {
      std::vector<tensor<float>> images;
      for (const auto& name : {"Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "Abdullah_Gul/Abdullah_Gul_0001.jpg",
                               "Abdullah_Gul/Abdullah_Gul_0006.jpg", "Abel_Pacheco/Abel_Pacheco_0001.jpg"})
        images.push_back(io::read_image(lfw / name).reshape({1, 3, 250, 250}));
      const auto batch = concat(std::span<const tensor<float>>(images), 0);
      const auto ta5 = bench::time_it([&] { (void)aligner.align(batch, 112); }, 5);
      const double m = static_cast<double>(batch.size(0));
      bench::report("face_aligner_250_to_112", "bijgan", threads, {ta5.median_ms / m, ta5.min_ms / m}, 1.0, "images/s");
    }
  }
  const auto faceres_dir = data / "face-engines" / "faceres1024", mfn_dir = data / "face-engines" / "mobilefacenet192";
  if (fs::exists(faceres_dir / "faceres.json"))
    per_image(engines::load_faceres1024(faceres_dir), load_images(faceres_dir / "imgs_8x224x224x3_u8.bin", 224),
              "tfjs_engine_faceres1024");
  if (fs::exists(mfn_dir / "mobilefacenet.json"))
    per_image(engines::load_mobilefacenet192(mfn_dir), load_images(mfn_dir / "imgs_8x112x112x3_u8.bin", 112),
              "tfjs_engine_mobilefacenet192");
  if (fs::exists(data / "face-recognition-model") && fs::exists(data / "face-engine-reference")) {
    const auto dlib = engines::dlib_resnet::load(data / "face-recognition-model");
    const auto d_imgs = load_images(data / "face-engine-reference" / "imgs_8x150x150x3_u8.bin", 150);
    const auto td = bench::time_it([&] { (void)dlib.features(d_imgs); }, 7);
    bench::report("dlib_resnet_150", "bijgan", threads, {td.median_ms / n, td.min_ms / n}, 1.0, "images/s");
  }
}
