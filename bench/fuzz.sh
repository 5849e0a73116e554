#!/usr/bin/env bash
# Fuzzing at length: every target in tests/fuzz from its corpus under ASan+UBSan, for SECONDS each
# (default FUZZ_SECONDS, else 600; `bench/fuzz.sh 3600` for an hour each), or until FUZZ_RUNS
# executions when that is set (`FUZZ_RUNS=1000000 bench/fuzz.sh 86400`). Builds build-fuzz with
# tests/fuzz/build.sh; writes bench/results/fuzz.md: per target, executions, execs/s, coverage
# (edges), corpus size, crashes. Exits nonzero when a target found a crash (kept in
# tests/fuzz/regressions/<target>/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-${FUZZ_SECONDS:-600}}
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
targets=()
for f in "$root"/tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$f" .cpp)"); done
"$root/tests/fuzz/build.sh" "$build" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$root/bench/results/fuzz.md
failed=0
{
  echo "# Fuzzing: ${seconds} s per target${FUZZ_RUNS:+ or ${FUZZ_RUNS} executions}"
  echo
  echo "$(date -u +%FT%TZ), $(nproc) cores, $(clang --version | head -n 1), commit $(git -C "$root" rev-parse --short HEAD)"
  echo
  echo "| target | executions | execs/s | coverage (edges) | features | corpus (inputs) | crashes |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
} >"$work/table"
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  dict=$root/tests/fuzz/dict/$t.dict
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1
        -artifact_prefix="$work/$t-")
  [ -f "$dict" ] && args+=(-dict="$dict")
  [ -n "${FUZZ_RUNS:-}" ] && args+=(-runs="$FUZZ_RUNS")
  rc=0
  ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$root/tests/fuzz/lsan.supp UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$build/tests/fuzz/$t" "${args[@]}" "$work/$t" "$root/tests/fuzz/corpus/$t" >"$work/$t.log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t.log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+' "$work/$t.log" | tail -n 1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "$work/$t.log" | tail -n 1 | cut -d' ' -f2)
  corpus=$(grep -oE 'corp: [0-9]+' "$work/$t.log" | tail -n 1 | cut -d' ' -f2)
  crashes=$(find "$work" -maxdepth 1 -name "$t-*" -type f | wc -l)
  if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    failed=1
    mkdir -p "$root/tests/fuzz/regressions/$t"
    find "$work" -maxdepth 1 -name "$t-*" -type f -exec cp {} "$root/tests/fuzz/regressions/$t/" \;
    tail -n 40 "$work/$t.log" >&2
  fi
  [ -n "$execs" ] || { echo "fuzz.sh: $t printed no statistics (exit $rc)" >&2; failed=1; }
  echo "| $t | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | ${corpus:-?} | $crashes |" >>"$work/table"
done
mkdir -p "$(dirname "$out")"
cp "$work/table" "$out"
cat "$out"
exit "$failed"
