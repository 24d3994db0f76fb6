#!/usr/bin/env bash
# The README's test command: installs missing packages, builds the Release preset (with the
# CUDA backend when nvcc is found; its tests skip without a GPU) and runs every test in CTest,
# then builds the libFuzzer targets (fuzz preset: clang, ASan + UBSan) and replays their
# corpora and fuzzes each loader for a bounded time (BIJGAN_FUZZ_SECONDS, default 15).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/ensure-deps.sh
export PATH="$PATH:/usr/local/cuda/bin"
cmake --preset release
cmake --build --preset release
ctest --preset release "$@"
cmake --preset fuzz -DBIJGAN_FUZZ_SECONDS="${BIJGAN_FUZZ_SECONDS:-15}"
cmake --build --preset fuzz
ctest --preset fuzz
