#!/usr/bin/env bash
# data.val_split: the held-out images are the same on 1, 2 and 3 ranks and after a resume;
# they are evaluated every epoch, the test set only at the end (eval.test_every = 0); best.nin
# (checkpoint.keep_best) is never pruned and never picked by --resume auto.
source "$(dirname "$0")/../lib/common.bash"
RUN=(--config "$SMOKE" --quiet --set data.train_limit=512 --set data.val_split=96 --set train.batch_size=48)

# The same untrained model on each world size: the validation loss differs only if the images do.
for np in 1 2 3; do
  mpirun_np $np "$NIN" "${RUN[@]}" --set train.epochs=1 --set train.lr=1e-12 --run-dir "$WORK/still-$np" >/dev/null
done
l1=$(metric "$WORK/still-1" 1 val_loss)
for np in 2 3; do
  /usr/bin/python3 -c "import sys; sys.exit(0 if abs($l1 - $(metric "$WORK/still-$np" 1 val_loss)) < 1e-6 else 1)" ||
    fail "validation loss $l1 on 1 rank, $(metric "$WORK/still-$np" 1 val_loss) on $np: not the same images"
done
pass "the same 96 held-out images on 1, 2 and 3 ranks (validation loss $l1)"

"$NIN" "${RUN[@]}" --set checkpoint.keep_best=true --set checkpoint.keep=1 --run-dir "$WORK/run" | tee "$WORK/out.txt"
grep -qE "^epoch 1/3 .*\| val loss [0-9.]+ acc [0-9.]+ \|" "$WORK/out.txt" || fail "no validation figures in the epoch line"
grep -qE "^epoch 1/3 .*test loss" "$WORK/out.txt" && fail "the test set was evaluated before the last epoch"
grep -qE "^final: test accuracy [0-9.]+ on 256 test images.*\(validation accuracy [0-9.]+ on 96 held-out images\)" \
  "$WORK/out.txt" || fail "the final line lacks the test and validation figures"
for e in 1 2 3; do [ "$(metric "$WORK/run" $e val_acc)" != None ] || fail "epoch $e has no val_acc"; done
[ "$(metric "$WORK/run" 1 test_acc)" = None ] || fail "epoch 1 has a test_acc"
[ "$(metric "$WORK/run" 3 test_acc)" != None ] || fail "the last epoch has no test_acc"
[ -f "$WORK/run/best.nin" ] || fail "no best.nin"
[ "$(ls "$WORK/run"/ckpt-step*.nin | wc -l)" -eq 1 ] || fail "checkpoint.keep = 1 kept more"
best=$(/usr/bin/python3 -c "import json; print(max(json.loads(l)['val_acc'] for l in open('$WORK/run/metrics.jsonl')))")
"$NIN" evaluate --checkpoint "$WORK/run/best.nin" >/dev/null || fail "best.nin does not evaluate"
"$NIN" "${RUN[@]}" --set checkpoint.keep_best=true --set train.epochs=4 --run-dir "$WORK/run" --resume auto \
  >"$WORK/resume.txt"
grep -q "resumed from .*ckpt-step0000000027.nin" "$WORK/resume.txt" || fail "--resume auto did not take the newest ckpt-step file"
pass "validation every epoch, test at the end, best.nin kept (best val_acc $best) and not resumed"

# A resumed run trains on the same images as an uninterrupted one: bitwise the same weights.
"$NIN" "${RUN[@]}" --set train.epochs=2 --run-dir "$WORK/straight" >/dev/null
"$NIN" "${RUN[@]}" --set train.epochs=1 --run-dir "$WORK/resumed" >/dev/null
"$NIN" "${RUN[@]}" --set train.epochs=2 --run-dir "$WORK/resumed" --resume auto >/dev/null
same_weights "$(newest_ckpt "$WORK/straight")" "$(newest_ckpt "$WORK/resumed")" || fail "resumed run differs"
pass "a resume holds out the same images"

expect_exit 2 "checkpoint.keep_best.*data.val_split" "$NIN" --config "$SMOKE" --set checkpoint.keep_best=true --run-dir "$WORK/bad"
expect_exit 2 "data.val_split = 512 leaves no training image|data.val_split.*must leave training images" \
  "$NIN" --config "$SMOKE" --set data.train_limit=512 --set data.val_split=512 --run-dir "$WORK/bad"
