#!/usr/bin/env bash
# report.html of a real 2-rank run, opened from file:// in Debian's headless Chromium: no
# console error and no error in the page (proved able to see one, on a copy with a broken
# script), every section in the DOM, a screenshot that is not blank.
source "$(dirname "$0")/../lib/common.bash"
HELPERS="$NIN_SOURCE_DIR/tests/helpers"
command -v chromium >/dev/null ||
  skip "chromium is not installed (scripts/setup.sh installs Debian's chromium for this test)"

RUN=$WORK/run
mpirun_np 2 "$NIN" --config "$SMOKE" --run-dir "$RUN" --quiet --set train.epochs=2 --set data.val_split=128
[ -s "$RUN/report.html" ] || fail "training left no report.html (rank 0 refreshes it after every epoch)"
grep -q 'After epoch 2 ' "$RUN/report.html" || fail "report.html was not refreshed after the last epoch"
# The timeline's input, as log.trace_steps writes it, with a host name the page must escape.
/usr/bin/python3 "$HELPERS/make_trace.py" "$RUN/trace.json" 2 5:7 'node<1>&'
"$NIN" report "$RUN" | tee "$WORK/report.txt"
grep -q "wrote $RUN/report.html" "$WORK/report.txt" || fail "report did not say what it wrote"

# browse OUT_PREFIX PAGE FLAGS...: headless Chromium on file://PAGE, stdout and stderr (its
# log, console messages included) kept apart. Nothing reaches the network.
browse() {
  local out=$1 page=$2; shift 2
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
    --user-data-dir="$(mktemp -d "$WORK/profile.XXXXXX")" --enable-logging=stderr --v=0 "$@" "file://$page" \
    >"$out.out" 2>"$out.err" || fail "chromium failed on $page: $(tail -n 5 "$out.err")"
}
# page_errors PREFIX: the console lines of its log and the errors the page recorded on
# <html data-errors>; empty when there were none.
page_errors() {
  grep -h ':CONSOLE' "$1.err" || true
  grep -o 'data-errors="[^"]*"' "$1.out" || true
}

# The detector sees an error: a copy of the page with a script that throws.
sed 's|</body>|<script>a_function_that_does_not_exist();</script></body>|' "$RUN/report.html" >"$WORK/broken.html"
browse "$WORK/broken" "$WORK/broken.html" --dump-dom
errors=$(page_errors "$WORK/broken")
grep -q 'a_function_that_does_not_exist' <<<"$errors" || fail "a broken script went unseen: $errors"
grep -q 'data-errors=' <<<"$errors" || fail "the page's error recorder missed the broken script"
pass "a broken script is seen in the console log and in the DOM"

browse "$WORK/dom" "$RUN/report.html" --dump-dom
errors=$(page_errors "$WORK/dom")
[ -z "$errors" ] || fail "report.html has errors in the browser: $errors"
for id in summary curves confusion timeline config build checkpoints; do
  grep -q "id=\"$id\"" "$WORK/dom.out" || fail "the DOM lacks section $id"
done
[ "$(grep -o '<svg' "$WORK/dom.out" | wc -l)" -eq 4 ] || fail "expected 4 charts (loss, accuracy, confusion, timeline)"
grep -q 'node&lt;1&gt;&amp;' "$WORK/dom.out" || fail "the host name from trace.json is not escaped as text"
grep -q 'ckpt-step0000000056.nin' "$WORK/dom.out" || fail "the checkpoints section lacks the last checkpoint"
pass "no console error; every section, 4 charts, escaped host names"

browse "$WORK/shot" "$RUN/report.html" --screenshot="$WORK/report.png" --window-size=1200,2000
read -r width height colours < <(/usr/bin/python3 "$HELPERS/png_stats.py" "$WORK/report.png")
[ "$width" -eq 1200 ] && [ "$height" -eq 2000 ] || fail "screenshot is ${width}x$height, not 1200x2000"
[ "$colours" -gt 100 ] || fail "screenshot has $colours distinct pixel values: blank?"
pass "screenshot ${width}x$height with $colours distinct pixel values"
