// The demo (README's main command): the paper's MNIST ablation on Fashion-MNIST. A LeNet engine
// F (trained here, or loaded), the bijection H with its class-conditional prior (loaded from
// flow_fashion_mnist's checkpoint, or trained briefly), then DAB-GAN trained from F's features of
// the training images with the full objective of Eq. 16 (whitebox distillation through the
// LeNet, as the paper's ablation does). The test images are reconstructed from their features
// only; F classifies the reconstructions; a markdown report with PNG grids is written.
//
//   dabgan_fashion_mnist [--quick] [--model dabgan|dibigan|pogan] [--steps N] [--no-biject]
//                        [--no-distill] [--no-recon] [--flow CKPT] [--engine FILE] [--resume] [--out DIR]
#include <bijgan/bijgan.hpp>
#include <bijgan/eval/reconstruction.hpp>
#include <bijgan/models/models.hpp>
#include <bijgan/train/adversarial.hpp>
#include <bijgan/train/classifier.hpp>
#include <bijgan/train/flow_training.hpp>

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
constexpr models::gan_config cnn_cfg{.channels = 1, .resolution = 32, .feature_dim = 1024, .noise_dim = 32, .width = 32};
constexpr models::gan_config attention_cfg{.channels = 1, .resolution = 32, .feature_dim = 1024, .noise_dim = 32, .embed = 64,
                                           .heads = 4, .depth = 1, .bicubic_stages = 2, .critic_patch = 4, .critic_embed = 64};
static_assert(models::dabgan<attention_cfg>::accepts<engines::lenet<>>);
static_assert(models::dibigan<cnn_cfg>::accepts<engines::lenet<>>);

struct run_options {
  std::string model = "dabgan";
  bool quick = false;
  long steps = 0;  // 0: the model's default
  train::gan_terms terms{};
  fs::path flow_checkpoint;
  fs::path engine_file;
  fs::path out = "out";
  bool resume = false;
};

using flow_type = decltype(flows::logit_transform<float>{} | flows::realnvp_multiscale<float>(flows::realnvp_options{}));

/// Test-set figures of a trained generator.
struct figures {
  double accuracy = 0, diversity = 0;
  std::vector<int> predicted;
};

template <class G>
figures evaluate(const G& g, const engines::lenet<>& engine, const tensor<float>& features, const std::vector<int>& labels) {
  figures f;
  const auto recon = eval::reconstruct(g, features, 2026);
  f.accuracy = eval::class_accuracy([&](const tensor<float>& x) { return f.predicted = engine.classify(x), f.predicted; }, recon, labels);
  f.diversity = eval::ms_ssim_diversity(g, features.slice_rows(0, 200), 77);
  return f;
}

/// Rows: real | reconstruction | 4 reconstructions with other v, for the first `rows` test images.
template <class G>
tensor<float> sheet(const G& g, const tensor<float>& images, const tensor<float>& features, index_t rows) {
  std::vector<float> out;
  const auto per = images.numel() / images.size(0);
  const auto real = images.slice_rows(0, rows).to_vector();
  std::vector<std::vector<float>> recon;
  for (std::uint64_t s = 0; s < 5; ++s) recon.push_back(eval::reconstruct(g, features.slice_rows(0, rows), 2026 + s * 1000).to_vector());
  for (index_t r = 0; r < rows; ++r) {
    out.insert(out.end(), real.begin() + r * per, real.begin() + (r + 1) * per);
    for (const auto& rc : recon) out.insert(out.end(), rc.begin() + r * per, rc.begin() + (r + 1) * per);
  }
  return tensor<float>::from(out, shape{rows * 6, images.size(1), images.size(2), images.size(3)});
}

