// Engine 1 of the paper's MNIST ablation: a LeNet-style network trained on Fashion-MNIST
// (padded to 32x32), whose 1024-D penultimate activation is the feature the generators later
// invert. Trains with Adam from a range-v3 batch pipeline, shows progress, reports the test
// accuracy, saves the engine as safetensors and checks that the saved file reproduces it.
//
//   lenet_fashion_mnist [--epochs N] [--quick] [--out DIR]   (writes DIR/lenet_fashion_mnist.safetensors)
#include <bijgan/bijgan.hpp>
#include <bijgan/data/batches.hpp>
#include <bijgan/data/fashion_mnist.hpp>
#include <bijgan/engines/lenet.hpp>
#include <bijgan/io/progress.hpp>
#include <bijgan/io/safetensors.hpp>
#include <bijgan/optim/optim.hpp>
#include <bijgan/train/classifier.hpp>

#include "cli.hpp"

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>

using namespace bijgan;

namespace {

double accuracy(const engines::lenet<>& net, const tensor<float>& images, const std::vector<int>& labels) {
  const auto pred = net.classify(images);
  long right = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) right += pred[i] == labels[i];
  return double(right) / double(pred.size());
}

}  // namespace

int main(int argc, char** argv) {
  int epochs = 4;
  std::filesystem::path out_dir = "out";
  CLI::App app{"Trains the LeNet engine F on Fashion-MNIST and saves it", "lenet_fashion_mnist"};
  examples::add_epoch_flags(app, epochs, out_dir);
  return examples::run(app, argc, argv, [&]() -> int {
    examples::require_writable_dir(out_dir);
    const auto train = data::load_fashion_mnist("train");
    const auto test = data::load_fashion_mnist("t10k");
    const auto train_x = engines::pad_to_32(train.images), test_x = engines::pad_to_32(test.images);
    nn::manual_seed(2026);
    engines::lenet<> net;
    std::cout << "LeNet engine: " << nn::parameter_count(net) << " parameters, feature dim " << net.feature_dim << ", "
              << num_threads() << " threads\n";
    const auto t0 = std::chrono::steady_clock::now();
    train::fit_classifier(net, train_x, train.labels, {.epochs = epochs, .log = &std::cout},
                          {train::at_epoch_end([&](int) {
                            std::cout << "  test accuracy " << std::fixed << std::setprecision(2)
                                      << 100 * accuracy(net, test_x, test.labels) << "%\n";
                          })});
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double acc = accuracy(net, test_x, test.labels);
    std::filesystem::create_directories(out_dir);
    const auto path = out_dir / "lenet_fashion_mnist.safetensors";
    io::state_dict d;
    d.put_module("", net);
    d.metadata["engine"] = "bijgan::engines::lenet";
    d.metadata["test_accuracy"] = std::to_string(acc);
    io::save_safetensors(path, d);
    // The saved engine, loaded into a fresh network, classifies exactly as the trained one.
    nn::manual_seed(1);
    engines::lenet<> loaded;
    io::load(path, loaded);
    const double reloaded = accuracy(loaded, test_x, test.labels);
    std::cout << "final test accuracy " << std::setprecision(2) << 100 * acc << "% after " << epochs << " epochs in "
              << std::setprecision(1) << secs << " s; saved " << path.string() << " (reloaded: " << std::setprecision(2)
              << 100 * reloaded << "%)\n";
    if (reloaded != acc) {
      std::cerr << "reloaded engine disagrees with the trained one\n";
      return 1;
    }
    return acc >= (epochs >= 3 ? 0.89 : 0.80) ? 0 : 1;
  });
}
