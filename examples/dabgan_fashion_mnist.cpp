// The demo (README's main command): the paper's MNIST ablation on Fashion-MNIST. A LeNet engine
// F (trained here, or loaded), the bijection H with its class-conditional prior (loaded from
// flow_fashion_mnist's checkpoint, or trained briefly), then DAB-GAN trained from F's features of
// the training images with the full objective of Eq. 16 (whitebox distillation through the
// LeNet, as the paper's ablation does). The test images are reconstructed from their features
// only; F classifies the reconstructions; a markdown report with PNG grids and the latent plot
// (H's view of reals and reconstructions) is written.
//
//   dabgan_fashion_mnist [--quick] [--model dabgan|dibigan|pogan] [--steps N] [--test N] [--no-biject]
//                        [--no-distill] [--no-recon] [--biject-scale X] [--flow CKPT] [--engine FILE] [--resume]
//                        [--resume-changed] [--out DIR]
#include <bijgan/bijgan.hpp>
#include <bijgan/eval/latent_view.hpp>
#include <bijgan/eval/reconstruction.hpp>
#include <bijgan/io/plot.hpp>
#include <bijgan/models/models.hpp>
#include <bijgan/train/adversarial.hpp>
#include <bijgan/train/classifier.hpp>
#include <bijgan/train/flow_training.hpp>

#include "cli.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <string>

using namespace bijgan;
namespace fs = std::filesystem;

