#!/usr/bin/env bash
# Fuzzes the loaders with libFuzzer under ASan + UBSan: tools/fuzz.sh [target|all] [seconds]
# [jobs]. Builds the fuzz preset (clang), then runs each target from its committed corpus
# (tests/fuzz/corpus/<target>), adding what it finds to build/fuzz/tests/fuzz/work/<target> and
# any crash to build/fuzz/tests/fuzz/artifacts/. Prints executions and crashes per target.
# Targets: safetensors checkpoint npy json image tfjs idx lfw_pairs. A crash input replays with
#   build/fuzz/tests/fuzz/fuzz_<target> <file>
# New seeds: BIJGAN_FUZZ_WRITE_SEEDS=tests/fuzz/corpus build/fuzz/tests/fuzz/bijgan_fuzz
# tools/fuzz.sh merge [target|all]: folds what the runs found (work/<target>) into the committed
# corpus, minimised (libFuzzer -merge=1: only inputs that add coverage are kept).
set -euo pipefail
cd "$(dirname "$0")/.."
all=(safetensors checkpoint npy json image tfjs idx lfw_pairs)
bin=build/fuzz/tests/fuzz
if [ "${1:-}" = merge ]; then
  target="${2:-all}"
  [ "$target" = all ] && targets=("${all[@]}") || targets=("$target")
  for t in "${targets[@]}"; do
    merged=$(mktemp -d)
    "$bin/fuzz_$t" -merge=1 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 "$merged" "tests/fuzz/corpus/$t" "$bin/work/$t" \
      >"$bin/work/$t.merge.log" 2>&1
    rm -rf "tests/fuzz/corpus/$t" && mv "$merged" "tests/fuzz/corpus/$t" && chmod 755 "tests/fuzz/corpus/$t"
    echo "$t: $(ls "tests/fuzz/corpus/$t" | wc -l) inputs, $(du -sk "tests/fuzz/corpus/$t" | cut -f1) KiB"
  done
  exit 0
fi
target="${1:-all}"
seconds="${2:-60}"
jobs="${3:-1}"
[ "$target" = all ] && targets=("${all[@]}") || targets=("$target")
bash tools/ensure-deps.sh
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
status=0
for t in "${targets[@]}"; do
  [ -x "$bin/fuzz_$t" ] || { echo "fuzz.sh: no target '$t' (one of: ${all[*]})" >&2; exit 2; }
  mkdir -p "$bin/work/$t" "$bin/artifacts"
  log="$bin/work/$t.log"
  set +e
  "$bin/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -print_final_stats=1 -jobs="$jobs" -workers="$jobs" -artifact_prefix="$bin/artifacts/$t-" \
    "$bin/work/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  if [ "$jobs" -gt 1 ]; then cat fuzz-*.log >>"$log" 2>/dev/null; rm -f fuzz-*.log; fi
  execs=$(grep -h "stat::number_of_executed_units" "$log" | awk '{s += $2} END {print s + 0}')
  crashes=$(ls "$bin/artifacts" 2>/dev/null | grep -c "^$t-" || true)
  echo "$t: $execs executions in ${seconds} s, exit $rc, $crashes crash files (log: $log)"
  [ "$rc" -eq 0 ] || status=1
done
exit $status
