// Faces from a real blackbox engine: DAB-GAN on LFW with a face engine as F — dlib's ResNet
// (default) or a file engine of ../shared/data/face-engines (--engine FOLDER: arcface512,
// faceres1024). The engine is only queried (its descriptors of every image, computed once and
// cached as NPY); distillation goes through a student trained from those queries (or, with
// --whitebox, through the engine itself: the paper's whitebox mode); H is a flow
// trained on the training identities with one prior class per identity. Open set: the
// generator trains on every identity outside the test fold (pairs.txt's folds are
// identity-disjoint) and is evaluated on the test fold's pairs with one image of each positive
// pair replaced by its reconstruction from its descriptor.
//
//   faces_lfw [--quick] [--data DIR] [--engine FOLDER] [--align DIR] [--out DIR] [--steps N]
//             [--model dabgan|dibigan] [--no-distill] [--no-biject] [--flow CKPT] [--h-steps N]
//             [--student-epochs N] [--student-only] [--mirror] [--refresh N]
//             [--refresh-reals N] [--whitebox] [--seed N] [--resume] [--resume-changed]
//
// Default: 64x64 (≈ 53 minutes on 2 cores from an empty folder with dlib's engine); --quick:
// 32x32 with shorter H and GAN runs (≈ 11 minutes). Figures: docs/faces.md (Table III there).
// The training and the report are faces_lfw_run.hpp, one translation unit per descriptor size.
#include <bijgan/data/lfw.hpp>
#include <bijgan/engines/feature_cache.hpp>
#include <bijgan/engines/whitebox.hpp>
#if defined(BIJGAN_HAVE_MPI)
#include <bijgan/dist/mpi.hpp>
#endif

#include "cli.hpp"
#include "engine_select.hpp"
#include "face_source.hpp"
#include "faces_lfw.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <span>
#include <string>

using namespace bijgan;
namespace fs = std::filesystem;

namespace {

/// Engine descriptors of images (N, 3, r, r) in [0, 1], shown to it resized bilinearly to its
/// input side, 64 at a time.
template <class Engine>
tensor<float> describe(const Engine& engine, index_t side, const tensor<float>& x) {
  return engines::features_in_batches(
      engine, x.size(0),
      [&](index_t s, index_t e) {
        const no_grad off;
        return resize(constant(x.slice_rows(s, e)), side, side, interpolation::bilinear).value();
      },
      nullptr, 64);
}

}  // namespace

/// Whether a launcher (mpirun/mpiexec: Open MPI, or a PMI-based one) started this process.
bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
         std::getenv("PMIX_RANK") != nullptr;
}

