#!/usr/bin/env bash
# The README's test command: installs missing packages, builds the Release preset (with the
# CUDA backend when nvcc is found; its tests skip without a GPU) and runs every test in CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/ensure-deps.sh
export PATH="$PATH:/usr/local/cuda/bin"
cmake --preset release
cmake --build --preset release
ctest --preset release "$@"
