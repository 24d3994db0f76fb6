// The faces workload (examples/faces_lfw, issue 7): dlib's face engine on batches of 32 crops of
// 150x150 (images/s; needs ../shared/data, skipped visibly without it), and one full training
// step of DAB-GAN at 64x64, batch 32 (16 identities x 2), with the whole objective — critic step,
// then adversarial + reconstruction + distillation through a student + the bijective metric
// through a 4-scale H — through train::fit_gan. Prints the peak RSS at the end (a process
// high-water mark: `--step-only adv+recon|distill|biject` runs the step with just that part of
// the objective, in a fresh process, to see where the memory goes; the engine is then skipped;
// `--engine-only` times the engine alone: tools/load_bench.sh).
#include <bijgan/bijgan.hpp>
#include <bijgan/engines/dlib_resnet.hpp>
#include <bijgan/models/models.hpp>
#include <bijgan/train/adversarial.hpp>

#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "face_workload.hpp"
#include "harness.hpp"

using namespace bijgan;

using bench::face_cfg;
using bench::student_cfg;

int main(int argc, char** argv) {
  const int threads = bench::threads_arg(argc, argv);
  set_num_threads(threads);
  set_flush_denormal(true);
  generator rng(4);
  std::string only;
  bool engine_only = false;
  for (int i = 1; i < argc; ++i) {
    if (i + 1 < argc && !std::strcmp(argv[i], "--step-only")) only = argv[i + 1];
    engine_only |= !std::strcmp(argv[i], "--engine-only");
  }
  if (!only.empty() && only != "adv+recon" && only != "distill" && only != "biject") {
    std::fprintf(stderr, "--step-only takes adv+recon, distill or biject, not %s\n", only.c_str());
    return 2;
  }
  const std::filesystem::path model_dir = std::filesystem::path(BIJGAN_SHARED_DIR) / "data" / "face-recognition-model";
  if (!only.empty()) {
    std::printf("# step with only %s\n", only.c_str());
  } else if (std::filesystem::exists(model_dir)) {
    const auto engine = engines::dlib_resnet::load(model_dir);
    const auto crops = tensor<float>::random({32, 3, 150, 150}, rng, {distribution::uniform, 0, 1});
    bench::report("face_engine_b32", "bijgan", threads, bench::time_it([&] { (void)engine.features(crops, 32); }, 5),
                  32, "images/s");
  } else {
    std::printf("# face engine: %s absent, skipped\n", model_dir.c_str());
  }
  if (engine_only) return 0;
  const auto data = bench::face_data(rng);
  nn::manual_seed(3);
  models::dabgan<face_cfg>::generator<> g;
  models::dabgan<face_cfg>::critic<> d;
  models::student<student_cfg> student;
  nn::eval(student);
  auto flow = bench::face_flow();
  train::gan_options o;
  o.batch = 32, o.per_identity = 2, o.log = nullptr, o.checkpoint_every = 0, o.clip_norm = 5;
  if (!only.empty())
    o.terms = {.adversarial = true, .recon = true, .distill = only == "distill", .biject = only == "biject"};
  o.steps = 2;  // warm-up: caches, primitives
  train::fit_gan(g, d, data, o, &flow, &student);
  o.steps = 5;
  const auto r = train::fit_gan(g, d, data, o, &flow, &student);
  const double ms = r.seconds / double(r.steps) * 1e3;
  bench::report(only.empty() ? "dabgan64_full_step_b32" : "dabgan64_step_b32_" + only, "bijgan", threads, {ms, ms}, 32,
                "images/s");
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto& cache = host_block_cache::get();
  std::printf("# peak RSS %.1f MB (host block cache: peak in use %.1f MB, cached now %.1f MB)\n",
              double(u.ru_maxrss) / 1024.0, double(cache.peak_bytes_in_use()) / 1048576.0,
              double(cache.bytes_cached()) / 1048576.0);
}
