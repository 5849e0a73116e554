#!/usr/bin/env bash
# bench/gpu/run.sh --rehearse runs every step of the GPU call on this CPU with tiny limits and
# writes a gpu.json, marked as a rehearsal, that lists every row; rows this machine cannot run
# (torch.compile with CUDA graphs) say why. The committed bench/results/gpu.json is untouched.
source "$(dirname "$0")/../lib/common.bash"
source "$(dirname "$0")/../lib/rehearsal.bash"
before="$(fingerprint "$COMMITTED") $(fingerprint "${COMMITTED%.json}.md")"
BUILD_DIR=$NIN_BUILD_DIR "$RUN_SH" --rehearse "$WORK/out" > "$WORK/log" 2>&1 || { cat "$WORK/log"; fail "run.sh --rehearse exited $?"; }
cat "$WORK/log"
[ "$(fingerprint "$COMMITTED") $(fingerprint "${COMMITTED%.json}.md")" = "$before" ] \
  || fail "the rehearsal wrote to bench/results/gpu.{json,md}"
grep -q "REHEARSAL" "$WORK/out/gpu.md" || fail "gpu.md does not say it is a rehearsal"
check_report "$WORK/out/gpu.json" '
assert r["complete"] and r["failures"] == [], r["failures"]
assert r["build"]["status"] == "not available" and "rehearsal" in r["build"]["reason"], r["build"]
t = r["tests"]
assert t["status"] == "ran" and t["failed"] == 0 and t["total"] >= 1, t
p = r["cpu_vs_cuda"]
assert p["status"] == "ran" and p["ok"] and p["tf32"].startswith("off"), p
for name in ROWS:
    x = rows[name]
    if "compiled" in name or "graph" in name:  # no torch.compile in 1.13; no CUDA graphs on a CPU
        assert x["status"] == "not available" and x["reason"], x
        continue
    assert x["status"] == "ran", x
    assert x["images_per_s"] > 0 and x["resize"] == 67, x
    if name.startswith("nin-"):
        assert x["epochs"] == 1 and 0 <= x["test_acc"] <= 1, x
best = rows["nin-best"]
assert best["epochs_planned"] == 1 and best["reason"].startswith("cut to 1 of "), best
assert rows["nin-fast-b16"]["batch"] == 16 and rows["nin-fast-b16"]["channels_last"], rows["nin-fast-b16"]
assert rows["torch-eager-bf16-cl"]["precision"] == "bf16" and rows["torch-eager-bf16-cl"]["channels_last"]
assert rows["torch-eager-fp32"]["warmup_s"] > 0
# FLOP per image and MFU from the records of nin-dist only: a PyTorch row takes the FLOP per
# image of a nin-dist row at its px; no MFU on a CPU (mfu is null in metrics.jsonl), so none.
flop = rows["nin-seed-fp32"]["train_flop_per_image"]
assert flop > 0, rows["nin-seed-fp32"]
for name in ROWS:
    x = rows[name]
    if x["status"] == "ran":
        assert x["train_flop_per_image"] == flop and x["mfu"] is None, x
        assert name.startswith("nin-") or x["flop_from"].startswith("nin-"), x
'
grep -q "| torch-eager-fp32 | ran |.* | n/a |$" "$WORK/out/gpu.md" || fail "gpu.md: no MFU 'n/a' on a CPU"
pass "every row listed, the rehearsal marked, the committed report untouched"

# The kernel profile: nin-dist's profile.md of its seed rows (log.profile_steps) and PyTorch's
# eager rows (torch.profiler), CPU ops here, side by side in gpu.md and whole in gpu.json.
check_report "$WORK/out/gpu.json" '
assert set(r["profile"]) == {"fp32", "bf16"}, r["profile"].keys()
for precision, pair in r["profile"].items():
    for side, p in pair.items():
        assert p.get("rows"), (precision, side, p)
        assert p["table"] == "Ops by host self time" and p["device"].startswith("cpu"), p
        assert p["steps"] == 1, (precision, side, p["steps"])  # PROFILE_STEPS=0:0, PROFILE_TORCH_STEPS=1
        assert abs(sum(x["pct"] for x in p["rows"]) - 100) < 1, (precision, side)
        assert p["categories"]["conv/gemm"] > 0, (precision, side, p["categories"])
'
for section in "## Kernel profile" "### fp32" "### bf16" "| category | nin-dist ms/step | PyTorch ms/step |"; do
  grep -qF "$section" "$WORK/out/gpu.md" || fail "gpu.md lacks '$section'"
done
pass "gpu.md and gpu.json hold both profiles of fp32 and bf16"
