// A face engine on real faces: LFW's official 10-fold verification protocol (View 2, 6,000
// pairs) and TAR at FAR = 1e-3 over all impostor pairs, on the engine's crop of the
// deep-funneled images. The engine is dlib's ResNet (default; expect about 97.6%,
// ../shared/data/README.md) or the one in --engine FOLDER (an ONNX engine of
// ../shared/data/face-engines: arcface512, expect about 97.5%). Features are computed once and
// cached as NPY, keyed by the weights' checksum. --resolution R also scores each pair with the
// second image reduced to R x R and enlarged back, the comparison a generator working at R x R
// is measured against. --align DIR aligns every face on five landmarks (DIR's fr_detect.onnx and
// fr_landmark.onnx, the arcface512 package's) instead of the engine's fixed crop.
//
//   lfw_verification [--data DIR] [--engine FOLDER] [--align DIR] [--resolution R] [--out DIR]
#include <bijgan/bijgan.hpp>
#include <bijgan/data/batches.hpp>
#include <bijgan/data/lfw.hpp>
#include <bijgan/engines/dlib_resnet.hpp>
#include <bijgan/engines/feature_cache.hpp>
#include <bijgan/eval/verification.hpp>

#include "cli.hpp"
#include "engine_select.hpp"
#include "face_source.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>

using namespace bijgan;
namespace fs = std::filesystem;

namespace {

/// Engine features of every image, rows in the order of `images`; cached under out_dir. With
/// resolution > 0 each crop is first reduced to R x R and back up, both bilinear: what a
/// generator at R x R could at best show the engine.
template <class Engine>
tensor<float> features_of(const Engine& engine, const examples::face_source& faces, const fs::path& root,
                          const std::vector<data::lfw_image>& images, index_t resolution, const fs::path& out_dir) {
  const auto cache = out_dir / ("lfw_features_" + std::to_string(engine.checksum()) + "_" + faces.key() + "_r" +
                                std::to_string(resolution) + "_n" + std::to_string(images.size()) + ".npy");
  const auto side = faces.crop().size;
  const bool cached = fs::exists(cache);
  const auto before = faces.fallbacks();
  auto features = engines::cached_features(
      engine, static_cast<index_t>(images.size()),
      [&](index_t s, index_t e) {
        auto crops = faces(root, {images.begin() + s, images.begin() + e});
        if (resolution == 0) return crops;
        const no_grad ng;
        const auto small = resize(constant(crops), resolution, resolution, interpolation::bilinear);
        return resize(small, side, side, interpolation::bilinear).value();
      },
      cache, &std::cout, 32, resolution ? "features @" + std::to_string(resolution) : std::string("features"));
  if (faces.aligned() && !cached)
    std::cout << "alignment: no face found in " << faces.fallbacks() - before << " of " << images.size()
              << " images (cut with the fixed box)\n";
  return features;
}

void report(const char* label, const std::vector<data::lfw_pair>& pairs, const std::vector<double>& d) {
  std::vector<bool> same;
  std::vector<int> folds;
  for (const auto& p : pairs) {
    same.push_back(p.same);
    folds.push_back(p.fold);
  }
  const auto r = eval::k_fold_accuracy(d, same, folds);
  const auto t = eval::tar_at_far(d, same, 1e-3);
  std::cout << std::fixed << std::setprecision(2) << label << ": 10-fold accuracy " << 100 * r.mean_accuracy << "% +- "
            << 100 * r.std_accuracy << "%, TAR " << 100 * t.tar << "% at FAR " << std::setprecision(4) << t.far << " ("
            << t.false_accepts << " false accepts of " << pairs.size() / 2 << ")\n";
}

}  // namespace

