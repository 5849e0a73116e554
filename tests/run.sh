#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs the whole suite under ctest.
# Usage: tests/run.sh [extra ctest arguments, e.g. -L unit]
# Exits with ctest's code; a skipped test's reason (its "skip: ..." line) is printed before
# ctest's closing summary, which is repeated so that it stays the last lines.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
cd build
out=$(mktemp /tmp/nin-ctest.XXXXXX)
trap 'rm -f "$out"' EXIT
set +e
ctest --output-on-failure --timeout 900 "$@" | tee "$out"
rc=${PIPESTATUS[0]}
set -e
# "  12 - e2e_x (Skipped)" in ctest's list of tests that did not run.
mapfile -t skipped < <(sed -nE 's/^[[:space:]]*[0-9]+ - ([^ ]+) \(Skipped\)$/\1/p' "$out")
if ((${#skipped[@]})) && [ -f Testing/Temporary/LastTest.log ]; then
  echo
  echo "Skipped, and why:"
  for name in "${skipped[@]}"; do
    # A test's output in LastTest.log runs from "N/M Test: NAME" to "<end of output>".
    reason=$(awk -v t="$name" '$0 ~ "^[0-9]+/[0-9]+ Test: " t "$" {on = 1; next}
                               on && /^<end of output>/ {exit}
                               on && tolower($0) ~ /^skip(ped)?[: ]/ {line = $0}
                               END {print line}' Testing/Temporary/LastTest.log)
    echo "  $name: ${reason:-(no reason printed)}"
  done
  echo
  sed -n '/tests passed, .* tests failed out of/,$p' "$out"  # ctest's closing lines, last again
fi
exit "$rc"
