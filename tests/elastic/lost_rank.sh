#!/usr/bin/env bash
# Elastic shrink under mpirun: one of 4 ranks is SIGKILLed mid-epoch; launch/elastic restarts
# from the last checkpoint on 2 ranks (3 remain; 2 is the most that divide the global batch of
# 32), the run finishes with exit 0, and its parameters equal, bitwise, those of a manual
# 2-rank --resume from the same checkpoint.
source "$(dirname "$0")/../lib/common.bash"
ELASTIC=$NIN_SOURCE_DIR/launch/elastic
TRAIN=(--config "$SMOKE" --set data.train_limit=384 --set data.test_limit=128 --set train.epochs=2
       --set checkpoint.every_steps=4 --set checkpoint.keep=100)

start=$SECONDS
"$ELASTIC" --nin "$NIN" --np 4 --backoff 1 --grow-every 0 -- "${TRAIN[@]}" --log-every 1 --run-dir "$WORK/run" \
  > "$WORK/elastic.log" 2>&1 &
supervisor=$!
for _ in $(seq 600); do grep -q "epoch 1/2 step 6/12" "$WORK/elastic.log" && break; kill -0 "$supervisor" || break; sleep 0.1; done
mpirun=$(pgrep -P "$supervisor" -x mpirun) || fail "no mpirun under the supervisor: $(cat "$WORK/elastic.log")"
victim=$(rank_pid "$mpirun" 2)
[ -n "$victim" ] || fail "rank 2 not found"
kill -KILL "$victim"
rc=0; wait "$supervisor" || rc=$?
cat "$WORK/elastic.log"
[ "$rc" -eq 0 ] || fail "launch/elastic exited $rc, expected 0"
grep -qE "^elastic: restart 1/3 .*rank 2 \(host localhost\) lost \(signal 9\); resuming on 2 ranks from ckpt-step[0-9]+\.nin \(3 available" \
  "$WORK/elastic.log" || fail "no restart line naming rank 2, signal 9 and 2 ranks"
grep -q "^elastic: done: the run finished on 2 ranks after 1 restart" "$WORK/elastic.log" || fail "no done line"
ckpt=$(sed -n 's/^resumed from \(.*ckpt-step[0-9]*\.nin\) .*written by 4 ranks.*/\1/p' "$WORK/elastic.log")
[ -f "$ckpt" ] || fail "the restart did not resume from a 4-rank checkpoint"
[ "$(metric "$WORK/run" 2 world_size)" = 2 ] || fail "epoch 2 did not run on 2 ranks"
pass "rank 2 of 4 killed: restarted on 2 ranks from $(basename "$ckpt"), exit 0 ($((SECONDS - start)) s)"

mpirun_np 2 "$NIN" "${TRAIN[@]}" --quiet --run-dir "$WORK/manual" --resume "$ckpt" > "$WORK/manual.log" 2>&1 \
  || fail "manual resume failed: $(cat "$WORK/manual.log")"
same_weights "$(newest_ckpt "$WORK/run")" "$(newest_ckpt "$WORK/manual")" \
  || fail "the elastic run differs from a manual 2-rank resume from $(basename "$ckpt")"
pass "elastic result == manual 2-rank --resume $(basename "$ckpt"), bitwise"
