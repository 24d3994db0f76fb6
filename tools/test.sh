#!/usr/bin/env bash
# The README's test command: installs missing packages, builds the Release preset (with the
# CUDA backend when nvcc is found; its tests skip without a GPU) and runs every test in CTest,
# then the libFuzzer targets (fuzz preset: clang, ASan + UBSan): every corpus replayed and every
# loader fuzzed for a bounded time (BIJGAN_FUZZ_SECONDS, default 10). The fuzz targets build
# while the release tests run (they use one core each).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each phase's end, in seconds since the start (where CI's time goes).
phase() { echo "tools/test.sh: $1 at +${SECONDS} s"; }
bash tools/ensure-deps.sh
phase "dependencies"
export PATH="$PATH:/usr/local/cuda/bin"
# CUDA code is compiled for the GPU that is here, or only for sm_90 (the H200 of the device
# machines) where there is none: the tests need it to compile, and each extra architecture
# compiles every kernel again. Library users get 75 and 90 by default (cmake/bijgan_dependencies.cmake).
cuda_arch=90
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then cuda_arch=native; fi
cmake --preset release -DCMAKE_CUDA_ARCHITECTURES="$cuda_arch"
cmake --preset fuzz -DBIJGAN_FUZZ_SECONDS="${BIJGAN_FUZZ_SECONDS:-10}" >build/fuzz-configure.log 2>&1 || { cat build/fuzz-configure.log; exit 1; }
cmake --build --preset release
phase "release build"
cmake --build --preset fuzz >build/fuzz-build.log 2>&1 &
fuzz_build=$!
status=0
ctest --preset release "$@" || status=$?
phase "release tests"
fuzz_status=0
wait "$fuzz_build" || fuzz_status=$?
phase "fuzz build"
cat build/fuzz-build.log
[ "$fuzz_status" -eq 0 ] || { echo "tools/test.sh: building the fuzz targets failed" >&2; exit "$fuzz_status"; }
ctest --preset fuzz || status=$?
phase "fuzz tests"
exit "$status"
