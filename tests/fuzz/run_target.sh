#!/usr/bin/env bash
# run_target.sh FUZZER CORPUS DICT REGRESSIONS SECONDS: replays every input kept in REGRESSIONS,
# then fuzzes for SECONDS from CORPUS (new inputs go to a scratch folder, not the source tree).
# Fails on any crash, leak, timeout or sanitizer report; a crashing input is copied to REGRESSIONS.
set -euo pipefail
fuzzer=$1 corpus=$2 dict=$3 regressions=$4 seconds=$5
command -v clang++ >/dev/null || { echo "SKIP: clang++ not found: no fuzz build (scripts/setup.sh installs clang)"; exit 77; }
[ -x "$fuzzer" ] || { echo "FAIL: $fuzzer is not built (tests/fuzz/build.sh builds it)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(dirname "$0")/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if compgen -G "$regressions/*" >/dev/null; then
  "$fuzzer" -runs=0 "$regressions"/* || { echo "FAIL: a kept regression input crashes $fuzzer"; exit 1; }
fi
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -artifact_prefix="$work/"
      -print_final_stats=1)
[ -f "$dict" ] && args+=(-dict="$dict")
mkdir -p "$work/corpus"
if ! "$fuzzer" "${args[@]}" "$work/corpus" "$corpus"; then
  mkdir -p "$regressions"
  for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [ -e "$f" ] && cp "$f" "$regressions/" && echo "kept $regressions/$(basename "$f")"
  done
  echo "FAIL: $fuzzer found a defect"
  exit 1
fi
