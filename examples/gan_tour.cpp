// The README's few-lines program: an engine, a dataset, a DAB-GAN config and its training, then
// reconstructions from features alone. Tiny sizes so CTest runs it in seconds (gan_tour);
// examples/dabgan_fashion_mnist is the full run. Exits 77 (skipped) without Fashion-MNIST.
#include <bijgan/bijgan.hpp>
#include <bijgan/eval/reconstruction.hpp>
#include <bijgan/models/models.hpp>
#include <bijgan/train/adversarial.hpp>
#include <bijgan/train/classifier.hpp>

#include "cli.hpp"

#include <iostream>

int main(int argc, char** argv) {
  using namespace bijgan;
  index_t n = 256;
  long steps = 4;
  CLI::App app{"A DAB-GAN trained for a few steps on Fashion-MNIST (the README's tour)", "gan_tour"};
  app.add_option("images", n, "training images")->check(CLI::Range(index_t{32}, index_t{60000}))->capture_default_str();
  app.add_option("steps", steps, "GAN steps")->check(examples::positive)->capture_default_str();
  return examples::run(app, argc, argv, [&]() -> int {
    if (!data::fashion_mnist_available()) {
      std::cout << "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): skipped\n";
      return 77;
    }
    // [docs:gan-tour]
    constexpr models::gan_config cfg{.channels = 1,
                                     .resolution = 32,
                                     .feature_dim = 1024,
                                     .noise_dim = 32,
                                     .embed = 64,
                                     .bicubic_stages = 2,
                                     .critic_patch = 4};
    const auto set = data::load_fashion_mnist("train");
    const auto images = engines::pad_to_32(set.images).slice_rows(0, n);
    const std::vector<int> labels(set.labels.begin(), set.labels.begin() + n);

    engines::lenet<> engine;  // the engine F: trained here (or io::load it)
    train::fit_classifier(engine, images, labels, {.epochs = 1, .log = &std::cout});
    const train::gan_data data{images, engine.features(images), labels};  // blackbox queries

    models::dabgan<cfg>::generator<> g;
    models::dabgan<cfg>::critic<> d;
    train::gan_options o;
    o.steps = steps, o.batch = 32, o.log = &std::cout;
    // The method's terms but the bijective one (it needs an H from flows/): whitebox
    // distillation through the LeNet.
    const train::objective terms(train::adversarial_term{}, train::reconstruction_term{}, train::distillation_term{});
    train::fit_gan(train::gan(g, d).with_distiller(engine), data, o, terms);

    const auto recon = eval::reconstruct(g, engine.features(images.slice_rows(0, 8)), 1);
    // [docs:gan-tour]
    std::cout << "\nreconstructions " << recon.shape() << "\n";
    return recon.shape() == shape{8, 1, 32, 32} ? 0 : 1;
  });
}
