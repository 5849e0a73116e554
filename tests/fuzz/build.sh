#!/usr/bin/env bash
# build.sh [BUILD_DIR]: configures (once) and builds the fuzz targets in BUILD_DIR (default
# build-fuzz): clang, libFuzzer, ASan+UBSan (NIN_FUZZ=ON), through ccache when it is installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-fuzz}
# 77: ctest's skip (the fuzz targets then skip too): a machine without clang cannot fuzz.
command -v clang++ >/dev/null || { echo "SKIP: clang++ not found (scripts/setup.sh installs clang)"; exit 77; }
# ccache hits across clones and build dirs: paths hashed relative to the checkout, the build dir
# left out of the hash (line tables may then name another build's folder; harmless here).
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
if [ ! -f "$build/CMakeCache.txt" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNIN_FUZZ=ON \
    "${launcher[@]}" >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target fuzz_all
