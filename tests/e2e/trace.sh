#!/usr/bin/env bash
# log.trace_steps: two real ranks write one trace.json (Chrome trace events) whose steps are
# in order, with every bucket's allreduce and one overlapping backward on each rank; a window
# past the epoch's end holds the evaluation; no trace when off; bad ranges exit 2. And the
# epoch's peak memory, FLOPs per image and MFU.
source "$(dirname "$0")/../lib/common.bash"
CHECK="$NIN_SOURCE_DIR/tests/helpers/check_trace.py"
RUN=(--config "$SMOKE" --quiet --set train.epochs=1 --set data.train_limit=384)

# dist.first_bucket_mb = 1 (the default) puts the last block and one 1x1 conv of block 3 in the
# first bucket: it launches while backward still has blocks 3 to 1 to go.
mpirun_np 2 "$NIN" "${RUN[@]}" --set log.trace_steps=2:6 --set dist.first_bucket_mb=1 --run-dir "$WORK/np2" \
  >"$WORK/np2.txt"
buckets=$(sed -nE 's/.*, ([0-9]+) gradient buckets$/\1/p' "$WORK/np2.txt")
[ "${buckets:-0}" -ge 2 ] || fail "want at least 2 gradient buckets, got '${buckets}'"
out=$(grep -c "trace: steps 2:6 of every rank written to $WORK/np2/trace.json" "$WORK/np2.txt") ||
  fail "no trace line: $(cat "$WORK/np2.txt")"
[ "$out" = 1 ] || fail "the trace line came $out times"
/usr/bin/python3 "$CHECK" "$WORK/np2/trace.json" 2 2 6 "$buckets" || fail "trace.json of 2 ranks"
pass "2 ranks: trace.json with steps 2..6 in order, $buckets buckets, allreduce overlapping backward"

# The epoch's figures beside images_per_s: peak memory (RSS on a CPU, the larger rank's), the
# training FLOPs at 67 px (tests/unit/model_flops_test.cpp has the closed form), no MFU on a CPU.
[ "$(metric "$WORK/np2" 1 flops_per_image)" = 323643120.0 ] || fail "flops_per_image $(metric "$WORK/np2" 1 flops_per_image)"
[ "$(metric "$WORK/np2" 1 mfu)" = None ] || fail "mfu on a CPU should be null"
[ "$(metric "$WORK/np2" 1 peak_mem_bytes)" -gt 50000000 ] || fail "peak_mem_bytes $(metric "$WORK/np2" 1 peak_mem_bytes)"
grep -q ',peak_mem_bytes,flops_per_image,mfu,' "$WORK/np2/metrics.csv" || fail "metrics.csv lacks the columns"
pass "peak_mem_bytes, flops_per_image and a null mfu in the epoch's record"

# The checker fails a trace whose allreduces all start after backward (it can fail).
/usr/bin/python3 - "$WORK/np2/trace.json" "$WORK/late.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
ends = {(e["pid"], e["args"]["step"]): e["ts"] + e["dur"] for e in t["traceEvents"] if e.get("name") == "backward"}
for e in t["traceEvents"]:
    if e.get("cat") == "comm" and e["pid"] == 1:
        e["ts"] = ends[(1, e["args"]["step"])] + 1
json.dump(t, open(sys.argv[2], "w"))
PY
late=$(/usr/bin/python3 "$CHECK" "$WORK/late.json" 2 2 6 "$buckets" 2>&1) && fail "the checker passed a trace with no overlap"
grep -q "rank 1: no bucket's allreduce started during backward" <<<"$late" || fail "unexpected checker output: $late"
pass "the checker refuses a trace without overlap"

# One rank, a window past the epoch's 12 steps: it closes at the epoch's end, evaluation included.
"$NIN" "${RUN[@]}" --set log.trace_steps=9:50 --run-dir "$WORK/np1" >/dev/null
/usr/bin/python3 - "$WORK/np1/trace.json" <<'PY' || fail "the window past the epoch's end"
import json, sys
t = json.load(open(sys.argv[1]))
names = [e["name"] for e in t["traceEvents"] if e.get("ph") == "X"]
steps = sorted({e["args"]["step"] for e in t["traceEvents"] if e.get("ph") == "X"})
assert steps == [9, 10, 11], steps
assert "evaluate" in names and "epoch end" in names, names
PY
pass "a window past the epoch's end holds steps 9..11, evaluation and the epoch's end"

"$NIN" "${RUN[@]}" --run-dir "$WORK/off" >/dev/null
[ ! -e "$WORK/off/trace.json" ] || fail "trace.json written with log.trace_steps unset"
pass "no trace.json when off"

expect_exit 2 "log.trace_steps = '6:2' is out of range: must be \"A:B\"" "$NIN" "${RUN[@]}" --set log.trace_steps=6:2 --run-dir "$WORK/bad"
expect_exit 2 "log.trace_steps = 'x' is out of range" "$NIN" "${RUN[@]}" --set log.trace_steps=x --run-dir "$WORK/bad"
expect_exit 2 "'log.trace_steps' must be a string" "$NIN" "${RUN[@]}" --set log.trace_steps=3 --run-dir "$WORK/bad"
