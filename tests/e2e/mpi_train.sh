#!/usr/bin/env bash
# Two real MPI ranks: replicas stay bitwise identical (checked every step), the result does
# not depend on the number of ranks, and checkpoints move between world sizes.
source "$(dirname "$0")/../lib/common.bash"
SGD=(--quiet --set train.optimizer=sgd --set train.lr=0.05 --set train.batch_size=64)

# Replica consistency: dist.check_every=1 compares parameter checksums after every step.
mpirun_np 2 "$NIN" --config "$SMOKE" --run-dir "$WORK/np2" --set dist.check_every=1 --set train.epochs=1 "${SGD[@]}" \
  | tee "$WORK/np2.txt"
grep -q "2 rank(s)" "$WORK/np2.txt" || fail "not 2 ranks"
[ "$(metric "$WORK/np2" 1 world_size)" = 2 ] || fail "metrics world_size should be 2"
pass "2 ranks, replicas identical at every step"

# World-size invariance: 1 rank x 64 images and 2 ranks x 32 images per step (dropout off).
"$NIN" --config "$SMOKE" --run-dir "$WORK/np1" --set train.epochs=1 "${SGD[@]}"
same_weights "$(newest_ckpt "$WORK/np1")" "$(newest_ckpt "$WORK/np2")" 1e-4 || fail "1 rank and 2 ranks differ"
pass "1 rank == 2 ranks within 1e-4"

# Channels-last parameters are dense but not contiguous: the MPI broadcast and allreduce take
# them, replicas stay identical, and the result is the contiguous one's.
mpirun_np 2 "$NIN" --config "$SMOKE" --run-dir "$WORK/np2-nhwc" --set dist.check_every=1 --set train.epochs=1 \
  --set train.channels_last=true "${SGD[@]}"
same_weights "$(newest_ckpt "$WORK/np2")" "$(newest_ckpt "$WORK/np2-nhwc")" 1e-4 || fail "channels-last on 2 ranks differs"
pass "channels-last on 2 ranks == contiguous within 1e-4"

# A checkpoint written by 2 ranks resumes with 2 ranks (bitwise as uninterrupted) and with 1.
mpirun_np 2 "$NIN" --config "$SMOKE" --run-dir "$WORK/np2-straight" --set train.epochs=2 "${SGD[@]}"
cp -r "$WORK/np2" "$WORK/np2-again"
mpirun_np 2 "$NIN" --config "$SMOKE" --run-dir "$WORK/np2-again" --set train.epochs=2 --resume auto "${SGD[@]}"
same_weights "$(newest_ckpt "$WORK/np2-straight")" "$(newest_ckpt "$WORK/np2-again")" || fail "2->2 resume differs"
pass "written by 2, resumed by 2: bitwise"
cp -r "$WORK/np2" "$WORK/np2-to-1"
"$NIN" --config "$SMOKE" --run-dir "$WORK/np2-to-1" --set train.epochs=2 --resume auto "${SGD[@]}" | tee "$WORK/to1.txt"
grep -q "written by 2 ranks" "$WORK/to1.txt" || fail "resume message should say 2 ranks"
same_weights "$(newest_ckpt "$WORK/np2-straight")" "$(newest_ckpt "$WORK/np2-to-1")" 1e-4 || fail "2->1 resume differs"
pass "written by 2, resumed by 1: within 1e-4"
