#!/usr/bin/env bash
# A run stopped after epoch 1 and resumed ends with bitwise the same parameters as an
# uninterrupted run, with and without augmentation; --resume auto on a finished run trains no further.
source "$(dirname "$0")/../lib/common.bash"
"$NIN" --config "$SMOKE" --run-dir "$WORK/straight" --quiet --set model.dropout=0.5
"$NIN" --config "$SMOKE" --run-dir "$WORK/resumed" --quiet --set model.dropout=0.5 --set train.epochs=1
[ "$(ls "$WORK/resumed"/ckpt-step*.nin | wc -l)" -eq 1 ] || fail "expected one checkpoint after epoch 1"
"$NIN" --config "$SMOKE" --run-dir "$WORK/resumed" --quiet --set model.dropout=0.5 --resume auto | tee "$WORK/out.txt"
grep -q "resumed from .*ckpt-step0000000032.nin at the end of epoch 1" "$WORK/out.txt" || fail "did not resume from epoch 1"
same_weights "$(newest_ckpt "$WORK/straight")" "$(newest_ckpt "$WORK/resumed")" || fail "resumed run differs"
[ "$(wc -l < "$WORK/resumed/metrics.jsonl")" -eq 3 ] || fail "metrics.jsonl should hold 3 epochs in all"
pass "resume after epoch 1 is bitwise identical"

# With augmentation (random crop and flip drawn from seed, epoch, step and rank) the same holds.
AUG=(--config "$SMOKE" --quiet --set data.crop_padding=2 --set data.flip=true --set data.train_limit=256 --set train.epochs=2)
"$NIN" "${AUG[@]}" --run-dir "$WORK/aug-straight"
"$NIN" "${AUG[@]}" --run-dir "$WORK/aug-resumed" --set train.epochs=1
"$NIN" "${AUG[@]}" --run-dir "$WORK/aug-resumed" --resume auto >/dev/null
same_weights "$(newest_ckpt "$WORK/aug-straight")" "$(newest_ckpt "$WORK/aug-resumed")" || fail "resumed augmented run differs"
"$NIN" --config "$SMOKE" --quiet --set data.train_limit=256 --set train.epochs=2 --run-dir "$WORK/plain"
same_weights "$(newest_ckpt "$WORK/plain")" "$(newest_ckpt "$WORK/aug-straight")" 2>/dev/null &&
  fail "augmentation changed nothing"
pass "resume with crop and flip is bitwise identical"
