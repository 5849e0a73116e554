#!/usr/bin/env bash
# A deadline that leaves no step room (DEADLINE_S equal to the report's reserve): nothing runs,
# yet the call ends by itself with exit 0 and a gpu.json that lists every row as stopped by
# the deadline, with the seconds that were left (the CUDA-graph rows, which a CPU build cannot
# run whatever the time, as not available).
source "$(dirname "$0")/../lib/common.bash"
source "$(dirname "$0")/../lib/rehearsal.bash"
DEADLINE_S=20 REPORT_S=20 BUILD_DIR=$NIN_BUILD_DIR "$RUN_SH" --rehearse "$WORK/out" > "$WORK/log" 2>&1 \
  || { cat "$WORK/log"; fail "run.sh exited $? with no step run"; }
cat "$WORK/log"
check_report "$WORK/out/gpu.json" '
assert r["complete"] and r["failures"] == [] and r["deadline_s"] == 20, (r["complete"], r["failures"])
for part in (r["tests"], r["cpu_vs_cuda"], *r["rows"]):
    if "graph" in part.get("name", ""):  # a CPU build cannot run them at all: that says more
        assert part["status"] == "not available" and "CUDA" in part["reason"], part
        continue
    assert part["status"] == "deadline" and " left" in part["reason"], part
'
[ ! -e "$WORK/out/nin-seed-fp32.txt" ] || fail "a step ran past the deadline"
pass "every row listed as stopped by the deadline"
