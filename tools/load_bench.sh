#!/usr/bin/env bash
# Speed under load (issue 22 §3): the face engine (batches of 32 crops, needs ../shared/data) and
# the anchors' WGAN-GP critic step at 1 and 2 threads, on an idle machine and with a busy loop
# on one core that this script starts and stops itself; each under the adaptive thread policy
# (the default) and under BIJGAN_THREAD_POLICY=fixed (the count asked for, as before). Prints
# the median ms of each and, per setting, the speed of 2 threads over 1 thread (time at 1 thread /
# time at 2; the target under load: >= 0.8).
#   tools/load_bench.sh [build dir, default build/release]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build/release}
for b in faces_bench gan_bench; do
  [ -x "$dir/bench/$b" ] || { echo "load_bench: $dir/bench/$b is missing (cmake --build --preset release --target $b)" >&2; exit 1; }
done
busy=""
stop_busy() { if [ -n "$busy" ]; then kill "$busy" 2>/dev/null || true; wait "$busy" 2>/dev/null || true; busy=""; fi; }
trap stop_busy EXIT
# ms <policy> <threads> <bench> <args...>: the median ms of the workload named $want.
ms() {
  local policy=$1 t=$2 b=$3
  shift 3
  BIJGAN_THREAD_POLICY=$policy OMP_NUM_THREADS=$t "$dir/bench/$b" --threads "$t" "$@" |
    awk -F'\t' -v want="$want" '$1 == "bench" && $2 == want { print $5; exit }'
}
printf '%-6s %-9s %-28s %10s %10s %8s\n' load policy "workload (median ms)" "1 thread" "2 threads" "speed 2t/1t"
for load in idle busy; do
  if [ "$load" = busy ]; then
    ( while :; do :; done ) &
    busy=$!
    sleep 1
  fi
  for policy in adaptive fixed; do
    want=face_engine_b32
    if [ -d ../shared/data/face-recognition-model ]; then
      one=$(ms "$policy" 1 faces_bench --engine-only); two=$(ms "$policy" 2 faces_bench --engine-only)
      printf '%-6s %-9s %-28s %10s %10s %8.2f\n' "$load" "$policy" "face engine, 32 crops" "$one" "$two" "$(echo "$one / $two" | bc -l)"
    else
      echo "# face engine: ../shared/data/face-recognition-model absent, skipped"
    fi
    want=wgan_critic_step
    one=$(ms "$policy" 1 gan_bench --critic-only); two=$(ms "$policy" 2 gan_bench --critic-only)
    printf '%-6s %-9s %-28s %10s %10s %8.2f\n' "$load" "$policy" "WGAN-GP critic step, b64" "$one" "$two" "$(echo "$one / $two" | bc -l)"
  done
  stop_busy
done