namespace {

// The three models of the ablation at Fashion-MNIST's 32x32 with LeNet's 1024-D features.
constexpr models::gan_config cnn_cfg{
    .channels = 1, .resolution = 32, .feature_dim = 1024, .noise_dim = 32, .width = 32};
constexpr models::gan_config attention_cfg{.channels = 1,
                                           .resolution = 32,
                                           .feature_dim = 1024,
                                           .noise_dim = 32,
                                           .embed = 64,
                                           .heads = 4,
                                           .depth = 1,
                                           .bicubic_stages = 2,
                                           .critic_patch = 4,
                                           .critic_embed = 64};
static_assert(models::dabgan<attention_cfg>::accepts<engines::lenet<>>);
static_assert(models::dibigan<cnn_cfg>::accepts<engines::lenet<>>);

struct run_options {
  std::string model = "dabgan";
  bool quick = false;
  long steps = 0;    // 0: the model's default
  index_t test = 0;  // test features to reconstruct (0: 10,000, 2,000 with --quick)
  train::gan_terms terms{};
  double biject_scale = 1;  // multiple of Eq. 18's λ_b
  fs::path flow_checkpoint;
  fs::path engine_file;
  fs::path out = "out";
  bool resume = false;
  bool resume_changed = false;
};

using flow_type = decltype(flows::logit_transform<float>{} |
                           flows::realnvp_multiscale<float>(flows::realnvp_options{}));

using prior_type = flows::class_gaussian<float>;

/// Test-set figures of a trained generator.
struct figures {
  double accuracy = 0, diversity = 0;
  double latent_accuracy_real = 0, latent_accuracy_recon = 0;  // H's class of the latents (p(c | z))
};

/// H's latents of images (N, 1, 32, 32), in batches without a graph.
tensor<float> latents_of(const flow_type& flow, const tensor<float>& images) {
  const no_grad off;
  std::vector<float> out;
  for (index_t i = 0; i < images.size(0); i += 100) {
    const auto z =
        flow.forward(constant(images.slice_rows(i, std::min(images.size(0), i + 100)))).z.value().to_vector();
    out.insert(out.end(), z.begin(), z.end());
  }
  return tensor<float>::from(out, shape{images.size(0), static_cast<index_t>(out.size()) / images.size(0)});
}

/// Engine accuracy and MS-SSIM diversity on the test features; H's view of 500 reals and their
/// reconstructions: its class accuracy on both and the latent plot (reals dots, reconstructions
/// crosses, coloured by class, on the plane of the real latents' class means).
template <class G>
figures evaluate(const G& g, const engines::lenet<>& engine, const flow_type& flow, const prior_type& prior,
                 const tensor<float>& images, const tensor<float>& features, const std::vector<int>& labels,
                 const fs::path& plot) {
  figures f;
  const auto recon = eval::reconstruct(g, features, 2026);
  f.accuracy = eval::class_accuracy([&](const tensor<float>& x) { return engine.classify(x); }, recon, labels);
  f.diversity = eval::ms_ssim_diversity(g, features.slice_rows(0, 200), 77);
  const index_t n = std::min<index_t>(500, images.size(0));
  const std::vector<int> y(labels.begin(), labels.begin() + n);
  const auto z_real = latents_of(flow, images.slice_rows(0, n)), z_recon = latents_of(flow, recon.slice_rows(0, n));
  const auto h_class = [&](const tensor<float>& z) { return prior.classify(z); };  // H's most likely class
  f.latent_accuracy_real = eval::class_accuracy(h_class, z_real, y);
  f.latent_accuracy_recon = eval::class_accuracy(h_class, z_recon, y);
  const auto view = eval::centroid_plane(z_real, y);
  io::write_scatter_png(plot, {{.points = view(z_real), .colours = y, .shape = io::marker::dot},
                               {.points = view(z_recon), .colours = y, .shape = io::marker::cross}});
  return f;
}

template <class M>
int run(const run_options& ro, const engines::lenet<>& engine, const flow_type& flow, const prior_type& prior,
        const train::gan_data& data, const tensor<float>& test_x, const tensor<float>& test_f,
        const std::vector<int>& test_y, long default_steps) {
  nn::manual_seed(11);
  typename M::template generator<> g;
  typename M::template critic<> d;
  std::cout << ro.model << ": generator " << nn::parameter_count(g) << " parameters, critic " << nn::parameter_count(d)
            << "\n";
  train::gan_options o;
  o.steps = ro.steps > 0 ? ro.steps : default_steps;
  o.steps_per_stage = o.steps / 6;  // stages 4x4 … 32x32 take the first 3/6 of the run, then 32x32 to the end
  o.fade_steps = o.steps_per_stage / 2;
  o.batch = 32;
  o.n_critic = 1;
  o.lr_generator = 1e-3, o.lr_critic = 1e-3;
  o.clip_norm = 5;
  o.log = &std::cout;
  auto objective = train::dabgan_objective(ro.terms);
  objective.term<train::adversarial_term>().scale = 0.02;  // Eq. 18's e^R (≈ 55 at 32x32) would drown the rest
  objective.term<train::bijective_term>().scale = ro.biject_scale;
  o.checkpoint = ro.out / (ro.model + ".ckpt.safetensors");
  o.checkpoint_every = 100;
  o.resume = ro.resume;
  o.allow_option_changes = ro.resume_changed;
  const std::vector<train::gan_callback> callbacks{
      train::csv_log(ro.out / (ro.model + "_losses.csv")),
      train::png_grid(ro.out / (ro.model + "_grid"), 200, test_x.slice_rows(0, 8), test_f.slice_rows(0, 8))};
  auto ema = g;
  const auto parts = train::gan(g, d).with_bijection(flow).with_distiller(engine).with_ema_output(ema);
  const auto res = train::fit_gan(parts, data, o, objective, callbacks);
  std::cout << "\ntrained " << res.steps - res.resumed_from << " steps in " << std::fixed << std::setprecision(1)
            << res.seconds << " s (" << std::setprecision(1)
            << double(res.steps - res.resumed_from) * double(o.batch) / std::max(1e-9, res.seconds) << " images/s)\n";
  const auto plot = ro.out / (ro.model + "_latents.png");
  const auto f = evaluate(ema, engine, flow, prior, test_x, test_f, test_y, plot);
  const auto real_acc =
      eval::class_accuracy([&](const tensor<float>& x) { return engine.classify(x); }, test_x, test_y);
  const auto recon = [&](const tensor<float>& feats, std::uint64_t seed) {
    return eval::reconstruct(ema, feats, seed);
  };
  io::write_png(ro.out / (ro.model + "_sheet.png"),
                eval::reconstruction_sheet(recon, test_x.slice_rows(0, 10), test_f.slice_rows(0, 10)));
  std::ofstream md(ro.out / (ro.model + "_report.md"));
  md << std::fixed << "# " << ro.model << " on Fashion-MNIST (LeNet features, whitebox distillation)\n\n"
     << "| figure | value |\n|---|---|\n"
     << "| engine accuracy on real test images | " << std::setprecision(2) << 100 * real_acc << " % |\n"
     << "| engine accuracy on reconstructions (" << test_y.size() << " test features) | " << 100 * f.accuracy
     << " % |\n"
     << "| MS-SSIM diversity (200 features, 2 v each) | " << std::setprecision(3) << f.diversity << " |\n"
     << "| H's class accuracy p(c \\| H(x)), 500 real test images | " << std::setprecision(2)
     << 100 * f.latent_accuracy_real << " % |\n"
     << "| H's class accuracy on their reconstructions | " << 100 * f.latent_accuracy_recon << " % |\n"
     << "| generator steps | " << res.steps << " (batch " << o.batch << ") |\n"
     << "| terms | adv " << ro.terms.adversarial << ", recon " << ro.terms.recon << ", distill " << ro.terms.distill
     << ", biject " << ro.terms.biject << " (scales: adversarial " << objective.term<train::adversarial_term>().scale
     << ", biject " << objective.term<train::bijective_term>().scale << ") |\n\n"
     << "![real | reconstruction | 4 more v](" << ro.model << "_sheet.png)\n\n"
     << "During training, `" << ro.model << "_grid_<step>.png` shows the same for 8 test features every 200 steps.\n\n"
     << "H's latents of 500 test images (dots) and of their reconstructions (crosses), coloured by class, on the plane "
        "of "
        "the two leading principal directions of the real latents' class means:\n\n![latents]("
     << ro.model << "_latents.png)\n";
  std::cout << "engine accuracy: real test images " << std::setprecision(2) << 100 * real_acc << "%, reconstructions "
            << 100 * f.accuracy << "%; MS-SSIM diversity " << std::setprecision(3) << f.diversity << "\nwrote "
            << (ro.out / (ro.model + "_report.md")).string() << " and " << (ro.out / (ro.model + "_sheet.png")).string()
            << "\n";
  std::cout << "RESULT model=" << ro.model << " reconstruction_accuracy=" << std::setprecision(4) << f.accuracy
            << " ms_ssim=" << f.diversity << " latent_accuracy=" << f.latent_accuracy_recon
            << " latent_accuracy_real=" << f.latent_accuracy_real << " steps=" << res.steps << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  run_options ro;
  CLI::App app{"DAB-GAN end to end on Fashion-MNIST: engine F, bijection H, generator, reconstructions",
               "dabgan_fashion_mnist"};
  app.add_flag("--quick", ro.quick, "a short run (about 2 minutes)");
  app.add_option("--model", ro.model, "the generator and critic")
      ->check(CLI::IsMember({"dabgan", "dibigan", "pogan"}))
      ->capture_default_str();
  app.add_option("--steps", ro.steps, "GAN steps (default: the model's)")->check(examples::positive);
  app.add_option("--test", ro.test, "test features to reconstruct (default 10,000; 2,000 with --quick)")
      ->check(CLI::Range(index_t{500}, index_t{10000}));
  app.add_flag_callback(
      "--no-biject", [&] { ro.terms.biject = false; }, "drop the bijective metric term");
  app.add_flag_callback(
      "--no-distill", [&] { ro.terms.distill = false; }, "drop the distillation term");
  app.add_flag_callback(
      "--no-recon", [&] { ro.terms.recon = false; }, "drop the reconstruction term");
  app.add_option("--biject-scale", ro.biject_scale, "multiple of Eq. 18's bijective weight")
      ->check(examples::non_negative)
      ->capture_default_str();
  app.add_option("--flow", ro.flow_checkpoint, "load H from this checkpoint instead of training it")
      ->check(CLI::ExistingFile);
  app.add_option("--engine", ro.engine_file, "load the LeNet engine from this file instead of training it")
      ->check(CLI::ExistingFile);
  app.add_flag("--resume", ro.resume, "continue the GAN from its checkpoint in --out");
  app.add_flag("--resume-changed", ro.resume_changed,
               "resume even where the options differ from those the checkpoint recorded (e.g. more epochs)");
  app.add_option("--out", ro.out, "output folder")->capture_default_str();
  return examples::run(app, argc, argv, [&]() -> int {
    examples::require_writable_dir(ro.out);
    set_flush_denormal(true);
    const auto t0 = std::chrono::steady_clock::now();
    fs::create_directories(ro.out);
    const auto train_set = data::load_fashion_mnist("train"), test_set = data::load_fashion_mnist("t10k");
    const auto train_x = engines::pad_to_32(train_set.images), test_x = engines::pad_to_32(test_set.images);
    const index_t n_test = std::clamp<index_t>(ro.test > 0 ? ro.test : ro.quick ? 2000 : 10000, 500, 10000);
    const auto test_xs = test_x.slice_rows(0, n_test);
    const std::vector<int> test_y(test_set.labels.begin(), test_set.labels.begin() + n_test);

    // 1. The engine F: a LeNet classifier; its 1024-D penultimate activation is the feature.
    nn::manual_seed(2026);
    engines::lenet<> engine;
    const fs::path engine_file = ro.engine_file.empty() ? ro.out / "lenet_fashion_mnist.safetensors" : ro.engine_file;
    if (fs::exists(engine_file)) {
      io::load(engine_file, engine);
      std::cout << "engine: loaded " << engine_file.string() << "\n";
    } else {
      std::cout << "engine: training the LeNet (" << (ro.quick ? 1 : 2) << " epochs)\n";
      train::fit_classifier(engine, train_x, train_set.labels, {.epochs = ro.quick ? 1 : 2, .log = &std::cout});
      io::state_dict sd;
      sd.put_module("", engine);
      io::save_safetensors(engine_file, sd);
    }
    nn::eval(engine);

    // 2. H and its class-conditional prior (random means, δ = 0.5, as flow_fashion_mnist).
    const flows::realnvp_options arch{
        .channels = 1, .height = 32, .width = 32, .scales = 3, .blocks = 1, .features = 32};
    nn::manual_seed(2026);
    auto flow = flows::logit_transform<float>{} | flows::realnvp_multiscale<float>(arch);
    const flows::class_gaussian<float> prior{
        .classes = 10, .dim = 1024, .delta = 0.5, .layout = flows::mean_layout::random, .seed = 7};
    const fs::path flow_file =
        !ro.flow_checkpoint.empty() ? ro.flow_checkpoint : ro.out / "flow_fashion_mnist.ckpt.safetensors";
    if (fs::exists(flow_file)) {
      io::load_safetensors(flow_file).load_module("model", flow);
      std::cout << "H: loaded " << flow_file.string() << "\n";
    } else {  // needed for the bijective metric and for the latent figures of the report
      train::flow_fit_options fo;
      fo.max_steps = ro.quick ? 60 : 400;
      fo.class_weight = 0.02;
      fo.checkpoint = flow_file;
      fo.log = &std::cout;
      std::cout << "H: training " << fo.max_steps << " steps (run flow_fashion_mnist for the full H)\n";
      train::fit_flow(flow, prior, train_x, train_set.labels, fo);
      std::cout << "\n";
    }

    // 3. Blackbox queries: F's features of the training and test images, computed once.
    const index_t n_train = ro.quick ? 20000 : 60000;
    train::gan_data data{train_x.slice_rows(0, n_train), engine.features(train_x.slice_rows(0, n_train)),
                         std::vector<int>(train_set.labels.begin(), train_set.labels.begin() + n_train)};
    const auto test_f = engine.features(test_xs);
    std::cout << "features: " << data.features.shape() << " training, " << test_f.shape() << " test\n";

    // Defaults sized for ≈ 15 minutes on 2 cores: DAB-GAN ≈ 1.2 s per step at 32x32, the CNNs ≈ 0.5 s.
    const long steps = ro.quick ? 150 : ro.model == "dabgan" ? 800 : 1500;
    int rc = 0;
    if (ro.model == "dabgan")
      rc = run<models::dabgan<attention_cfg>>(ro, engine, flow, prior, data, test_xs, test_f, test_y, steps);
    else if (ro.model == "dibigan")
      rc = run<models::dibigan<cnn_cfg>>(ro, engine, flow, prior, data, test_xs, test_f, test_y, steps);
    else
      rc = run<models::po_gan<cnn_cfg>>(ro, engine, flow, prior, data, test_xs, test_f, test_y, steps);
    std::cout << "total " << std::setprecision(1)
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
    return rc;
  });
}