int main(int argc, char** argv) {
  faces_lfw::options o;
  CLI::App app{"Faces reconstructed from a face engine's descriptors on LFW (blackbox DAB-GAN)", "faces_lfw"};
  app.add_flag("--quick", o.quick, "32x32, short runs (about 11 minutes)");
  app.add_option("--data", o.data, "folder with lfw/ and face-recognition-model/ (or BIJGAN_DATA_DIR)")
      ->capture_default_str();
  app.add_option("--engine", o.engine_dir,
                 "engine folder (default: DATA/face-recognition-model, dlib's ResNet; or "
                 "DATA/face-engines/arcface512, .../faceres1024)");
  app.add_option("--align", o.align_dir,
                 "align the faces on five landmarks with DIR's fr_detect.onnx + fr_landmark.onnx "
                 "(e.g. DATA/face-engines/arcface512) instead of the engine's fixed crop");
  app.add_option("--out", o.out, "output folder (default: out/faces, or out/faces/ENGINE[_aligned] for a file engine)");
  app.add_option("--steps", o.steps, "GAN steps (default: the resolution's)")->check(examples::positive);
  app.add_option("--model", o.model, "the generator and critic")
      ->check(CLI::IsMember({"dabgan", "dibigan"}))
      ->capture_default_str();
  auto* no_distill = app.add_flag_callback(
      "--no-distill", [&] { o.terms.distill = false; }, "drop the distillation term");
  app.add_flag_callback(
      "--no-biject", [&] { o.terms.biject = false; }, "drop the bijective metric term");
  app.add_option("--flow", o.flow_checkpoint, "load H from this checkpoint instead of training it")
      ->check(CLI::ExistingFile);
  app.add_option("--h-steps", o.h_steps, "steps of H (default: the resolution's)")->check(examples::positive);
  app.add_option("--student-epochs", o.student_epochs, "student epochs (default 10)")->check(examples::positive);
  auto* student_only =
      app.add_flag("--student-only", o.student_only,
                   "fit (or load) the student, print its cosine with the engine on the test reals, and stop");
  app.add_flag("--mirror", o.student_mirror, "train the student on mirrored images too (random left-right flips)");
  app.add_flag("--whitebox", o.whitebox,
               "whitebox mode: distil through the engine itself (differentiated by our ops) instead of a "
               "student fitted to its answers; no student, no refresh")
      ->excludes(no_distill)
      ->excludes(student_only);
  app.add_option("--refresh", o.refresh_every, "refresh the student every N GAN steps (0: frozen, as in the paper)")
      ->check(examples::non_negative)
      ->capture_default_str();
  app.add_option("--refresh-reals", o.refresh_reals,
                 "real images beside the 32 generated ones in each refresh (default 32)")
      ->check(examples::positive);
  app.add_option("--seed", o.seed, "seed of the GAN's initialisation, batches and noise (default 1)")
      ->check(examples::positive);
  app.add_flag("--resume", o.resume, "continue from the checkpoints in --out");
  app.add_flag("--resume-changed", o.resume_changed,
               "resume even where the options differ from those the checkpoint recorded (e.g. more epochs)");
  return examples::run(app, argc, argv, [&]() -> int {
    if (o.engine_dir.empty()) o.engine_dir = o.data / "face-recognition-model";
    if (!fs::exists(o.data / "lfw" / "pairs.txt") || !fs::exists(o.engine_dir)) {
      std::cerr << "faces_lfw: needs LFW under " << o.data.string() << " (lfw/pairs.txt) and the engine folder "
                << o.engine_dir.string() << "; pass --data DIR (or set BIJGAN_DATA_DIR) and --engine FOLDER\n";
      return 2;
    }
    set_flush_denormal(true);
    const auto t0 = std::chrono::steady_clock::now();
    // Under mpirun every rank joins one data-parallel run (docs/distributed.md): the same
    // program, the global batch shared out; rank 0 prints, writes and evaluates.
#if defined(BIJGAN_HAVE_MPI)
    // [docs:mpi-setup]
    dist::communicator_ref comm;  // one process unless started by mpirun
    std::optional<dist::mpi_session> session;
    std::optional<dist::mpi_communicator> mpi;
    if (launched_by_mpi()) {
      session.emplace(&argc, &argv);  // MPI_Init_thread ... MPI_Finalize (or MPI_Abort after a fault)
      mpi.emplace();                  // a duplicate of MPI_COMM_WORLD with the timed gate
      comm = *mpi;                    // what gan_options::comm, flow_fit_options::comm, ... take
      if (mpi->rank() != 0 && !std::freopen("/dev/null", "w", stdout)) return 2;  // rank 0 prints
    }
    // [docs:mpi-setup]
#else
    dist::communicator_ref comm;
    if (launched_by_mpi())
      std::cerr << "faces_lfw: started by mpirun, but built without MPI (apt-get install libopenmpi-dev "
                   "openmpi-bin, then rebuild): every rank runs alone\n";
#endif
    return examples::with_engine(
        o.engine_dir, [&](const auto& engine, const data::face_crop& crop, const std::string& name) -> int {
          constexpr index_t D = std::decay_t<decltype(engine)>::feature_dim;
          if constexpr (!faces_lfw::built_for(D)) {
            bijgan::fail<bijgan::value_error>(
                "faces_lfw", "--engine ", o.engine_dir, ": ", name, " gives ", D,
                "-D descriptors; faces_lfw is built for 128 (dlib_resnet), 512 (arcface512) and 1024 (faceres1024) "
                "(mobilefacenet192's shipped weights do not separate faces: see its README)");
            return 2;
          } else {
            const examples::face_source faces(crop, o.align_dir);
            const auto tag = name + (faces.aligned() ? "_aligned" : "");
            if (o.out.empty()) o.out = tag == "dlib_resnet" ? fs::path("out/faces") : fs::path("out/faces") / tag;
            examples::require_writable_dir(o.out);
            const auto root = o.data / "lfw";
            const auto pairs = data::read_lfw_pairs(root / "pairs.txt");
            const auto split = data::split_lfw(data::list_lfw_images(root), pairs, {o.test_fold});
            const index_t r = o.quick ? 32 : 64;
            std::cout << "open set: " << split.train.size() << " training images of " << split.train_identities
                      << " identities, " << split.test.size() << " test images of " << split.test_identities
                      << " identities (fold " << o.test_fold + 1 << "); engine " << name << " (" << D << "-D), faces "
                      << faces.describe() << "; " << num_threads() << " threads; out " << o.out.string() << "\n";
            // Blackbox queries, once: descriptors keyed by the weights, the faces and the image list.
            // Where they are computed, the same pass keeps the faces at r x r for training (one
            // JPEG decode, one detection per image when aligning); where cached, those are loaded.
            const auto described = [&](const std::vector<data::lfw_image>& list, const std::string& what) {
              const auto key = "lfw_" + name + "_" + std::to_string(engine.checksum()) + "_" + faces.key() + "_" +
                               std::to_string(data::lfw_list_hash(list)) + "_n" + std::to_string(list.size()) + ".npy";
              std::vector<tensor<float>> small;
              const auto before = faces.fallbacks();
              auto f = engines::cached_features(
                  engine, static_cast<index_t>(list.size()),
                  [&](index_t s, index_t e) {
                    auto both = faces(root, {list.begin() + s, list.begin() + e}, std::vector<index_t>{crop.size, r});
                    small.push_back(std::move(both[1]));
                    return std::move(both[0]);
                  },
                  o.out / key, &std::cout, 32, "engine descriptors (" + what + ")");
              auto x = small.empty() ? faces(root, list, {r}, &std::cout, "loading " + what + " faces")[0]
                                     : concat(std::span<const tensor<float>>(small), 0);
              if (faces.aligned())
                std::cout << "alignment (" << what << "): no face found in " << faces.fallbacks() - before << " of "
                          << list.size() << " images (cut with the fixed box)\n";
              return std::pair{std::move(f), std::move(x)};
            };
        // Rank 0 computes (or loads) the descriptors first and caches them; the others then
        // load its files instead of querying the engine again (a shared --out, or one machine).
#if defined(BIJGAN_HAVE_MPI)
            const double patience = mpi ? mpi->timeout_seconds() : 0;
            if (mpi) mpi->set_timeout_seconds(std::max(patience, 7200.0));  // querying takes minutes
#endif
            if (comm.rank() != 0) comm.barrier();
            const auto [train_f, train_x] = described(split.train, "training");
            const auto [test_f, test_x] = described(split.test, "test");
            if (comm.rank() == 0) comm.barrier();
#if defined(BIJGAN_HAVE_MPI)
            if (mpi) mpi->set_timeout_seconds(patience);
#endif
            const faces_lfw::inputs in{o,
                                       name,
                                       faces.describe(),
                                       engine.checksum(),
                                       faces.key(r),
                                       [&](const tensor<float>& x) { return describe(engine, crop.size, x); },
                                       [&](const var<float>& x) {
                                         return engines::staged_forward(
                                             engine, resize(x, crop.size, crop.size, interpolation::bilinear));
                                       },
                                       split,
                                       train_x,
                                       train_f,
                                       test_x,
                                       test_f,
                                       pairs,
                                       t0,
                                       comm};
            return faces_lfw::run_for<D>(in);
          }
        });
  });
}
