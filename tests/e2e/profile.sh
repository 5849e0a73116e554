#!/usr/bin/env bash
# log.profile_steps: rank 0 writes profile.json (Chrome trace events of exactly the profiled
# steps' ops) and profile.md (the top ops: count, total ms, ms/step, % adding up to 100); a
# window past the epoch's end stops with its steps; two ranks write one profile; none when
# off; bad ranges and a CUDA graph exit 2 naming the key.
source "$(dirname "$0")/../lib/common.bash"
RUN=(--config "$SMOKE" --quiet --set train.epochs=1 --set data.train_limit=384)  # 12 steps of 32

# check_profile DIR STEPS: profile.json and profile.md of STEPS profiled steps. NiN has 12
# convolutions: a forward each per step, and a backward each.
check_profile() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
run, steps = sys.argv[1], int(sys.argv[2])
trace = json.load(open(f"{run}/profile.json"))
events = [e for e in trace["traceEvents"] if e.get("ph") == "X"]
names = [e["name"] for e in events]
assert names.count("nin::step") == steps, ("steps in the trace", names.count("nin::step"))
assert names.count("aten::convolution") == 12 * steps, ("forward convolutions", names.count("aten::convolution"))
assert names.count("aten::convolution_backward") == 12 * steps, ("backward", names.count("aten::convolution_backward"))
assert any(n.startswith("aten::") and n.endswith("_") and "conv" not in n for n in names), "no in-place op (update)"
assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in events)

md = open(f"{run}/profile.md").read()
assert f"\n{steps} steps on cpu" in md, md[:300]
table = md.split("## Ops by host self time\n\n", 1)[1]
rows = [[c.strip() for c in line.strip("|\n").split(" | ")] for line in table.splitlines()[2:] if line.startswith("|")]
body, total = rows[:-1], rows[-1]
assert total[0] == "(total)" and len(body) >= 10, (total, len(body))
pct = [float(r[4]) for r in body]
assert all(0 <= p <= 100 for p in pct) and abs(sum(pct) - 100) < 0.5, pct
ms = [float(r[2]) for r in body]
named = [float(r[2]) for r in body if not r[0].endswith(" others)")]  # the rest's row comes last
assert named == sorted(named, reverse=True), "rows not by time"
assert abs(sum(ms) - float(total[2])) < 0.002 * len(ms) + 1e-9, (sum(ms), total)
assert abs(float(total[3]) * steps - float(total[2])) < 0.001 * steps + 1e-9, total
assert int(total[1]) >= 24 * steps  # the convolutions at least
names = [r[0] for r in body]
assert any("conv" in n for n in names), names
PY
}

out=$("$NIN" "${RUN[@]}" --set log.profile_steps=1:3 --run-dir "$WORK/np1")
grep -qF "profile: steps 1:3 of rank 0 written to $WORK/np1/profile.json and $WORK/np1/profile.md" <<<"$out" ||
  fail "no profile line: $out"
check_profile "$WORK/np1" 3 || fail "profile of steps 1:3"
pass "steps 1:3: profile.json with exactly 3 steps' ops, profile.md's table adds up"

# Two ranks, a window past the epoch's 12 steps: rank 0 alone writes, steps 10 and 11.
out=$(mpirun_np 2 "$NIN" "${RUN[@]}" --set log.profile_steps=10:50 --run-dir "$WORK/np2")
[ "$(grep -c "profile: steps 10:50 of rank 0 written" <<<"$out")" = 1 ] || fail "want one profile line: $out"
check_profile "$WORK/np2" 2 || fail "profile of steps 10:50 of 12"
pass "2 ranks, steps 10:50 of 12: rank 0's profile of steps 10 and 11"

"$NIN" "${RUN[@]}" --run-dir "$WORK/off" >/dev/null
[ ! -e "$WORK/off/profile.json" ] && [ ! -e "$WORK/off/profile.md" ] || fail "a profile written with log.profile_steps unset"
pass "no profile when off"

# The checker can fail: a trace with one step's convolutions dropped.
/usr/bin/python3 - "$WORK/np1/profile.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
first = next(i for i, e in enumerate(t["traceEvents"]) if e.get("name") == "aten::convolution")
del t["traceEvents"][first]
json.dump(t, open(sys.argv[1], "w"))
PY
check_profile "$WORK/np1" 3 2>/dev/null && fail "the checker passed a profile with a convolution missing"
pass "the checker refuses a profile with a convolution missing"

expect_exit 2 "log.profile_steps = '3:1' is out of range: must be \"A:B\"" "$NIN" "${RUN[@]}" --set log.profile_steps=3:1 --run-dir "$WORK/bad"
expect_exit 2 "log.profile_steps = 'x' is out of range" "$NIN" "${RUN[@]}" --set log.profile_steps=x --run-dir "$WORK/bad"
expect_exit 2 "'log.profile_steps' must be a string" "$NIN" "${RUN[@]}" --set log.profile_steps=3 --run-dir "$WORK/bad"
expect_exit 2 "log.profile_steps = '1:3' is out of range: the profiler is not checked with a replayed CUDA graph" \
  "$NIN" "${RUN[@]}" --set log.profile_steps=1:3 --set train.cuda_graph=true --run-dir "$WORK/bad"
[ ! -e "$WORK/bad" ] || fail "a refused run left $WORK/bad behind"
