#!/usr/bin/env bash
# One rank trains on a slice of the real FashionMNIST: the loss falls, accuracy beats chance,
# and the run directory holds checkpoints, metrics and curves.
source "$(dirname "$0")/../lib/common.bash"
RUN=$WORK/run
# device = "auto" takes cuda:0 where the build sees a GPU, and falls back to the CPU elsewhere.
"$NIN" --config "$SMOKE" --run-dir "$RUN" --set train.device=auto | tee "$WORK/out.txt"
device=$(auto_device)
grep -q "on 1 node(s), $device," "$WORK/out.txt" || fail "device auto did not pick $device"
grep -q "^epoch 3/3  train loss" "$WORK/out.txt" || fail "no epoch summary line"
grep -q "final: test accuracy" "$WORK/out.txt" || fail "no final summary"
[ "$(wc -l < "$RUN/metrics.jsonl")" -eq 3 ] || fail "metrics.jsonl should have 3 records"
[ "$(wc -l < "$RUN/metrics.csv")" -eq 4 ] || fail "metrics.csv should have a header and 3 rows"
l1=$(metric "$RUN" 1 train_loss); l3=$(metric "$RUN" 3 train_loss); acc=$(metric "$RUN" 3 test_acc)
/usr/bin/python3 -c "import sys; sys.exit(0 if $l3 < $l1 - 0.1 else 1)" || fail "train loss did not fall: $l1 -> $l3"
/usr/bin/python3 -c "import sys; sys.exit(0 if $acc > 0.25 else 1)" || fail "test accuracy $acc not above chance"
[ "$(metric "$RUN" 3 world_size)" = 1 ] || fail "world_size"
/usr/bin/python3 -c "import sys; a = $(metric "$RUN" 3 class_acc); sys.exit(0 if len(a) == 10 and all(0 <= x <= 1 for x in a) else 1)" ||
  fail "metrics.jsonl lacks 10 per-class accuracies: $(metric "$RUN" 3 class_acc)"
ls "$RUN"/ckpt-step*.nin >/dev/null || fail "no checkpoint"
/usr/bin/python3 - "$RUN/curves.svg" <<'PY' || fail "curves.svg is no well-formed SVG with the run's curves"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
text = ET.tostring(root, encoding="unicode")
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
assert all(label in text for label in ("train loss", "test loss", "train acc", "test acc")), text[:300]
assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) >= 4
PY
[ -s "$RUN/config.toml" ] || fail "no config.toml copy"
pass "loss $l1 -> $l3, test accuracy $acc"
