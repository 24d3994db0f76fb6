// The faces workload (examples/faces_lfw, issue 7): dlib's face engine on batches of 32 crops of
// 150x150 (images/s; needs ../shared/data, skipped visibly without it), and one full training
// step of DAB-GAN at 64x64, batch 32 (16 identities x 2), with the whole objective — critic step,
// then adversarial + reconstruction + distillation through a student + the bijective metric
// through a 4-scale H — through train::fit_gan. Prints the peak RSS at the end (a process
// high-water mark: `--step-only adv+recon|distill|biject` runs the step with just that part of
// the objective, in a fresh process, to see where the memory goes, `--step-only full` the whole
// objective; the engine is then skipped; `--keep-h-graph` turns off H's per-coupling recompute;
// `--engine-only` times the engine alone: tools/load_bench.sh; `--parts` times the generator
// forward+backward, the critic step with GP, a student step and H forward+backward alone). Prints
// the parameter counts, which bench/peer/torch_faces_twin prints too: they must be equal.
// `--dist` (built with MPI; run under mpirun, tools/bench.sh dist) trains the same step
// data-parallel over the ranks (the global batch stays 32) after an allreduce bandwidth sweep,
// and prints rank 0's step time with the allreduce bytes and time per step.
#include <bijgan/bijgan.hpp>
#include <bijgan/engines/dlib_resnet.hpp>
#include <bijgan/models/models.hpp>
#include <bijgan/train/adversarial.hpp>
#if defined(BIJGAN_HAVE_MPI)
#include <bijgan/dist/mpi.hpp>
#include <bijgan/dist/timed.hpp>
#endif

#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <optional>
#include <string>

#include "face_workload.hpp"
#include "harness.hpp"

using namespace bijgan;

using bench::face_cfg;
using bench::student_cfg;

namespace {

void print_peak() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto& cache = host_block_cache::get();
  std::printf("# peak RSS %.1f MB (host block cache: peak in use %.1f MB, peak reserved %.1f MB, cached now %.1f MB)\n",
              double(u.ru_maxrss) / 1024.0, double(cache.peak_bytes_in_use()) / 1048576.0,
              double(cache.peak_bytes_reserved()) / 1048576.0, double(cache.bytes_cached()) / 1048576.0);
}

/// The parts of the step on their own, as bench/peer/torch_faces_twin --parts times them.
template <class G, class D>
void run_parts(G& g, D& d, const train::gan_data& data, int threads) {
  using V = var<float>;
  rng gen(5);
  const index_t n = 32;
  std::vector<index_t> rows(static_cast<std::size_t>(n));
  std::iota(rows.begin(), rows.end(), index_t{0});
  const auto feats = constant(data::gather_rows(data.features, rows));
  const auto reals = constant(data::gather_rows(data.images, rows));
  const auto noise = constant(tensor<float>::random({n, 32}, gen, {distribution::normal, 0, 1}));
  const auto seed = constant(tensor<float>::random({n, 3, 64, 64}, gen, {distribution::uniform, 0, 1}));
  const auto pg = nn::parameters(g), pd = nn::parameters(d);
  optim::adam<float> opt_g(pg, {.lr = 1e-3, .beta1 = 0, .beta2 = 0.99}),
      opt_d(pd, {.lr = 1e-3, .beta1 = 0, .beta2 = 0.99});
  bench::report("dabgan64_generator_fwdbwd_b32", "bijgan", threads,
                bench::time_it(
                    [&] {
                      opt_g.zero_grad();
                      backward(mean(g(feats, noise) * seed));
                    },
                    5),
                double(n), "images/s");
  const auto critic = [&d](const V& x) { return d(x); };
  bench::report("dabgan64_critic_step_b32", "bijgan", threads,
                bench::time_it(
                    [&] {
                      V fake;
                      {
                        const no_grad off;
                        fake = constant(g(feats, noise).value());
                      }
                      opt_d.zero_grad();
                      const auto c = losses::wgan_critic(critic, reals, fake, gen);
                      backward(c.loss);
                      optim::clip_grad_norm(pd, 5);
                      opt_d.step();
                    },
                    5),
                double(n), "images/s");
  models::student<student_cfg> s;
  optim::adam<float> opt_s(nn::parameters(s), {.lr = 1e-3});
  const auto crops = tensor<float>::random({n, 3, 32, 32}, gen, {distribution::uniform, 0, 1});
  bench::report("student_step_b32", "bijgan", threads, bench::time_it([&] {
                  opt_s.zero_grad();
                  backward(losses::cosine_distill(feats.value(), s(constant(crops))));
                  opt_s.step();
                }),
                double(n), "images/s");
  for (const bool recompute : {false, true}) {
    const auto flow = bench::face_flow(recompute);
    if (!recompute)
      std::printf("# parameters: H %lld, student (trained) %lld\n", static_cast<long long>(nn::parameter_count(flow)),
                  static_cast<long long>(nn::parameter_count(s)));
    const auto h = nn::frozen(flow);
    bench::report(recompute ? "flow_h64_fwdbwd_b32_recompute" : "flow_h64_fwdbwd_b32", "bijgan", threads,
                  bench::time_it(
                      [&] {
                        const auto x = parameter(reals.value());
                        const auto r = h.forward(x);
                        backward(mean(sum(square(r.z), {1}) * 0.5f - r.logdet));
                      },
                      5),
                  double(n), "images/s");
  }
}

}  // namespace

