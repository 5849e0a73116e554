#!/usr/bin/env bash
# Installs what nin-dist needs from Debian (only what is missing) and builds it in Release.
# Usage: scripts/setup.sh [BUILD_DIR]    (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}

PACKAGES=(cmake g++ make pkg-config libtorch-dev libopenmpi-dev openmpi-bin libboost-program-options-dev
  libgtest-dev libtomlplusplus-dev nlohmann-json3-dev libxxhash-dev libssl-dev zlib1g-dev libpng-dev
  dataset-fashion-mnist python3-torch python3-torchvision time python3-hypothesis
  libkainjow-mustache-dev  # report.html's template (src/report)
  chromium  # the report's browser test (tests/e2e/report_browser.sh): headless, from file://
  clang libclang-rt-dev  # clang and its libFuzzer/sanitizer runtimes: the fuzz build (tests/fuzz)
  universal-ctags)  # the function-length lint (tests/lint/function_length.sh)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Quiet but for the summary of what CMake found (the "-- nin-dist ..." block CMakeLists.txt
# prints last); its warnings and errors go to stderr and are shown as they come.
configure=$(cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${NIN_CMAKE_ARGS:-})
awk '/^-- nin-dist /{on = 1} on && /^-- (nin-dist |  )/{print; next} {on = 0}' <<<"$configure"
cmake --build "$BUILD_DIR" -j "$(nproc)"
