#!/usr/bin/env bash
# The README's demo command: installs missing packages, builds the Release preset and runs the
# method end to end on Debian's Fashion-MNIST (examples/dabgan_fashion_mnist): a LeNet engine,
# the bijection H, DAB-GAN trained from the engine's features, the test set reconstructed from
# its features only, and a report in out/ (pass --quick for a ≤ 3-minute smoke run; any other
# option of the program is passed through).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/ensure-deps.sh
export PATH="$PATH:/usr/local/cuda/bin"
cmake --preset release
cmake --build --preset release --target dabgan_fashion_mnist
exec ./build/release/examples/dabgan_fashion_mnist "$@"
