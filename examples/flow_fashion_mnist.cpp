// The bijection H of the method trained on Fashion-MNIST (padded to 32x32) with the
// class-conditional prior N(μ_c, I) (by default the random mean layout, δ = 0.5; --means line
// gives the paper's μ_c = δ(c − 5)·1): logit pre-processing, then the
// multi-scale RealNVP. Reports test bits/dim and the accuracy of classifying each test image
// by its most likely class prior, writes a grid of class-conditional samples (one row per
// class), and checkpoints so an interrupted run continues with --resume.
//
//   flow_fashion_mnist [--epochs N] [--scales S] [--blocks K] [--features F] [--delta D]
//                      [--means line|random] [--lr LR] [--gate-lr FACTOR] [--class-weight W] [--max-steps N] [--eval N]
//                      [--resume] [--resume-changed] [--out DIR]
#include <bijgan/bijgan.hpp>
#include <bijgan/data/fashion_mnist.hpp>
#include <bijgan/engines/lenet.hpp>
#include <bijgan/io/png.hpp>
#include <bijgan/train/flow_training.hpp>

#include "cli.hpp"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <string>

using namespace bijgan;

int main(int argc, char** argv) {
  train::flow_fit_options fit;
  fit.epochs = 6;
  flows::realnvp_options arch{.channels = 1, .height = 32, .width = 32, .scales = 3, .blocks = 1, .features = 32};
  double delta = 0.5;  // random means: every pair about 0.5·√2048 ≈ 22.6 apart
  std::string means = "random";
  index_t eval_n = 10000;
  std::filesystem::path out_dir = "out";
  CLI::App app{"The bijection H (multi-scale RealNVP with a class-conditional prior) on Fashion-MNIST",
               "flow_fashion_mnist"};
  app.add_option("--epochs", fit.epochs, "training epochs")->check(examples::positive)->capture_default_str();
  examples::add_realnvp_flags(app, arch, 5);
  app.add_option("--delta", delta, "distance scale of the class means")
      ->check(examples::positive)
      ->capture_default_str();
  app.add_option("--means", means, "class mean layout")
      ->check(CLI::IsMember({"line", "random"}))
      ->capture_default_str();
  app.add_option("--lr", fit.lr, "learning rate")->check(examples::positive)->capture_default_str();
  app.add_option("--gate-lr", fit.gate_lr_factor, "learning-rate factor of the coupling gates")
      ->check(examples::positive)
      ->capture_default_str();
  app.add_option("--class-weight", fit.class_weight, "weight of the class term")
      ->check(examples::non_negative)
      ->capture_default_str();
  app.add_option("--max-steps", fit.max_steps, "stop after N steps (0: all epochs)")->check(examples::non_negative);
  app.add_option("--eval", eval_n, "test images to evaluate")
      ->check(CLI::Range(index_t{1}, index_t{10000}))
      ->capture_default_str();
  app.add_flag("--resume", fit.resume, "continue from the checkpoint in --out");
  app.add_flag("--resume-changed", fit.allow_option_changes,
               "resume even where the options differ from those the checkpoint recorded (e.g. more epochs)");
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
  return examples::run(app, argc, argv, [&]() -> int {
    examples::require_writable_dir(out_dir);
    const flows::mean_layout layout = flows::mean_layout_from(means);
    if (std::getenv("BIJGAN_NO_FTZ") == nullptr) set_flush_denormal(true);
    const auto train_set = data::load_fashion_mnist("train");
    const auto test_set = data::load_fashion_mnist("t10k");
    const auto train_x = engines::pad_to_32(train_set.images);
    const auto test_x = engines::pad_to_32(test_set.images).slice_rows(0, std::min<index_t>(eval_n, 10000));
    const std::vector<int> test_y(test_set.labels.begin(), test_set.labels.begin() + test_x.size(0));

    nn::manual_seed(2026);
    // H: images in [0, 1) → logit space → multi-scale RealNVP → flat latent (N, 1024).
    auto flow = flows::logit_transform<float>{} | flows::realnvp_multiscale<float>(arch);
    const flows::class_gaussian<float> prior{.classes = 10, .dim = 1024, .delta = delta, .layout = layout, .seed = 7};
    std::cout << "H: " << arch.scales << " scales, " << arch.blocks << " residual block(s) of " << arch.features
              << " maps per coupling, " << nn::parameter_count(flow) << " parameters; " << num_threads()
              << " threads\n";

    std::filesystem::create_directories(out_dir);
    fit.checkpoint = out_dir / "flow_fashion_mnist.ckpt.safetensors";
    fit.log = &std::cout;
    const auto report = [&](const char* when) {
      const auto ev = train::evaluate_flow(flow, prior, test_x, test_y);
      std::cout << "  " << when << ": test bits/dim " << std::fixed << std::setprecision(3) << ev.bits_per_dim
                << ", class accuracy " << std::setprecision(2) << 100 * ev.accuracy << "% (" << test_x.size(0)
                << " test images)\n";
      return ev;
    };
    const auto res =
        train::fit_flow(flow, prior, train_x, train_set.labels, fit,
                        {train::at_epoch_end([&](int epoch) { report(("epoch " + std::to_string(epoch)).c_str()); })});
    const auto ev = report("final");
    for (float t : {1.0f, 0.7f}) {
      const auto grid = io::make_grid(train::class_samples(flow, prior, shape{1, 32, 32}, 10, t, 5), 10);
      const auto path = out_dir / ("flow_fashion_mnist_samples_t" + std::to_string(int(t * 10)) + ".png");
      io::write_png(path, grid);
      std::cout << "wrote " << path.string() << " (one row per class, temperature " << t << ")\n";
    }
    std::cout << "trained " << res.steps - res.resumed_from << " steps in " << std::setprecision(1) << res.seconds
              << " s (" << std::setprecision(0)
              << double(res.steps - res.resumed_from) * double(fit.batch) / std::max(res.seconds, 1e-9)
              << " images/s); checkpoint " << fit.checkpoint.string() << "\n";
    std::cout << "RESULT bits_per_dim=" << std::setprecision(3) << ev.bits_per_dim
              << " accuracy=" << std::setprecision(4) << ev.accuracy << "\n";
    return 0;
  });
}
