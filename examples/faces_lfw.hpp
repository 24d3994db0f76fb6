// faces_lfw's parts: its options and what main() (faces_lfw.cpp: flags, the engine, the
// descriptors, the faces) hands the training and evaluation (faces_lfw_run.hpp). Each engine
// is a different C++ type (its feature dim is compile-time), so main() passes only what run
// needs from it (a describe function, its name), and each descriptor size D is compiled in its
// own translation unit (faces_lfw_d128.cpp, ...), in parallel.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <bijgan/concepts/model.hpp>
#include <bijgan/data/lfw.hpp>
#include <bijgan/dist/communicator.hpp>
#include <bijgan/train/adversarial.hpp>

namespace faces_lfw {

using bijgan::index_t;

struct options {
  std::filesystem::path data =
      std::getenv("BIJGAN_DATA_DIR") ? std::filesystem::path(std::getenv("BIJGAN_DATA_DIR")) : "../shared/data";
  std::filesystem::path out;  ///< "": out/faces for dlib's engine, out/faces/<engine>[_aligned] for the others
  std::filesystem::path engine_dir, align_dir, flow_checkpoint;
  std::string model = "dabgan";
  bool quick = false, resume = false, resume_changed = false;
  bool student_only = false;    // stop after fitting (or loading) the student, with its held-out cosine
  bool student_mirror = false;  // mirror augmentation for the student (--mirror)
  bool whitebox = false;        // distil through the engine itself, not a student (--whitebox)
  long steps = 0, h_steps = -1;
  int student_epochs = -1;
  long refresh_every = 5;   // 0: the student stays frozen after fit_student (the paper)
  long refresh_reals = 32;  // real images beside the 32 generated ones in each refresh
  int test_fold = 9;        // 0-based: pairs.txt's 10th fold
  std::uint64_t seed = 1;   // the GAN's initialisation, batches, v and ε (--seed)
  bijgan::train::gan_terms terms{};
};

/// What run() needs from main(): the data, the engine's descriptors of it, and the engine as
/// a query (descriptors (N, D) of images (N, 3, r, r) in [0, 1], resized to its input inside).
struct inputs {
  const options& o;
  std::string engine;      ///< e.g. "arcface512"
  std::string faces;       ///< how the engine's faces are cut, for the report
  std::uint64_t checksum;  ///< of the engine's weights (keys the student file)
  std::string flow_key;    ///< names the training images at r x r (keys H's checkpoint)
  std::function<bijgan::tensor<float>(const bijgan::tensor<float>&)> describe;
  /// The same query, differentiable (whitebox mode): the engine's stage outputs (where it has
  /// them) and raw descriptors of images (N, 3, r, r) as vars, so gradients reach the images.
  std::function<bijgan::staged_output<bijgan::var<float>>(const bijgan::var<float>&)> forward;
  const bijgan::data::lfw_split& split;
  const bijgan::tensor<float>&train_x, &train_f, &test_x, &test_f;
  const std::vector<bijgan::data::lfw_pair>& pairs;
  std::chrono::steady_clock::time_point t0;
  /// The ranks training together (under mpirun; one process otherwise): the student, H and the
  /// GAN train data-parallel, rank 0 writes the files and evaluates.
  bijgan::dist::communicator_ref comm{};
};

/// The descriptor sizes run_for is compiled for: 128 (dlib_resnet), 512 (arcface512) and
/// 1024 (faceres1024), one translation unit each (faces_lfw_d<D>.cpp).
constexpr bool built_for(index_t d) { return d == 128 || d == 512 || d == 1024; }

/// Trains and evaluates o.model at 32x32 (o.quick) or 64x64 from D-dimensional descriptors
/// (faces_lfw_run.hpp).
template <index_t D>
int run_for(const inputs& in);
extern template int run_for<128>(const inputs&);
extern template int run_for<512>(const inputs&);
extern template int run_for<1024>(const inputs&);

}  // namespace faces_lfw
