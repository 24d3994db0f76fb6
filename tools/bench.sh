#!/usr/bin/env bash
# Runs bijgan's host benchmarks and the libtorch peer (with OpenBLAS, as in ../shared/anchors)
# in the same session, at 1 and 2 threads, and prints each of our figures beside the peer's
# with the ratio (>1 means bijgan is faster). Needs libtorch-dev and libopenblas0-openmp for
# the peer column; without them the peer column is empty.
#   tools/bench.sh [bench names...]   (default: gemm_bench elementwise_bench autodiff_bench nn_bench flow_bench gan_bench;
#   also faces_bench: the face engine and a 64x64 DAB-GAN step with the whole objective, no peer)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release >/dev/null
cmake --build --preset release --target gemm_bench elementwise_bench autodiff_bench nn_bench flow_bench gan_bench faces_bench $( [ -n "$(find /usr/lib -name TorchConfig.cmake 2>/dev/null | head -1)" ] && echo torch_peer_bench) >/dev/null
out=$(mktemp)
benches=${*:-gemm_bench elementwise_bench autodiff_bench nn_bench flow_bench gan_bench}
for t in 1 2; do
  if [ -x build/release/bench/torch_peer_bench ]; then
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OMP_NUM_THREADS=$t build/release/bench/torch_peer_bench --threads $t >>"$out"
  fi
  for b in $benches; do OMP_NUM_THREADS=$t "build/release/bench/$b" --threads $t >>"$out"; done
done
python3 - "$out" <<'PY'
import sys, collections
rows = [l.rstrip("\n").split("\t")[1:] for l in open(sys.argv[1]) if l.startswith("bench\t")]
peer = {(r[0], r[2]): r for r in rows if r[1] == "libtorch"}
print(f"{'bench':30} {'impl':16} {'thr':>3} {'median ms':>10} {'rate':>10} {'unit':>10} {'peer ms':>10} {'ratio':>7}")
for r in rows:
    name, impl, thr, med, mn, rate, unit = r
    p = peer.get((name, thr))
    ratio = f"{float(p[3]) / float(med):.2f}" if p and impl != "libtorch" else ""
    print(f"{name:30} {impl:16} {thr:>3} {float(med):>10.4g} {float(rate):>10.4g} {unit.split('-')[0]:>10} {(p[3] if p else ''):>10} {ratio:>7}")
PY
rm -f "$out"
