#!/usr/bin/env bash
# The run directory fills up or turns read-only: the failing write is reported with the
# system's reason, no partial file is left, and the previous checkpoint survives.
source "$(dirname "$0")/../lib/common.bash"
MNT=$WORK/small
mkdir -p "$MNT"
# A checkpoint of the smoke run (weights + Adam state) is about 24 MB: room for one.
mount -t tmpfs -o size=36m tmpfs "$MNT" || { echo "cannot mount a tmpfs here (needs root)"; exit 77; }
trap 'umount "$MNT" 2>/dev/null; rm -rf "$WORK"' EXIT
RUN=$MNT/run

expect_exit 1 "cannot (write|create) checkpoint .*No space left on device \(older checkpoints are intact\)" \
  "$NIN" --config "$SMOKE" --quiet --run-dir "$RUN" --set data.train_limit=128
[ "$(ls "$RUN"/ckpt-step*.nin | wc -l)" -eq 1 ] || fail "expected the epoch-1 checkpoint alone"
ls "$RUN"/*.tmp 2>/dev/null && fail "a temporary file was left behind"
first=$(newest_ckpt "$RUN")
same_weights "$first" "$first" >/dev/null || fail "the surviving checkpoint does not verify"
pass "disk full: the write failed cleanly, the epoch-1 checkpoint verifies"

sum=$(sha256sum "$first")
mount -o remount,ro "$MNT"
expect_exit 2 "run directory .* is not writable" "$NIN" --config "$SMOKE" --quiet --run-dir "$RUN" --resume auto
[ "$(sha256sum "$first")" = "$sum" ] || fail "checkpoint changed"
pass "read-only run directory: refused before training, checkpoint unchanged"
