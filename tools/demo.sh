#!/usr/bin/env bash
# The README's demo command: installs missing packages, builds the Release preset and trains
# a classifier on Debian's Fashion-MNIST with bijgan (pass --quick for one epoch).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/ensure-deps.sh
export PATH="$PATH:/usr/local/cuda/bin"
cmake --preset release
cmake --build --preset release --target fashion_mnist_mlp
exec ./build/release/examples/fashion_mnist_mlp "$@"
