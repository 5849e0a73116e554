#!/usr/bin/env bash
# The unit tests under ASan+UBSan: builds build-asan (NIN_SANITIZE=ON, Debug, the default compiler,
# through ccache when it is installed) and runs `ctest -L unit` there. Not part of tests/run.sh:
# the sanitized build of the whole project is the cost.
# Usage: scripts/sanitize.sh [extra ctest arguments, e.g. -R Checkpoint]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NIN_SANITIZE_BUILD_DIR:-build-asan}
if [ ! -f "$build/CMakeCache.txt" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DNIN_SANITIZE=ON -DNIN_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target unit_tests nin-dist
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure --timeout 900 -L unit "$@"
