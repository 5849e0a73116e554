#!/usr/bin/env bash
# steps.jsonl on 2 ranks: a record every log.every steps and at each epoch's end, at
# fractional epochs, with rank-averaged figures; a run killed mid-epoch and resumed from its
# last checkpoint ends with the same records as an uninterrupted run: none lost, none twice.
source "$(dirname "$0")/../lib/common.bash"
SET=(--config "$SMOKE" --quiet --set train.epochs=2 --set checkpoint.every_steps=8 --set log.every=6)

mpirun_np 2 "$NIN" "${SET[@]}" --run-dir "$WORK/straight"
# 1024 images at a global batch of 32: 32 steps an epoch; records at steps 6, 12, ..., 30 of
# each epoch and at its end (32), as the progress lines print them.
/usr/bin/python3 - "$WORK/straight/steps.jsonl" <<'PY' || fail "steps.jsonl of the uninterrupted run"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
steps = [r["step"] for r in rows]
want = [e * 32 + s for e in range(2) for s in (6, 12, 18, 24, 30, 32)]
assert steps == want, f"steps {steps}, want {want}"
for r in rows:
    assert abs(r["epoch"] - r["step"] / 32) < 1e-12, r
    assert 0 < r["train_loss"] < 5 and 0 <= r["train_acc"] <= 1 and r["lr"] > 0, r
PY
# The epoch's last record is the epoch's training figures, which metrics.jsonl holds.
/usr/bin/python3 - "$WORK/straight" <<'PY' || fail "steps.jsonl's epoch-end record differs from metrics.jsonl"
import json, sys
steps = {r["step"]: r for r in map(json.loads, open(sys.argv[1] + "/steps.jsonl"))}
for e in map(json.loads, open(sys.argv[1] + "/metrics.jsonl")):
    s = steps[e["step"]]
    assert abs(s["train_loss"] - e["train_loss"]) < 1e-9 and abs(s["train_acc"] - e["train_acc"]) < 1e-12, (s, e)
PY
pass "a record every 6 steps and at each epoch's end, rank-averaged as metrics.jsonl"

# Killed before global step 46 (rank 0 exits, mpirun ends rank 1): steps.jsonl has records
# up to step 44, the newest checkpoint is step 40. The resume drops the record of step 44
# and writes it again.
rc=0
NIN_FAULT=exit:46:0 mpirun_np 2 "$NIN" "${SET[@]}" --run-dir "$WORK/cut" >/dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "the run with NIN_FAULT=exit did not fail"
[ "$(tail -n 1 "$WORK/cut/steps.jsonl" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["step"])')" = 44 ] ||
  fail "the killed run's last record is not step 44"
[ "$(basename "$(newest_ckpt "$WORK/cut")")" = ckpt-step0000000040.nin ] || fail "expected the checkpoint of step 40"
mpirun_np 2 "$NIN" "${SET[@]}" --run-dir "$WORK/cut" --resume auto >/dev/null
/usr/bin/python3 - "$WORK/straight/steps.jsonl" "$WORK/cut/steps.jsonl" <<'PY' || fail "resumed steps.jsonl differs"
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:])
assert [r["step"] for r in a] == [r["step"] for r in b], ([r["step"] for r in a], [r["step"] for r in b])
for x, y in zip(a, b):
    assert x["epoch"] == y["epoch"] and x["lr"] == y["lr"], (x, y)
    assert abs(x["train_loss"] - y["train_loss"]) < 1e-9 and abs(x["train_acc"] - y["train_acc"]) < 1e-12, (x, y)
PY
pass "killed at step 46, resumed from step 40: the same records as the uninterrupted run"