template <class M>
int run(const run_options& ro, const engines::lenet<>& engine, const flow_type& flow, const train::gan_data& data,
        const tensor<float>& test_x, const tensor<float>& test_f, const std::vector<int>& test_y, long default_steps) {
  nn::manual_seed(11);
  typename M::template generator<> g;
  typename M::template critic<> d;
  std::cout << ro.model << ": generator " << nn::parameter_count(g) << " parameters, critic " << nn::parameter_count(d) << "\n";
  train::gan_options o;
  o.steps = ro.steps > 0 ? ro.steps : default_steps;
  o.steps_per_stage = o.steps / 6;  // stages 4x4 … 32x32 take the first 3/6 of the run, then 32x32 to the end
  o.fade_steps = o.steps_per_stage / 2;
  o.batch = 32;
  o.n_critic = 1;
  o.lr_generator = 1e-3, o.lr_critic = 1e-3;
  o.clip_norm = 5;
  o.terms = ro.terms;
  o.scales.adversarial = 0.02;  // Eq. 18's e^R (≈ 55 at 32x32) would drown the other terms at this scale
  o.checkpoint = ro.out / (ro.model + ".ckpt.safetensors");
  o.checkpoint_every = 100;
  o.resume = ro.resume;
  const std::vector<train::gan_callback> callbacks{train::csv_log(ro.out / (ro.model + "_losses.csv"))};
  auto ema = g;
  const auto res = train::fit_gan(g, d, data, o, &flow, &engine, callbacks, &ema);
  std::cout << "\ntrained " << res.steps - res.resumed_from << " steps in " << std::fixed << std::setprecision(1) << res.seconds << " s ("
            << std::setprecision(1) << double(res.steps - res.resumed_from) * double(o.batch) / std::max(1e-9, res.seconds)
            << " images/s)\n";
  const auto f = evaluate(ema, engine, test_f, test_y);
  const auto real_acc = eval::class_accuracy([&](const tensor<float>& x) { return engine.classify(x); }, test_x, test_y);
  io::write_png(ro.out / (ro.model + "_sheet.png"), io::make_grid(sheet(ema, test_x, test_f, 10), 6));
  std::ofstream md(ro.out / (ro.model + "_report.md"));
  md << "# " << ro.model << " on Fashion-MNIST (LeNet features, whitebox distillation)\n\n"
     << "| figure | value |\n|---|---|\n"
     << "| engine accuracy on real test images | " << std::setprecision(2) << 100 * real_acc << " % |\n"
     << "| engine accuracy on reconstructions (" << test_y.size() << " test features) | " << 100 * f.accuracy << " % |\n"
     << "| MS-SSIM diversity (200 features, 2 v each) | " << std::setprecision(3) << f.diversity << " |\n"
     << "| generator steps | " << res.steps << " (batch " << o.batch << ") |\n"
     << "| terms | adv " << o.terms.adversarial << ", recon " << o.terms.recon << ", distill " << o.terms.distill << ", biject "
     << o.terms.biject << " |\n\n"
     << "![real | reconstruction | 4 more v](" << ro.model << "_sheet.png)\n";
  std::cout << "engine accuracy: real test images " << std::setprecision(2) << 100 * real_acc << "%, reconstructions " << 100 * f.accuracy
            << "%; MS-SSIM diversity " << std::setprecision(3) << f.diversity << "\nwrote " << (ro.out / (ro.model + "_report.md")).string()
            << " and " << (ro.out / (ro.model + "_sheet.png")).string() << "\n";
  std::cout << "RESULT model=" << ro.model << " reconstruction_accuracy=" << std::setprecision(4) << f.accuracy
            << " ms_ssim=" << f.diversity << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  run_options ro;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool more = i + 1 < argc;
    if (a == "--quick") ro.quick = true;
    else if (a == "--model" && more) ro.model = argv[++i];
    else if (a == "--steps" && more) ro.steps = std::stol(argv[++i]);
    else if (a == "--no-biject") ro.terms.biject = false;
    else if (a == "--no-distill") ro.terms.distill = false;
    else if (a == "--no-recon") ro.terms.recon = false;
    else if (a == "--flow" && more) ro.flow_checkpoint = argv[++i];
    else if (a == "--engine" && more) ro.engine_file = argv[++i];
    else if (a == "--resume") ro.resume = true;
    else if (a == "--out" && more) ro.out = argv[++i];
    else {
      std::cerr << "usage: dabgan_fashion_mnist [--quick] [--model dabgan|dibigan|pogan] [--steps N] [--no-biject] [--no-distill] "
                   "[--no-recon] [--flow CKPT] [--engine FILE] [--resume] [--out DIR]\n";
      return 2;
    }
  }
  if (ro.model != "dabgan" && ro.model != "dibigan" && ro.model != "pogan") {
    std::cerr << "--model takes dabgan, dibigan or pogan, not " << ro.model << "\n";
    return 2;
  }
  set_flush_denormal(true);
  try {
    const auto t0 = std::chrono::steady_clock::now();
    fs::create_directories(ro.out);
    const auto train_set = data::load_fashion_mnist("train"), test_set = data::load_fashion_mnist("t10k");
    const auto train_x = engines::pad_to_32(train_set.images), test_x = engines::pad_to_32(test_set.images);
    const index_t n_test = ro.quick ? 2000 : 10000;
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
      train::fit_classifier(engine, train_x, train_set.labels, {.epochs = ro.quick ? 1 : 2});
      io::state_dict sd;
      sd.put_module("", engine);
      io::save_safetensors(engine_file, sd);
    }
    nn::eval(engine);

    // 2. H and its class-conditional prior (random means, δ = 0.5, as flow_fashion_mnist).
    const flows::realnvp_options arch{.channels = 1, .height = 32, .width = 32, .scales = 3, .blocks = 1, .features = 32};
    nn::manual_seed(2026);
    auto flow = flows::logit_transform<float>{} | flows::realnvp_multiscale<float>(arch);
    const flows::class_gaussian<float> prior{.classes = 10, .dim = 1024, .delta = 0.5, .layout = flows::mean_layout::random, .seed = 7};
    const fs::path flow_file = !ro.flow_checkpoint.empty() ? ro.flow_checkpoint : ro.out / "flow_fashion_mnist.ckpt.safetensors";
    if (fs::exists(flow_file)) {
      io::load_safetensors(flow_file).load_module("model", flow);
      std::cout << "H: loaded " << flow_file.string() << "\n";
    } else if (ro.terms.biject) {
      train::flow_fit_options fo;
      fo.max_steps = ro.quick ? 60 : 400;
      fo.class_weight = 0.02;
      fo.checkpoint = ro.out / "flow_fashion_mnist.ckpt.safetensors";
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
    if (ro.model == "dabgan") rc = run<models::dabgan<attention_cfg>>(ro, engine, flow, data, test_xs, test_f, test_y, steps);
    else if (ro.model == "dibigan") rc = run<models::dibigan<cnn_cfg>>(ro, engine, flow, data, test_xs, test_f, test_y, steps);
    else rc = run<models::po_gan<cnn_cfg>>(ro, engine, flow, data, test_xs, test_f, test_y, steps);
    std::cout << "total " << std::setprecision(1)
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
    return rc;
  } catch (const bijgan::error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
