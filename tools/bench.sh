#!/usr/bin/env bash
# Runs bijgan's host benchmarks and the libtorch peer (with OpenBLAS, as in ../shared/anchors)
# in the same session, at 1 and 2 threads, and prints each of our figures beside the peer's
# with the ratio (>1 means bijgan is faster). Needs libtorch-dev and libopenblas0-openmp for
# the peer column; without them the peer column is empty.
#   tools/bench.sh [bench names...]   (default: gemm_bench elementwise_bench autodiff_bench nn_bench flow_bench gan_bench;
#   also faces_bench: the face engine and a 64x64 DAB-GAN step with the whole objective, no peer)
#   tools/bench.sh faces   (the faces step beside its PyTorch twin, bench/peer/torch_faces_twin.cpp:
#   ms/step, the ratio and each side's peak RSS, one process per measurement, then the parts alone)
#   tools/bench.sh engines (file engines on their reference inputs, images/s, beside their own
#   runtime: onnxruntime-node 1.30.0 for ONNX, TensorFlow.js 4.22.0's WASM backend for TF.js
#   graph models, from npm, installed into build/peer-node on first use)
#   tools/bench.sh dist    (the faces step as 2 MPI ranks x 1 thread against 1 rank x 2 threads, the
#   allreduce bandwidth, bytes and time per step: docs/distributed.md)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = engines ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target engine_bench >/dev/null
  ort=build/peer-node
  if [ ! -d "$ort/node_modules/onnxruntime-node" ]; then
    command -v npm >/dev/null || { echo "tools/bench.sh engines: needs Node.js and npm for the onnxruntime peer (apt-get install nodejs npm)" >&2; exit 1; }
    mkdir -p "$ort" && (cd "$ort" && npm init -y >/dev/null && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund onnxruntime-node@1.30.0 >/dev/null)
  fi
  if [ ! -d "$ort/node_modules/@tensorflow/tfjs-backend-wasm" ]; then
    (cd "$ort" && npm install --no-audit --no-fund @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0 >/dev/null)
  fi
  e=../shared/data/face-engines
  m=../shared/data/face-engines/arcface512
  out=$(mktemp)
  for t in 1 2; do
    OMP_NUM_THREADS=$t build/release/bench/engine_bench --threads "$t" >>"$out"
    NODE_PATH="$ort/node_modules" node bench/peer/onnxruntime_engine.js "$m/fr_feature.onnx" "$m/imgs_8x112x112x3_u8.bin" 3 112 112 127 128 "$t" onnx_engine_arcface512 >>"$out"
    NODE_PATH="$ort/node_modules" node bench/peer/onnxruntime_engine.js "$m/fr_detect.onnx" "$m/det_inputs_8x240x320x3_u8.bin" 3 240 320 127 128 "$t" onnx_model_fr_detect >>"$out"
    NODE_PATH="$ort/node_modules" node bench/peer/onnxruntime_engine.js "$m/fr_landmark.onnx" "$m/lm_inputs_8x64x64_u8.bin" 1 64 64 0 256 "$t" onnx_model_fr_landmark >>"$out"
    NODE_PATH="$ort/node_modules" node bench/peer/tfjs_engine.js "$e/faceres1024/faceres.json" "$e/faceres1024/imgs_8x224x224x3_u8.bin" 224 1 global_pooling/Mean "$t" >>"$out"
    NODE_PATH="$ort/node_modules" node bench/peer/tfjs_engine.js "$e/mobilefacenet192/mobilefacenet.json" "$e/mobilefacenet192/imgs_8x112x112x3_u8.bin" 112 0.00392156862745098 embeddings "$t" >>"$out"
  done
  python3 - "$out" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.startswith("bench\t")]
peer = {(r[1], r[3]): r for r in rows if r[2] != "bijgan"}
print(f"{'engine':28} {'thr':>3} {'bijgan ms/img':>14} {'runtime ms/img':>15} {'ratio':>6}")
for r in rows:
    if r[2] != "bijgan": continue
    p = peer.get((r[1], r[3]))
    print(f"{r[1]:28} {r[3]:>3} {float(r[4]):>14.2f} {(p[4] if p else '-'):>15} {(f'{float(p[4]) / float(r[4]):.2f}' if p else ''):>6}")
