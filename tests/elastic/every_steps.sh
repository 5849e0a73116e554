#!/usr/bin/env bash
# checkpoint.every_steps: rank 0 checkpoints every N optimizer steps, mid-epoch; writing them does
# not change the run, pruning keeps checkpoint.keep, and a resume from one is bitwise the run that
# went on.
source "$(dirname "$0")/../lib/common.bash"
TRAIN=(--config "$SMOKE" --quiet --set model.dropout=0.5 --set data.train_limit=384 --set data.test_limit=128
       --set train.epochs=2)

"$NIN" "${TRAIN[@]}" --run-dir "$WORK/plain"
"$NIN" "${TRAIN[@]}" --set checkpoint.every_steps=5 --set checkpoint.keep=100 --run-dir "$WORK/straight"
# 12 steps an epoch: every 5 steps, the epochs' ends, and no duplicate at step 24 (the last).
want="5 10 12 15 20 24"
got=$(ls "$WORK/straight" | sed -n 's/^ckpt-step0*\([0-9]*\)\.nin$/\1/p' | sort -n | tr '\n' ' ')
[ "$got" = "$want " ] || fail "checkpoints at steps '$got', expected '$want'"
same_weights "$(newest_ckpt "$WORK/plain")" "$(newest_ckpt "$WORK/straight")" \
  || fail "writing checkpoints every 5 steps changed the run"
pass "checkpoints at steps $want; the run is unchanged"

mkdir -p "$WORK/resumed"
cp "$WORK/straight/ckpt-step0000000015.nin" "$WORK/resumed/"
"$NIN" "${TRAIN[@]}" --set checkpoint.every_steps=5 --run-dir "$WORK/resumed" --resume auto > "$WORK/resumed.log"
grep -q "resumed from .*ckpt-step0000000015.nin in epoch 2 after step 3" "$WORK/resumed.log" \
  || fail "did not resume mid-epoch 2: $(cat "$WORK/resumed.log")"
same_weights "$(newest_ckpt "$WORK/straight")" "$(newest_ckpt "$WORK/resumed")" \
  || fail "resumed from the step-15 checkpoint differs from the run that went on"
/usr/bin/python3 -c "import sys; a, b = $(metric "$WORK/resumed" 2 train_loss), $(metric "$WORK/straight" 2 train_loss); sys.exit(a != b)" \
  || fail "epoch 2's train loss differs after resuming from a mid-epoch checkpoint"
pass "resume from the step-15 checkpoint: bitwise the same parameters and epoch metrics"
"$NIN" "${TRAIN[@]}" --set checkpoint.every_steps=5 --set checkpoint.keep=2 --run-dir "$WORK/keep2"
[ "$(ls "$WORK/keep2" | grep -c '^ckpt-step')" -eq 2 ] && [ -f "$WORK/keep2/ckpt-step0000000020.nin" ] \
  || fail "checkpoint.keep=2 should leave steps 20 and 24: $(ls "$WORK/keep2")"
pass "checkpoint.keep prunes the step checkpoints"
