// The foundation's demo: a real classifier trained with bijgan's tensors and autodiff on
// Debian's Fashion-MNIST. A 784-256-128-10 GELU network, softmax cross-entropy, Adam, a few
// epochs on 2 cores; prints progress and the test accuracy.
//
//   fashion_mnist_mlp [--epochs N] [--quick] [--out DIR]   (writes DIR/fashion_mnist_test_grid.png; default out/)
#include <bijgan/bijgan.hpp>
#include <bijgan/data/batches.hpp>
#include <bijgan/data/fashion_mnist.hpp>
#include <bijgan/io/png.hpp>
#include <bijgan/io/progress.hpp>

#include "cli.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

using namespace bijgan;
using V = var<float>;
using T = tensor<float>;

namespace {

// A dense layer's parameters, initialised He-style from a truncated normal.
struct dense {
  V w, b;
  dense(index_t in, index_t out, rng& gen)
      : w(parameter(T::random({in, out}, gen, {distribution::truncated_normal, 0, std::sqrt(2.0f / float(in))}))),
        b(parameter(T::zeros({out}))) {}
  V operator()(const V& x) const { return matmul(x, w) + b; }
};

// [docs:model]
struct mlp {
  dense l1, l2, l3;
  explicit mlp(rng& gen) : l1(784, 256, gen), l2(256, 128, gen), l3(128, 10, gen) {}
  V operator()(const V& x) const { return l3(gelu(l2(gelu(l1(x))))); }
  std::vector<V> parameters() const { return {l1.w, l1.b, l2.w, l2.b, l3.w, l3.b}; }
};

// Mean softmax cross-entropy of logits [B, C] against one-hot targets [B, C].
V cross_entropy(const V& logits, const V& one_hot) { return -mean(sum(one_hot * log_softmax(logits, 1), {1})); }
// [docs:model]

T one_hot(const std::vector<int>& labels, const std::vector<index_t>& rows) {
  T t = T::zeros({static_cast<index_t>(rows.size()), 10});
  for (std::size_t i = 0; i < rows.size(); ++i)
    t.data()[i * 10 + static_cast<std::size_t>(labels[static_cast<std::size_t>(rows[i])])] = 1;
  return t;
}

// Adam (Kingma & Ba) on plain tensors, run under no_grad; optim/ will provide the full family.
struct adam {
  float lr, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  int t = 0;
  std::vector<T> m, v;
  void step(const std::vector<V>& params) {
    if (m.empty())
      for (const auto& p : params) {
        m.push_back(T::zeros(p.shape()));
        v.push_back(T::zeros(p.shape()));
      }
    ++t;
    const float c1 = 1 - std::pow(b1, float(t)), c2 = 1 - std::pow(b2, float(t));
    for (std::size_t i = 0; i < params.size(); ++i) {
      const float* g = params[i].grad().data();
      float* w = params[i].value().data();
      float* mi = m[i].data();
      float* vi = v[i].data();
      const index_t n = params[i].numel();
      for (index_t j = 0; j < n; ++j) {
        mi[j] = b1 * mi[j] + (1 - b1) * g[j];
        vi[j] = b2 * vi[j] + (1 - b2) * g[j] * g[j];
        w[j] -= lr * (mi[j] / c1) / (std::sqrt(vi[j] / c2) + eps);
      }
      params[i].zero_grad();
    }
  }
};

double accuracy(const mlp& net, const data::labelled_images& split) {
  no_grad ng;
  const auto x = split.images.reshape({split.images.size(0), 784});
  long right = 0;
  for (index_t s = 0; s < x.size(0); s += 1000) {
    const auto logits = net(constant(x.slice_rows(s, std::min(s + 1000, x.size(0))))).value();
    const auto v = logits.to_vector();
    for (index_t i = 0; i < logits.size(0); ++i) {
      const auto* row = v.data() + i * 10;
      const auto best = std::max_element(row, row + 10) - row;
      right += best == split.labels[static_cast<std::size_t>(s + i)];
    }
  }
  return double(right) / double(x.size(0));
}

}  // namespace

int main(int argc, char** argv) {
  int epochs = 10;
  std::filesystem::path out_dir = "out";
  CLI::App app{"An MLP classifier on Fashion-MNIST", "fashion_mnist_mlp"};
  examples::add_epoch_flags(app, epochs, out_dir);
  return examples::run(app, argc, argv, [&]() -> int {
    examples::require_writable_dir(out_dir);
    const auto train = data::load_fashion_mnist("train");
    const auto test = data::load_fashion_mnist("t10k");
    std::cout << "bijgan " << version_string << ": Fashion-MNIST " << train.images.size(0) << " train / "
              << test.images.size(0) << " test images; host GEMM via " << host_gemm_provider() << ", " << num_threads()
              << " threads\n";
    rng gen(2026);
    mlp net(gen);
    adam opt{.lr = 1e-3f, .m = {}, .v = {}};
    const index_t batch = 128;
    const auto flat = train.images.reshape({train.images.size(0), 784});
    const auto t0 = std::chrono::steady_clock::now();
    for (int e = 1; e <= epochs; ++e) {
      const auto batches = data::shuffled_batches(flat.size(0), batch, 100 + static_cast<std::uint64_t>(e));
      io::progress_bar bar(static_cast<long>(batches.size()),
                           "epoch " + std::to_string(e) + "/" + std::to_string(epochs), batch, std::cout);
      double running = 0;
      long step = 0;
      for (const auto& rows : batches) {
        const auto x = constant(data::gather_rows(flat, rows));
        const auto y = constant(one_hot(train.labels, rows));
        const auto loss = cross_entropy(net(x), y);
        backward(loss);
        opt.step(net.parameters());
        running = step == 0 ? loss.item() : 0.98 * running + 0.02 * loss.item();
        bar.update(++step, {{"loss", running}});
      }
      std::cout << "  test accuracy " << std::fixed << std::setprecision(2) << 100 * accuracy(net, test) << "%\n";
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double acc = accuracy(net, test);
    // The first 64 test images, as a picture of what the network was asked to classify.
    std::filesystem::create_directories(out_dir);
    io::write_png(out_dir / "fashion_mnist_test_grid.png", io::make_grid(test.images.slice_rows(0, 64), 8));
    std::cout << "wrote " << (out_dir / "fashion_mnist_test_grid.png").string() << "\n";
    std::cout << "final test accuracy " << std::setprecision(2) << 100 * acc << "% after " << epochs << " epochs in "
              << std::setprecision(1) << secs << " s\n";
    return acc > 0.80 ? 0 : 1;
  });
}
