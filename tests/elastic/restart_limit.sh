#!/usr/bin/env bash
# What launch/elastic does not retry, or stops retrying: a rank that dies at the same step after
# every restart hits --max-restarts (exit 1, a clear message); too few ranks left for
# --min-ranks (exit 1); bad input (exit 2) is never retried; SIGTERM passes through (exit 3).
source "$(dirname "$0")/../lib/common.bash"
ELASTIC=(env "$NIN_SOURCE_DIR/launch/elastic" --nin "$NIN" --backoff 0.2 --grow-every 0)
TRAIN=(--config "$SMOKE" --set data.train_limit=384 --set data.test_limit=128 --set train.epochs=1
       --set checkpoint.every_steps=4)

# Rank 1 exits (code 1) at global step 6 of every start; the checkpoint of step 4 resumes each
# time, and an exit code drops no slot: 3 starts on 2 ranks, then the limit.
start=$SECONDS
rc=0
out=$(NIN_FAULT=exit:6:1 "${ELASTIC[@]}" --np 2 --max-restarts 2 -- "${TRAIN[@]}" --quiet --run-dir "$WORK/limit" 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "expected exit 1 at the restart limit, got $rc: $out"
grep -qE "^elastic: giving up: restart limit 2 reached; last: rank 1 \(host localhost\) lost \(exit code 1\); the newest checkpoint is ckpt-step0000000004.nin" <<<"$out" \
  || fail "no message naming the limit, the rank and the checkpoint: $out"
grep -q "^elastic: restart 2/2 .*resuming on 2 ranks from ckpt-step0000000004.nin" <<<"$out" \
  || fail "no second restart on 2 ranks from the step-4 checkpoint: $out"
[ "$(grep -c "^resumed from .*ckpt-step0000000004.nin in epoch 1 after step 4" <<<"$out")" -eq 2 ] \
  || fail "each restart should resume from step 4: $out"
pass "a rank failing at every start: restart limit, exit 1 ($((SECONDS - start)) s)"

# Rank 0 killed with 2 ranks and --min-ranks 2: one slot remains, fewer than the minimum.
expect_exit 1 "^elastic: giving up: 1 rank available, and no count from --min-ranks 2 to 1 .*rank 0 \(host localhost\) lost \(signal 9\)" \
  env NIN_FAULT=kill:6:0 "${ELASTIC[@]}" --np 2 --min-ranks 2 -- "${TRAIN[@]}" --quiet --run-dir "$WORK/min"

# Bad input: nin-dist refuses the config before any start; a bad data path fails on the ranks.
expect_exit 2 "^elastic: nin-dist refused the config \(exit 2\); not started" \
  "${ELASTIC[@]}" --np 2 -- "${TRAIN[@]}" --quiet --set train.batch_size=0 --run-dir "$WORK/bad"
expect_exit 2 "^elastic: nin-dist refused its input \(exit 2\): not retried" \
  "${ELASTIC[@]}" --np 2 -- "${TRAIN[@]}" --quiet --set data.dir="$WORK/nowhere" --run-dir "$WORK/bad"

# SIGTERM to the supervisor: forwarded, the ranks checkpoint, exit 3 passes through.
"${ELASTIC[@]}" --np 2 -- "${TRAIN[@]}" --log-every 1 --run-dir "$WORK/term" \
  > "$WORK/term.log" 2>&1 &
supervisor=$!
for _ in $(seq 600); do grep -q "epoch 1/1 step 2/" "$WORK/term.log" 2>/dev/null && break; kill -0 "$supervisor" || break; sleep 0.1; done
kill -TERM "$supervisor"
rc=0; wait "$supervisor" || rc=$?
cat "$WORK/term.log"
[ "$rc" -eq 3 ] || fail "SIGTERM: expected exit 3, got $rc"
grep -q "^elastic: stopped by signal 15: nin-dist exited 3; the checkpoint resumes" "$WORK/term.log" \
  || fail "no stop line"
pass "SIGTERM: forwarded, checkpointed, exit 3"
