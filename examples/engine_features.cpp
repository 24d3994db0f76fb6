// A face engine's descriptors of LFW images, for use outside bijgan: every deep-funneled image
// (13,233), or the images a list file names in its order, each with the engine's own crop, as
// one (N, D) float32 NPY file and, beside it, a text file with the N image paths (one per line,
// relative to lfw-deepfunneled) in row order. The engine is dlib's ResNet (default) or the one in
// --engine FOLDER (arcface512, faceres1024, mobilefacenet192 of ../shared/data/face-engines).
// --align DIR aligns each face on five landmarks (DIR's fr_detect.onnx and fr_landmark.onnx)
// instead. Both files are written atomically once every descriptor is computed.
//
//   engine_features --out X.npy [--engine FOLDER] [--align DIR] [--list FILE] [--data DIR] [--batch N]
#include <bijgan/bijgan.hpp>
#include <bijgan/data/lfw.hpp>
#include <bijgan/engines/feature_cache.hpp>

#include "cli.hpp"
#include "engine_select.hpp"
#include "face_source.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

using namespace bijgan;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  fs::path data =
      std::getenv("BIJGAN_DATA_DIR") ? fs::path(std::getenv("BIJGAN_DATA_DIR")) : fs::path("../shared/data");
  fs::path engine_dir, align_dir, list_file, out;
  index_t batch = 32;
  CLI::App app{"a face engine's descriptors of LFW images, as NPY with the image names beside", "engine_features"};
  app.add_option("--out", out, "the descriptors, (N, D) float32 NPY; the names go to the same path + .txt")->required();
  app.add_option("--engine", engine_dir, "engine folder (default: DATA/face-recognition-model, dlib's ResNet)");
  app.add_option("--align", align_dir,
                 "align faces on five landmarks with DIR/fr_detect.onnx and DIR/fr_landmark.onnx "
                 "(e.g. DATA/face-engines/arcface512) instead of the engine's fixed crop");
  app.add_option("--list", list_file, "LFW images to describe, one Name/Name_NNNN.jpg per line (default: all)");
  app.add_option("--data", data, "folder with lfw/ and face-recognition-model/ (or BIJGAN_DATA_DIR)")
      ->capture_default_str();
  app.add_option("--batch", batch, "images per engine call")->check(examples::positive)->capture_default_str();
  return examples::run(app, argc, argv, [&]() -> int {
    if (out.extension() != ".npy") fail<value_error>("--out", out, " must end in .npy");
    const fs::path names_file = out.string() + ".txt";
    examples::require_writable_dir(out.has_parent_path() ? out.parent_path() : fs::path("."));
    const auto root = data / "lfw";
    const auto images = list_file.empty() ? data::list_lfw_images(root) : data::read_lfw_image_list(list_file);
    // Every listed file must exist before an hour of engine calls, not at the end of it.
    for (const auto& im : images)
      if (const auto path = data::lfw_image_path(root, im.name, im.index); !fs::is_regular_file(path))
        fail<io_error>("engine_features", path, " (listed",
                       list_file.empty() ? std::string() : " in " + list_file.string(), ") does not exist");
    if (engine_dir.empty()) engine_dir = data / "face-recognition-model";
    return examples::with_engine(engine_dir, [&](const auto& engine, const data::face_crop& crop,
                                                 const std::string& name) {
      const examples::face_source faces(crop, align_dir);
      std::cout << "engine " << name << ": " << images.size() << " images, " << faces.describe() << ", "
                << num_threads() << " threads\n";
      const auto t0 = std::chrono::steady_clock::now();
      const auto features = engines::features_in_batches(
          engine, static_cast<index_t>(images.size()),
          [&](index_t s, index_t e) {
            return faces(root, {images.begin() + s, images.begin() + e});
          },
          &std::cout, batch, "features");
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::string names;
      for (const auto& im : images) names += data::lfw_relative_path(im) + "\n";
      io::write_npy(out, features);
      io::write_file_atomic(names_file, std::span(reinterpret_cast<const unsigned char*>(names.data()), names.size()));
      std::cout << std::fixed << std::setprecision(1) << "wrote " << features.shape() << " to " << out.string()
                << " and the names to " << names_file.string() << " in " << seconds << " s (" << std::setprecision(2)
                << 1000 * seconds / static_cast<double>(images.size()) << " ms per image, loading included)\n";
      if (faces.aligned()) std::cout << "alignment: no face found in " << faces.fallbacks() << " images\n";
      return 0;
    });
  });
}
