# Helpers of the gpu-rehearsal tests (sourced after common.bash): bench/gpu/run.sh --rehearse on
# this build and Debian's PyTorch, and the rows every gpu.json must list, run or not.
: "${NIN_BUILD_DIR:?set NIN_BUILD_DIR to the CPU build (ctest does)}"
PY=/usr/bin/python3
"$PY" -c 'import torch, torchvision' 2> /dev/null || skip "$PY has no torch/torchvision (apt-get install python3-torch python3-torchvision)"
# shellcheck disable=SC2034  # RUN_SH, ROWS and COMMITTED are for the tests that source this
RUN_SH=$NIN_SOURCE_DIR/bench/gpu/run.sh
ROWS="nin-seed-fp32 nin-seed-bf16 nin-fast-b128 nin-graph-b128 nin-fast-b16 nin-graph-b16 torch-eager-fp32 torch-eager-bf16-cl
      torch-compiled-bf16-cl torch-compiled-bf16-cl-b16 torch-seed-dataloader nin-best"
# shellcheck disable=SC2034
COMMITTED=$NIN_SOURCE_DIR/bench/results/gpu.json

# fingerprint FILE: its checksum, or "absent": a rehearsal must leave the committed report alone.
fingerprint() { if [ -e "$1" ]; then sha256sum < "$1"; else echo absent; fi; }

# check_report GPU_JSON PYTHON: runs PYTHON (asserts) with `r` the report, `rows` by name and
# `ROWS` the rows every report lists; an AssertionError fails the test with its message.
check_report() {
  [ -s "$1" ] || fail "no report at $1"
  ROWS=$ROWS "$PY" - "$1" <<PYEOF || fail "$1: see the assertion above"
import json, os, sys
r = json.load(open(sys.argv[1]))
rows = {x["name"]: x for x in r["rows"]}
ROWS = os.environ["ROWS"].split()
assert [x["name"] for x in r["rows"]] == ROWS, f"rows {[x['name'] for x in r['rows']]} != {ROWS}"
assert r["rehearsal"] is True, "not marked as a rehearsal"
$2
PYEOF
}
