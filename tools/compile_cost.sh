#!/usr/bin/env bash
# Compile cost of a user's translation unit (issue 22 §4): compiles examples/custom_gan.cpp (it
# includes bijgan and calls train::fit_gan) as a user would, without precompiled headers, at -O2
# and at -O0 -g, header-only and as a unit of a target that links bijgan::precompiled (which
# defines BIJGAN_PRECOMPILED), and prints the compiler's CPU seconds (user + sys) and peak RSS
# from GNU time. Targets: <= 20 s of CPU and <= 1 GB at -O2.
#   tools/compile_cost.sh [source, default examples/custom_gan.cpp]
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-examples/custom_gan.cpp}
[ -x /usr/bin/time ] || { echo "compile_cost: needs GNU time (apt-get install -y time)" >&2; exit 1; }
cxx=${CXX:-c++}
# The definitions bijgan::bijgan gives a consumer where oneDNN and OpenBLAS are found (CMakeLists.txt).
common=(-std=gnu++20 -fopenmp -march=x86-64-v3 -Iinclude -isystem /usr/include/eigen3
        -DBIJGAN_HAVE_DNNL -DBIJGAN_HAVE_OPENBLAS -DEIGEN_USE_BLAS)
printf '%-12s %-8s %12s %12s\n' mode flags "CPU s" "peak MB"
for mode in header-only precompiled; do
  defs=()
  [ "$mode" = precompiled ] && defs=(-DBIJGAN_PRECOMPILED)
  for opt in "-O2" "-O0 -g"; do
    log=$(mktemp)
    # shellcheck disable=SC2086
    /usr/bin/time -f '%U %S %M' -o "$log" "$cxx" "${common[@]}" "${defs[@]}" $opt -c "$src" -o /dev/null
    read -r user sys kb <"$log"
    rm -f "$log"
    printf '%-12s %-8s %12.1f %12.0f\n' "$mode" "$opt" "$(echo "$user + $sys" | bc -l)" "$(echo "$kb / 1024" | bc -l)"
  done
done
