#!/usr/bin/env bash
# A SIGTERM in the middle of bench/gpu/run.sh --rehearse (as a device command's time limit
# sends it) still leaves a gpu.json: what finished, the step that was running and every later
# row listed as stopped by the deadline, and the exit code 143.
source "$(dirname "$0")/../lib/common.bash"
source "$(dirname "$0")/../lib/rehearsal.bash"
BUILD_DIR=$NIN_BUILD_DIR "$RUN_SH" --rehearse "$WORK/out" > "$WORK/log" 2>&1 &
pid=$!
# Midway: once the CPU/CUDA pair is recorded, while the nin-dist rows run.
until grep -q "^pair	" "$WORK/out/steps.tsv" 2> /dev/null; do
  kill -0 "$pid" 2> /dev/null || { cat "$WORK/log"; fail "run.sh ended before the pair"; }
  sleep 0.2
done
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
cat "$WORK/log"
[ "$rc" -eq 143 ] || fail "run.sh exited $rc after SIGTERM, expected 143"
check_report "$WORK/out/gpu.json" '
assert r["complete"] and r["ended_by"] == "SIGTERM", (r["complete"], r["ended_by"])
assert r["tests"]["status"] == "ran" and r["cpu_vs_cuda"]["status"] == "ran"
stopped = [n for n in ROWS if rows[n]["status"] == "deadline"]
assert "nin-best" in stopped and "torch-eager-fp32" in stopped, stopped
for n in stopped:
    assert "SIGTERM" in rows[n]["reason"], rows[n]
assert all(rows[n]["status"] in ("ran", "deadline") for n in ROWS), [(n, rows[n]["status"]) for n in ROWS]
'
pass "SIGTERM midway: exit 143 and a report that lists every row"
