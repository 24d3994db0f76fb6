// The face engine on real faces: LFW's official 10-fold verification protocol (View 2, 6,000
// pairs) with dlib's ResNet as the recognition engine, on the engine's crop of the deep-funneled
// images. Features are computed once and cached as NPY, keyed by the weights' checksum.
// Expect about 97.6% (../shared/data/README.md). --resolution R also scores each pair with the
// second image reduced to R x R and enlarged back, the comparison a generator working at R x R
// is measured against.
//
//   lfw_verification [--data DIR] [--resolution R] [--out DIR]
#include <bijgan/bijgan.hpp>
#include <bijgan/data/batches.hpp>
#include <bijgan/data/lfw.hpp>
#include <bijgan/engines/dlib_resnet.hpp>
#include <bijgan/engines/feature_cache.hpp>
#include <bijgan/eval/verification.hpp>

#include "cli.hpp"

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
tensor<float> features_of(const engines::dlib_resnet& engine, const fs::path& root,
                          const std::vector<data::lfw_image>& images, index_t resolution, const fs::path& out_dir) {
  const auto cache = out_dir / ("lfw_features_" + std::to_string(engine.checksum()) + "_crop65-75-185-195_r" +
                                std::to_string(resolution) + "_n" + std::to_string(images.size()) + ".npy");
  return engines::cached_features(
      engine, static_cast<index_t>(images.size()),
      [&](index_t s, index_t e) {
        auto crops = data::load_lfw_faces(root, {images.begin() + s, images.begin() + e}, {data::face_crop{}})[0];
        if (resolution == 0) return crops;
        const no_grad ng;
        const auto small = resize(constant(crops), resolution, resolution, interpolation::bilinear);
        return resize(small, 150, 150, interpolation::bilinear).value();
      },
      cache, &std::cout, 32, resolution ? "features @" + std::to_string(resolution) : std::string("features"));
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
  index_t resolution = 0;
  CLI::App app{"dlib's face engine on LFW's 10-fold protocol (real vs real)", "lfw_verification"};
  app.add_option("--data", data, "folder with lfw/ and face-recognition-model/ (or BIJGAN_DATA_DIR)")
      ->capture_default_str();
  app.add_option("--resolution", resolution, "also compare against faces reduced to RxR and back (0: off)")
      ->check(CLI::Range(index_t{0}, index_t{150}));
  app.add_option("--out", out_dir, "output folder (descriptor caches)")->capture_default_str();
  return examples::run(app, argc, argv, [&]() -> int {
    examples::require_writable_dir(out_dir);
    const auto t0 = std::chrono::steady_clock::now();
    const auto engine = engines::dlib_resnet::load(data / "face-recognition-model");
    const auto pairs = data::read_lfw_pairs(data / "lfw" / "pairs.txt");
    std::map<data::lfw_image, index_t> row;
    std::vector<data::lfw_image> keys;
    for (const auto& p : pairs)
      for (const auto& k : {data::lfw_image{p.name1, p.image1}, data::lfw_image{p.name2, p.image2}})
        if (row.emplace(k, static_cast<index_t>(keys.size())).second) keys.push_back(k);
    std::cout << pairs.size() << " pairs over " << keys.size() << " images; engine dlib_resnet (" << num_threads()
              << " threads)\n";
    const auto full = features_of(engine, data / "lfw", keys, 0, out_dir);
    auto distances = [&](const tensor<float>& second) {
      std::vector<index_t> a, b;
      for (const auto& p : pairs) {
        a.push_back(row.at({p.name1, p.image1}));
        b.push_back(row.at({p.name2, p.image2}));
      }
      return eval::normalized_distances(data::gather_rows(full, a), data::gather_rows(second, b));
    };
    report("real 150 vs real 150", pairs, distances(full));
    if (resolution > 0) {
      const auto reduced = features_of(engine, data / "lfw", keys, resolution, out_dir);
      report(("real 150 vs real reduced to " + std::to_string(resolution) + " and back").c_str(), pairs,
             distances(reduced));
    }
    std::cout << "done in " << std::setprecision(1)
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
    return 0;
  });
}