int main(int argc, char** argv) {
  fs::path data =
      std::getenv("BIJGAN_DATA_DIR") ? fs::path(std::getenv("BIJGAN_DATA_DIR")) : fs::path("../shared/data");
  fs::path out_dir = "out";
  fs::path engine_dir, align_dir;
  index_t resolution = 0;
  CLI::App app{"a face engine on LFW's 10-fold protocol (real vs real)", "lfw_verification"};
  app.add_option("--data", data, "folder with lfw/ and face-recognition-model/ (or BIJGAN_DATA_DIR)")
      ->capture_default_str();
  app.add_option("--engine", engine_dir, "engine folder (default: DATA/face-recognition-model, dlib's ResNet)");
  app.add_option("--align", align_dir,
                 "align faces on five landmarks with DIR/fr_detect.onnx and DIR/fr_landmark.onnx "
                 "(e.g. DATA/face-engines/arcface512) instead of the engine's fixed crop");
  app.add_option("--resolution", resolution, "also compare against faces reduced to RxR and back (0: off)")
      ->check(CLI::Range(index_t{0}, index_t{512}));
  app.add_option("--out", out_dir, "output folder (descriptor caches)")->capture_default_str();
  return examples::run(app, argc, argv, [&]() -> int {
    examples::require_writable_dir(out_dir);
    const auto t0 = std::chrono::steady_clock::now();
    if (engine_dir.empty()) engine_dir = data / "face-recognition-model";
    return examples::with_engine(
        engine_dir, [&](const auto& engine, const data::face_crop& crop, const std::string& name) {
          const auto pairs = data::read_lfw_pairs(data / "lfw" / "pairs.txt");
          std::map<data::lfw_image, index_t> row;
          std::vector<data::lfw_image> keys;
          for (const auto& p : pairs)
            for (const auto& k : {data::lfw_image{p.name1, p.image1}, data::lfw_image{p.name2, p.image2}})
              if (row.emplace(k, static_cast<index_t>(keys.size())).second) keys.push_back(k);
          const examples::face_source faces(crop, align_dir);
          std::cout << pairs.size() << " pairs over " << keys.size() << " images; engine " << name << ", "
                    << faces.describe() << " (" << num_threads() << " threads)\n";
          const auto full = features_of(engine, faces, data / "lfw", keys, 0, out_dir);

          auto distances = [&](const tensor<float>& second) {
            std::vector<index_t> a, b;
            for (const auto& p : pairs) {
              a.push_back(row.at({p.name1, p.image1}));
              b.push_back(row.at({p.name2, p.image2}));
            }
            return eval::normalized_distances(data::gather_rows(full, a), data::gather_rows(second, b));
          };
          const auto side = std::to_string(crop.size);
          report(("real " + side + " vs real " + side).c_str(), pairs, distances(full));
          // TAR at FAR = 1e-3 with the threshold from every different-identity pair among the
          // images (29.6 M for View 2), not only the 3,000 listed ones.
          std::map<std::string, int> ids;
          std::vector<int> labels;
          for (const auto& k : keys) labels.push_back(ids.emplace(k.name, static_cast<int>(ids.size())).first->second);
          const auto impostors = eval::impostor_distances(full, labels);
          const double threshold = eval::threshold_at_far(impostors, 1e-3);
          const auto d = distances(full);
          long same = 0, accepted = 0;
          for (std::size_t i = 0; i < pairs.size(); ++i)
            if (pairs[i].same) {
              ++same;
              accepted += d[i] < threshold;
            }
          std::cout << std::fixed << std::setprecision(2) << "TAR at FAR 1e-3 over all " << impostors.size()
                    << " impostor pairs: " << 100.0 * static_cast<double>(accepted) / static_cast<double>(same)
                    << "% (cosine threshold " << std::setprecision(3) << 1 - threshold * threshold / 2 << ")\n";
          if (resolution > 0) {
            const auto reduced = features_of(engine, faces, data / "lfw", keys, resolution, out_dir);
            report(("real " + side + " vs real reduced to " + std::to_string(resolution) + " and back").c_str(), pairs,
                   distances(reduced));
          }
          std::cout << "done in " << std::setprecision(1)
                    << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
          return 0;
        });
  });
}