#if defined(BIJGAN_HAVE_MPI)
/// Allreduce of float buffers from 4 KB to 64 MB: median and min time, and the bus bandwidth
/// 2 (n − 1) / n · bytes / time (the ring allreduce's traffic per link; docs/distributed.md).
/// The same fixed number of calls on every rank (bench::time_it's time-based repetition counts
/// differ between ranks, which the communicator's gate reports as a mismatch).
void allreduce_sweep(dist::mpi_communicator& c, int threads) {
  using clk = std::chrono::steady_clock;
  for (std::size_t bytes = std::size_t{1} << 12; bytes <= std::size_t{1} << 26; bytes <<= 2) {
    std::vector<float> x(bytes / sizeof(float), 1.0f);
    const int reps = bytes <= (std::size_t{1} << 20) ? 200 : 20;
    for (int i = 0; i < 3; ++i) c.allreduce(std::span<float>(x), dist::reduce_op::sum);  // warm-up
    std::vector<double> ms;
    for (int i = 0; i < reps; ++i) {
      const auto t0 = clk::now();
      c.allreduce(std::span<float>(x), dist::reduce_op::sum);
      ms.push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const double n = c.size();
    bench::report("allreduce_" + std::to_string(bytes) + "B_ranks" + std::to_string(c.size()), "mpi", threads,
                  {ms[ms.size() / 2], ms.front()}, 2 * (n - 1) / n * double(bytes) / 1e9, "GB/s_bus");
  }
}
#endif

int main(int argc, char** argv) {
  const int threads = bench::threads_arg(argc, argv);
  set_num_threads(threads);
  set_flush_denormal(true);
  rng gen(4);
  std::string only;
  bool engine_only = false, parts = false, keep_h_graph = false, distributed = false;
  for (int i = 1; i < argc; ++i) {
    if (i + 1 < argc && !std::strcmp(argv[i], "--step-only")) only = argv[i + 1];
    engine_only |= !std::strcmp(argv[i], "--engine-only");
    parts |= !std::strcmp(argv[i], "--parts");
    keep_h_graph |= !std::strcmp(argv[i], "--keep-h-graph");
    distributed |= !std::strcmp(argv[i], "--dist");
  }
#if defined(BIJGAN_HAVE_MPI)
  std::optional<dist::mpi_session> session;
  std::optional<dist::mpi_communicator> mpi;
  std::optional<dist::timed<dist::mpi_communicator>> counted;
  if (distributed) {
    session.emplace(&argc, &argv);
    mpi.emplace();
    counted.emplace(*mpi);
    if (mpi->rank() != 0 && !std::freopen("/dev/null", "w", stdout)) return 1;  // rank 0 reports
    allreduce_sweep(*mpi, threads);
    only = "full";
  }
#else
  if (distributed) {
    std::fprintf(stderr, "faces_bench --dist: built without MPI (apt-get install libopenmpi-dev openmpi-bin)\n");
    return 2;
  }
#endif
  if (!only.empty() && only != "adv+recon" && only != "distill" && only != "biject" && only != "full") {
    std::fprintf(stderr, "--step-only takes adv+recon, distill, biject or full, not %s\n", only.c_str());
    return 2;
  }
  const std::filesystem::path model_dir = std::filesystem::path(BIJGAN_SHARED_DIR) / "data" / "face-recognition-model";
  if (!only.empty() || parts) {
    if (!only.empty()) std::printf("# step with only %s\n", only.c_str());
  } else if (std::filesystem::exists(model_dir)) {
    const auto engine = engines::dlib_resnet::load(model_dir);
    const auto crops = tensor<float>::random({32, 3, 150, 150}, gen, {distribution::uniform, 0, 1});
    bench::report("face_engine_b32", "bijgan", threads, bench::time_it([&] { (void)engine.features(crops, 32); }, 5),
                  32, "images/s");
  } else {
    std::printf("# face engine: %s absent, skipped\n", model_dir.c_str());
  }
  if (engine_only) return 0;
  const auto data = bench::face_data(gen);
  nn::manual_seed(3);
  models::dabgan<face_cfg>::generator<> g;
  models::dabgan<face_cfg>::critic<> d;
  models::student<student_cfg> student;
  nn::eval(student);
  std::printf("# parameters: generator %lld, critic %lld, student %lld\n",
              static_cast<long long>(nn::parameter_count(g)), static_cast<long long>(nn::parameter_count(d)),
              static_cast<long long>(nn::parameter_count(student)));
  if (parts) {
    run_parts(g, d, data, threads);
    print_peak();
    return 0;
  }
  auto flow = bench::face_flow(!keep_h_graph);
  train::gan_options o;
  o.batch = 32, o.per_identity = 2, o.checkpoint_every = 0, o.clip_norm = 5;
  const bool full = only.empty() || only == "full";
  const auto terms =
      train::dabgan_objective({.distill = full || only == "distill", .biject = full || only == "biject"});
  const auto slots = train::gan(g, d).with_bijection(flow).with_distiller(student);
  std::string name = only.empty() || only == "full" ? "dabgan64_full_step_b32" : "dabgan64_step_b32_" + only;
#if defined(BIJGAN_HAVE_MPI)
  if (counted) {
    o.comm = *counted;
    name += "_ranks" + std::to_string(mpi->size());
  }
#endif
  o.steps = 2;  // warm-up: caches, primitives
  train::fit_gan(slots, data, o, terms);
  o.steps = 5;
#if defined(BIJGAN_HAVE_MPI)
  if (counted) counted->reset();
#endif
  const auto r = train::fit_gan(slots, data, o, terms);
  const double ms = r.seconds / double(r.steps) * 1e3;
  bench::report(name, "bijgan", threads, {ms, ms}, 32, "images/s");
#if defined(BIJGAN_HAVE_MPI)
  if (counted) {
    const auto& c = counted->totals();
    std::printf(
        "# per step on rank 0: %.1f MB allreduced in %.1f ms (%.1f %% of the step), %.1f collectives, "
        "%.1f ms in all collectives; gradients are reduced after backward (no overlap)\n",
        double(c.reduced) / r.steps / 1e6, c.reduce_seconds / r.steps * 1e3, 100.0 * c.reduce_seconds / r.seconds,
        double(c.calls) / r.steps, c.seconds / r.steps * 1e3);
  }
#endif
  print_peak();
}
