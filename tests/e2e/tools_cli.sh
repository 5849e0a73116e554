#!/usr/bin/env bash
# The user's tools after a short real training: evaluate agrees with the run's own final
# test accuracy, predict classifies PGM and PNG files exactly as the IDX entry they came
# from, plot draws two runs, summary prints the seed's table, --help and --version.
source "$(dirname "$0")/../lib/common.bash"
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
PYDIR=$NIN_SOURCE_DIR/tests/helpers
TEST_IMAGES=$DATA/t10k-images-idx3-ubyte.gz
"$PY" -c "import numpy" 2>/dev/null || { echo "skipped: $PY lacks numpy"; exit 77; }

RUN1=$WORK/run1 RUN2=$WORK/run2
"$NIN" --config "$SMOKE" --run-dir "$RUN1" --set train.epochs=2 -q >/dev/null
"$NIN" --config "$SMOKE" --run-dir "$RUN2" --set train.epochs=1 --set data.train_limit=256 -q >/dev/null
CKPT=$(newest_ckpt "$RUN1")

# evaluate: the checkpoint's embedded config (data.test_limit = 256) gives the run's final accuracy.
"$NIN" evaluate --checkpoint "$CKPT" >"$WORK/eval.txt"
cat "$WORK/eval.txt"
read -r correct count < <(sed -nE 's/^test loss [0-9.]+, accuracy [0-9.]+ \(([0-9]+)\/([0-9]+) correct\)$/\1 \2/p' "$WORK/eval.txt")
[ -n "${count:-}" ] || fail "evaluate printed no accuracy line"
[ "$count" -eq 256 ] || fail "evaluate used $count test images, the run 256"
final_acc=$(metric "$RUN1" 2 test_acc)
"$PY" -c "import sys; sys.exit(abs($correct / $count - $final_acc) > 1e-12)" ||
  fail "evaluate accuracy $correct/$count differs from the run's final test accuracy $final_acc"
for name in "T-shirt/top" Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag "Ankle boot"; do
  grep -qE "^ *$name( +[0-9]+){10}$" "$WORK/eval.txt" || fail "confusion matrix lacks a row for $name"
done
total=$(awk '/^ *[A-Za-z]/ && NF >= 11 { ok = 1; for (i = NF - 9; i <= NF; i++) if ($i !~ /^[0-9]+$/) ok = 0
  if (ok) for (i = NF - 9; i <= NF; i++) s += $i } END { print s + 0 }' "$WORK/eval.txt")
[ "$total" -eq 256 ] || fail "confusion matrix sums to $total, not 256"
pass "evaluate: accuracy $correct/$count = metrics.jsonl's $final_acc, 10x10 confusion matrix"

# predict: the same test image as IDX entry, PGM and PNG (every colour type) gives the same logits.
INDEX=3
"$PY" "$PYDIR/write_image.py" $INDEX "$WORK/img.pgm"
for mode in gray rgb rgba gray16 palette; do "$PY" "$PYDIR/write_image.py" $INDEX "$WORK/img_$mode.png" --mode $mode; done
FILES=("$WORK/img.pgm" "$WORK"/img_*.png)
"$NIN" predict --checkpoint "$CKPT" "$TEST_IMAGES" --range $INDEX:$((INDEX + 1)) "${FILES[@]}" >"$WORK/classes.txt"
"$NIN" predict --checkpoint "$CKPT" --logits "$TEST_IMAGES" --range $INDEX:$((INDEX + 1)) "${FILES[@]}" >"$WORK/logits.txt"
cat "$WORK/classes.txt"
[ "$(wc -l <"$WORK/classes.txt")" -eq 7 ] || fail "predict printed $(wc -l <"$WORK/classes.txt") lines for 7 images"
idx_class=$(head -n 1 "$WORK/classes.txt" | sed -E 's/^[^:]*: (.*) \([0-9.]+\)$/\1/')
[ -n "$idx_class" ] || fail "predict printed no class for the IDX entry"
idx_logits=$(grep -m 1 -oE ': logits .*' "$WORK/logits.txt")
[ "$(grep -c ': logits ' "$WORK/logits.txt")" -eq 7 ] || fail "predict --logits: $(cat "$WORK/logits.txt")"
for img in "${FILES[@]}"; do
  class=$(grep -F "$img: " "$WORK/classes.txt" | sed -E 's/^[^:]*: (.*) \([0-9.]+\)$/\1/')
  [ "$class" = "$idx_class" ] || fail "$(basename "$img") predicted '$class', the IDX entry '$idx_class'"
  logits=$(grep -F "$img: " "$WORK/logits.txt" | grep -oE ': logits .*')
  [ "$logits" = "$idx_logits" ] || fail "$(basename "$img") logits $logits differ from the IDX entry's $idx_logits"
done
"$PY" "$PYDIR/write_image.py" $INDEX "$WORK/big.png" --scale 3 --mode rgb
"$NIN" predict --checkpoint "$CKPT" "$WORK/big.png" | grep -qE "big.png: .* \([0-9.]+\)" || fail "84x84 PNG"
pass "predict: PGM and gray/rgb/rgba/16-bit/palette PNG give the IDX entry's class '$idx_class' and logits"

