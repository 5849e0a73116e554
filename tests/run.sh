#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs the whole suite under ctest.
# Usage: tests/run.sh [extra ctest arguments, e.g. -L unit]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
cd build
ctest --output-on-failure --timeout 900 "$@"
