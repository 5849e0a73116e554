#!/usr/bin/env bash
# One run per run directory on 2 ranks: rank 0 looks, both ranks stop with exit 2 before any
# file changes; --overwrite moves the run aside and both ranks train the new one.
source "$(dirname "$0")/../lib/common.bash"
RUN=$WORK/run
TINY=(--config "$SMOKE" --run-dir "$RUN" --quiet --set data.train_limit=64 --set data.test_limit=64)
snapshot() { (cd "$1" && find . -type f ! -name nin-dist.lock -print0 | sort -z | xargs -0 sha256sum); }

mpirun_np 2 "$NIN" "${TINY[@]}" --set train.epochs=2 >/dev/null
first=$(snapshot "$RUN")
expect_exit 2 "run directory $RUN holds another run \(2 epoch\(s\) recorded, test accuracy" \
  timeout 300 "$MPIRUN" -np 2 "${MPI_FLAGS[@]}" "$NIN" "${TINY[@]}" --set train.epochs=1
[ "$(snapshot "$RUN")" = "$first" ] || fail "a refused 2-rank start changed the first run's files"

mpirun_np 2 "$NIN" "${TINY[@]}" --set train.epochs=1 --overwrite > "$WORK/over.txt"
aside=$(sed -nE "s|^--overwrite: moved the earlier run's [0-9]+ files to (.*)$|\1|p" "$WORK/over.txt")
[ -n "$aside" ] && [ "$(snapshot "$aside")" = "$first" ] || fail "the earlier run was not moved whole: $(cat "$WORK/over.txt")"
n=$(wc -l < "$RUN/metrics.jsonl")
[ "$n" -eq 1 ] || fail "the new run's metrics.jsonl holds $n records"
[ "$(cd "$RUN" && ls ckpt-step*.nin)" = "ckpt-step0000000002.nin" ] || fail "the new run's checkpoints: $(ls "$RUN")"
grep -q '"world_size":2' "$RUN/metrics.jsonl" || fail "the new run did not train on 2 ranks"
pass "2 ranks: a re-run is refused by both, --overwrite starts over with the old run intact"
