#!/usr/bin/env bash
# One run per run directory: a second start without --resume is refused (exit 2, the
# directory and what it holds named) and changes no byte of the first run; --resume auto
# then continues the first run; --overwrite moves it aside whole and starts over.
source "$(dirname "$0")/../lib/common.bash"
RUN=$WORK/run
# 64 training images at batch 32: 2 steps an epoch; 32 held out, so best.nin is written.
TINY=(--config "$SMOKE" --run-dir "$RUN" --set data.train_limit=96 --set data.val_split=32
      --set data.test_limit=64 --set checkpoint.keep_best=true --set checkpoint.keep=3)
# snapshot DIR: "hash  ./path" of every file under DIR but the lock, sorted.
snapshot() { (cd "$1" && find . -type f ! -name nin-dist.lock -print0 | sort -z | xargs -0 sha256sum); }
unchanged() { [ "$(snapshot "$RUN")" = "$first" ] || fail "$1 changed the first run's files: $(diff <(echo "$first") <(snapshot "$RUN"))"; }

"$NIN" "${TINY[@]}" --set train.epochs=2 --quiet | tee "$WORK/first.txt"
first=$(snapshot "$RUN")
grep -qE "^final: test accuracy [0-9]\.[0-9]{4} on 64 test images, test loss [0-9]+\.[0-9]{4} \(validation accuracy [0-9]\.[0-9]{4} on 32 held-out images\); page $RUN/report.html$" \
  "$WORK/first.txt" || fail "final line: $(tail -n 1 "$WORK/first.txt")"
[ ! -e "$RUN/nin-dist.lock" ] || fail "nin-dist.lock left behind after the run"
grep -q "by the trainer (nin-dist train)" "$RUN/report.html" || fail "the page does not say the trainer wrote it"

# A re-run, and a re-run with fewer epochs: refused before any file is touched.
refused="run directory $RUN holds another run \(2 epoch\(s\) recorded, best validation accuracy [0-9.]+, test accuracy [0-9.]+ at epoch 2, 2 checkpoint\(s\) \(newest ckpt-step0000000004.nin\), best.nin\); nothing in it was changed.*--resume auto.*--run-dir.*--overwrite"
expect_exit 2 "$refused" "$NIN" "${TINY[@]}" --set train.epochs=2
unchanged "a re-run"
expect_exit 2 "$refused" "$NIN" "${TINY[@]}" --set train.epochs=1
unchanged "a re-run with fewer epochs"
expect_exit 2 "--overwrite starts the run over and --resume auto continues it" "$NIN" "${TINY[@]}" --overwrite --resume auto
unchanged "--overwrite with --resume"
[ ! -e "$RUN/nin-dist.lock" ] || fail "a refused start left nin-dist.lock"

# --resume auto on the finished run: it says so, prints the final line again, writes no record.
"$NIN" "${TINY[@]}" --set train.epochs=2 --resume auto --quiet | tee "$WORK/again.txt"
grep -q "the run has completed its 2 epochs (train.epochs = 2)" "$WORK/again.txt" || fail "no 'completed' line"
grep -q "^final: test accuracy .*; page $RUN/report.html$" "$WORK/again.txt" || fail "no final line on a finished run"
for f in metrics.jsonl metrics.csv steps.jsonl best.nin ckpt-step0000000002.nin ckpt-step0000000004.nin; do
  grep -q " ./$f$" <<<"$first" && [ "$(snapshot "$RUN" | grep " ./$f$")" = "$(grep " ./$f$" <<<"$first")" ] ||
    fail "resuming a finished run changed $f"
done

# --resume auto with more epochs continues the first run: its records stay, the third follows.
"$NIN" "${TINY[@]}" --set train.epochs=3 --resume auto --quiet | tee "$WORK/resumed.txt"
grep -q "resumed from $RUN/ckpt-step0000000004.nin at the end of epoch 2" "$WORK/resumed.txt" || fail "did not resume the first run"
epochs=$(/usr/bin/python3 -c 'import json,sys; print(*[json.loads(l)["epoch"] for l in open(sys.argv[1])])' "$RUN/metrics.jsonl")
[ "$epochs" = "1 2 3" ] || fail "metrics.jsonl epochs after the resume: $epochs"
steps=$(/usr/bin/python3 -c 'import json,sys; print(*[json.loads(l)["step"] for l in open(sys.argv[1])])' "$RUN/steps.jsonl")
[ "$steps" = "2 4 6" ] || fail "steps.jsonl steps after the resume: $steps"
for f in ckpt-step0000000002.nin ckpt-step0000000004.nin; do
  [ "$(snapshot "$RUN" | grep " ./$f$")" = "$(grep " ./$f$" <<<"$first")" ] || fail "the resume changed $f"
done
pass "a re-run is refused and changes nothing; --resume auto continues the first run"

# --overwrite: the earlier run's files move, byte for byte, into previous-<UTC time>/.
before=$(snapshot "$RUN")
"$NIN" "${TINY[@]}" --set train.epochs=1 --overwrite --quiet | tee "$WORK/over.txt"
aside=$(sed -nE "s|^--overwrite: moved the earlier run's [0-9]+ files to (.*)$|\1|p" "$WORK/over.txt")
[ -n "$aside" ] && [[ $aside == "$RUN"/previous-* ]] || fail "no line naming where the earlier run went: $(cat "$WORK/over.txt")"
[ "$(snapshot "$aside")" = "$before" ] || fail "the earlier run's files changed on the way to $aside"
epochs=$(/usr/bin/python3 -c 'import json,sys; print(*[json.loads(l)["epoch"] for l in open(sys.argv[1])])' "$RUN/metrics.jsonl")
[ "$epochs" = "1" ] || fail "the new run's metrics.jsonl holds epochs $epochs"
[ "$(cd "$RUN" && ls ckpt-step*.nin)" = "ckpt-step0000000002.nin" ] || fail "the new run's checkpoints: $(ls "$RUN")"
[ "$(tail -n +2 "$RUN/metrics.csv" | wc -l)" -eq 1 ] || fail "the new run's metrics.csv is not one record"
out=$("$NIN" evaluate "$RUN/best.nin" --test-limit 32)  # not a pipe: grep -q would leave it a SIGPIPE
grep -qE "\([0-9]+/32 correct\)" <<<"$out" || fail "the new best.nin does not evaluate: $out"
[ ! -e "$RUN/nin-dist.lock" ] || fail "nin-dist.lock left behind after --overwrite"
pass "--overwrite moves the earlier run aside whole and starts over"
