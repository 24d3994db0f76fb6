// Fashion-MNIST from Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist).
#pragma once

#include <filesystem>

#include "bijgan/data/idx.hpp"

namespace bijgan::data {

/// One split of Fashion-MNIST: images [N, 1, 28, 28] in [0, 1] and labels 0..9.
struct labelled_images {
  tensor<float, host> images;
  std::vector<int> labels;
};

/// Where Debian installs the data set.
inline std::filesystem::path fashion_mnist_dir() { return "/usr/share/datasets/fashion-mnist"; }

/// True when both splits are installed in dir.
inline bool fashion_mnist_available(const std::filesystem::path& dir = fashion_mnist_dir()) {
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz"})
    if (!std::filesystem::exists(dir / f)) return false;
  return true;
}

/// Loads the "train" (60,000) or "t10k" (10,000) split. Throws io_error naming the missing
/// file and the package that provides it.
inline labelled_images load_fashion_mnist(const std::string& split,
                                          const std::filesystem::path& dir = fashion_mnist_dir()) {
  if (split != "train" && split != "t10k")
    fail<value_error>("load_fashion_mnist", "split is \"train\" or \"t10k\", not \"", split, "\"");
  const auto images = dir / (split + "-images-idx3-ubyte.gz");
  const auto labels = dir / (split + "-labels-idx1-ubyte.gz");
  if (!std::filesystem::exists(images))
    fail<io_error>("load_fashion_mnist", images, " not found: apt-get install dataset-fashion-mnist");
  labelled_images out{load_idx_images(images), load_idx_labels(labels)};
  if (static_cast<index_t>(out.labels.size()) != out.images.size(0))
    fail<io_error>("load_fashion_mnist", out.images.size(0), " images but ", out.labels.size(), " labels in ", dir);
  return out;
}

}  // namespace bijgan::data
