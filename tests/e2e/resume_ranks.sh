#!/usr/bin/env bash
# Every rank resumes from the checkpoint rank 0 chose, or none does: two ranks whose run
# directories differ (each starts in its own working folder with the same relative run.dir,
# as two nodes without a shared file system would) stop with exit 2 naming the odd rank.
source "$(dirname "$0")/../lib/common.bash"
FLAGS=(--config "$SMOKE" --run-dir run --quiet --set data.train_limit=64 --set data.test_limit=64)
mkdir -p "$WORK/node0" "$WORK/node1"
(cd "$WORK/node0" && "$NIN" "${FLAGS[@]}" --set train.epochs=2 >/dev/null)
cp -r "$WORK/node0/run" "$WORK/node1/run"
newest=$(basename "$(newest_ckpt "$WORK/node0/run")")
rm "$WORK/node1/run/$newest"  # rank 1's folder lacks rank 0's newest checkpoint
two_nodes() {
  "$MPIRUN" "${MPI_FLAGS[@]}" -np 1 --wdir "$WORK/node0" "$NIN" "${FLAGS[@]}" "$@" : \
    -np 1 --wdir "$WORK/node1" "$NIN" "${FLAGS[@]}" "$@"
}
expect_exit 2 "rank 1 does not see the checkpoint rank 0 resumes from \(run/$newest, global step 4\)" \
  two_nodes --set train.epochs=3 --resume auto
cp "$WORK/node0/run/$newest" "$WORK/node1/run/"
printf 'X' | dd of="$WORK/node1/run/$newest" bs=1 seek=70 conv=notrunc status=none  # corrupt there only
expect_exit 2 "rank 1 does not see the checkpoint" two_nodes --set train.epochs=3 --resume auto
cp "$WORK/node0/run/$newest" "$WORK/node1/run/"
expect_exit 0 "resumed from run/$newest at the end of epoch 2" two_nodes --set train.epochs=3 --resume auto
pass "ranks resume from one checkpoint or stop"
