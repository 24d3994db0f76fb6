#!/usr/bin/env bash
# Installs the Debian packages bijgan needs when they are missing: with apt-get as root,
# otherwise prints the exact command to run and fails. Run by tools/demo.sh, test.sh, fuzz.sh and
# ablation.sh; with package names as arguments it ensures those instead (tools/bench.sh faces:
# libtorch-dev for the PyTorch twin).
set -euo pipefail
bijgan_packages=(cmake ninja-build g++ pkg-config libeigen3-dev libxtensor-dev libxsimd-dev xtl-dev
  librange-v3-dev libboost-test-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev libpng-dev libturbojpeg0-dev libopenblas-dev libopenblas0-openmp libdnnl-dev libonnx-dev libprotobuf-dev zlib1g-dev
  libopenmpi-dev openmpi-bin clang clang-format clang-tidy libclang-rt-14-dev libomp-dev dataset-fashion-mnist)
[ $# -gt 0 ] && bijgan_packages=("$@")
missing=()
for p in "${bijgan_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  line="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    echo "bijgan: installing missing packages: ${missing[*]}"
    bash -c "$line"
  else
    echo "bijgan: missing Debian packages. Run as root:" >&2
    echo "  $line" >&2
    exit 1
  fi
fi