print("ratio: the engine's own runtime ms / bijgan ms (> 1: bijgan faster); medians over the 8 reference images, one per call")
print("(_batch8: ours on all 8 in one call, no peer)")
PY
  rm -f "$out"
  exit 0
fi
if [ "${1:-}" = dist ]; then
  # The faces 64x64 step, global batch 32, as 2 ranks x 1 thread (mpirun) against 1 rank x 2
  # threads, alternating, 3 times each (one process per measurement), with the allreduce
  # bandwidth sweep, the allreduce bytes and time per step, and each run's peak RSS.
  bash tools/ensure-deps.sh libopenmpi-dev openmpi-bin
  cmake --preset release >/dev/null
  cmake --build --preset release --target faces_bench >/dev/null
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  for run in 1 2 3; do
    echo "== run $run: 1 rank x 2 threads"
    OMP_NUM_THREADS=2 build/release/bench/faces_bench --threads 2 --step-only full | grep -E "^bench|peak"
    echo "== run $run: 2 ranks x 1 thread (mpirun --bind-to core)"
    OMP_NUM_THREADS=1 mpirun -np 2 --bind-to core -x OMP_NUM_THREADS build/release/bench/faces_bench --threads 1 --dist |
      grep -E "^bench|^# per step|peak" | { [ "$run" = 1 ] && cat || grep -v allreduce_; }
  done
  exit 0
fi
[ "${1:-}" = faces ] && bash tools/ensure-deps.sh libtorch-dev libopenblas0-openmp  # the twin's libtorch
cmake --preset release >/dev/null
if [ "${1:-}" = faces ]; then
  cmake --build --preset release --target faces_bench torch_faces_twin >/dev/null
  export LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp
  out=$(mktemp)
  for t in 1 2; do
    for run in "twin step" "ours distill" "ours full" "twin parts" "ours parts"; do
      set -- $run
      if [ "$1" = twin ]; then cmd=(build/release/bench/torch_faces_twin --threads "$t"); impl=libtorch
      else cmd=(build/release/bench/faces_bench --threads "$t"); impl=bijgan; fi
      case $2 in distill) cmd+=(--step-only distill) ;; full) cmd+=(--step-only full) ;; parts) cmd+=(--parts) ;; esac
      OMP_NUM_THREADS=$t "${cmd[@]}" | awk -v impl="$impl" -v t="$t" -v what="$2" '
        /^# parameters/ { print "params\t" impl "\t" $0 }
        /^bench\t/ { split($0, f, "\t"); name[++n] = f[2]; med[n] = f[5] }
        /^# peak RSS/ { rss = $4 }
        END { for (i = 1; i <= n; ++i) print "row\t" name[i] "\t" impl "\t" t "\t" med[i] "\t" (what == "parts" ? "" : rss) }' >>"$out"
    done
  done
  python3 - "$out" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
for line in dict.fromkeys(f"{r[1]:9} {r[2][2:]}" for r in rows if r[0] == "params"): print(line)
peer = {(r[1], r[3]): r for r in rows if r[0] == "row" and r[2] == "libtorch"}
print(f"{'workload':34} {'thr':>3} {'bijgan ms':>10} {'twin ms':>10} {'ratio':>6} {'bijgan MB':>10} {'twin MB':>9}")
for r in rows:
    if r[0] != "row" or r[2] != "bijgan": continue
    p = peer.get((r[1], r[3]))
    ratio = f"{float(p[4]) / float(r[4]):.2f}" if p else ""
    print(f"{r[1]:34} {r[3]:>3} {float(r[4]):>10.1f} {(p[4] if p else '-'):>10} {ratio:>6} {r[5] or '':>10} {(p[5] if p else '') or '':>9}")
print("ratio: twin ms / bijgan ms (> 1: bijgan faster). The twin has no H: dabgan64_full_step_b32 (ours, with H) has no twin;")
print("compare dabgan64_step_b32_distill (adversarial + GP + reconstruction + distillation) and the parts.")
PY
  rm -f "$out"
  exit 0
fi
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