# Bad image files: a clear error naming the file, exit 2.
head -c 100 "$WORK/img_gray.png" >"$WORK/cut.png"
echo "not an image" >"$WORK/text.png"
head -c 40 "$WORK/img.pgm" >"$WORK/cut.pgm"
expect_exit 2 "cut.png: bad or truncated PNG" "$NIN" predict --checkpoint "$CKPT" "$WORK/cut.png"
expect_exit 2 "text.png: not a PGM or PNG image" "$NIN" predict --checkpoint "$CKPT" "$WORK/text.png"
expect_exit 2 "cut.pgm: truncated PGM data" "$NIN" predict --checkpoint "$CKPT" "$WORK/cut.pgm"
expect_exit 2 "absent.png: image not found" "$NIN" predict --checkpoint "$CKPT" "$WORK/absent.png"

# plot: two runs in one figure.
"$NIN" plot "$RUN1" "$RUN2" --out "$WORK/plots" | grep -q "curves.svg" || fail "plot printed no file"
/usr/bin/python3 - "$WORK/plots/curves.svg" "$(basename "$RUN1")" "$(basename "$RUN2")" <<'PY' ||
import sys, xml.etree.ElementTree as ET
svg = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()  # well-formed, or this raises
assert root.tag == svg + "svg", root.tag
legend = [t.text for t in root.iter(svg + "text") if t.get("class") == "legend"]
for run in sys.argv[2:]:
    for what in ("train loss", "train acc"):
        assert f"{run} {what}" in legend, (run, what, legend)
colours = {p.get("stroke") for p in root.iter(svg + "path")}
assert len(colours) >= 2, colours  # a colour per run
PY
  fail "curves.svg is no well-formed SVG with both runs' curves"
pass "plot: curves.svg of two runs, a colour and a legend entry each"

# report: the page of a run from its directory alone; a folder that is no run is refused.
rm "$RUN1/report.html"
out=$("$NIN" report "$RUN1")
grep -q "^wrote $RUN1/report.html" <<<"$out" || fail "report printed no file: $out"
grep -q 'id="checkpoints"' "$RUN1/report.html" || fail "report.html has no checkpoints section"
expect_exit 2 "no config.toml \\(not a run directory\\?\\)" "$NIN" report "$WORK/plots"

# summary: the seed notebook's table, word for word.
"$NIN" summary >"$WORK/summary.txt"
printf '%s\n' \
  $'Sequential output shape:\t torch.Size([1, 96, 54, 54])' \
  $'MaxPool2d output shape:\t torch.Size([1, 96, 26, 26])' \
  $'Sequential output shape:\t torch.Size([1, 256, 26, 26])' \
  $'MaxPool2d output shape:\t torch.Size([1, 256, 12, 12])' \
  $'Sequential output shape:\t torch.Size([1, 384, 12, 12])' \
  $'MaxPool2d output shape:\t torch.Size([1, 384, 5, 5])' \
  $'Dropout output shape:\t torch.Size([1, 384, 5, 5])' \
  $'Sequential output shape:\t torch.Size([1, 10, 5, 5])' \
  $'AdaptiveAvgPool2d output shape:\t torch.Size([1, 10, 1, 1])' \
  $'Flatten output shape:\t torch.Size([1, 10])' \
  'Parameters: 1,992,166' >"$WORK/seed_summary.txt"
diff "$WORK/seed_summary.txt" "$WORK/summary.txt" || fail "summary differs from the seed's table"
pass "summary"

# --help: every subcommand lists its options, with their defaults.
check_help() {
  local command=$1; shift
  local out
  out=$("$NIN" "$command" --help) || fail "$command --help exited non-zero"
  grep -q "^usage: nin-dist" <<<"$out" || fail "$command --help has no usage line"
  for option in "$@" "--help"; do
    grep -qF -- "$option" <<<"$out" || fail "$command --help lacks '$option': $out"
  done
}
check_help train "--config" "--set" "--run-dir" "--resume" "--quiet" "--log-every"
check_help evaluate "--checkpoint" "--data-dir" "--batch arg (=256)"
check_help predict "--checkpoint" "--image" "--range arg (=0:10)" "--logits"
check_help summary "--config" "--input arg (=1x1x224x224)"
check_help export "--checkpoint" "--out"
check_help import "--state-dict" "--out" "--config" "--set"
check_help upgrade "--old" "--new" "--force" "--trust-legacy-checkpoint"
check_help plot "--run-dir" "--out"
check_help report "--run-dir"
check_help config "--config" "--set" "--reference"
pass "--help of every subcommand"

# --version: the build's libraries, each on its own non-empty line.
"$NIN" --version >"$WORK/version.txt"
cat "$WORK/version.txt"
grep -qE "^LibTorch [0-9]+\.[0-9]+\.[0-9]+$" "$WORK/version.txt" || fail "--version: no LibTorch line"
grep -qE "^CUDA: .+" "$WORK/version.txt" || fail "--version: no CUDA line"
grep -qE "^NCCL: .+" "$WORK/version.txt" || fail "--version: no NCCL line"
grep -qE "^MPI: .*[0-9]+\.[0-9]+" "$WORK/version.txt" || fail "--version: MPI line without a version"
pass "tools"
