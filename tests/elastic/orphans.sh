#!/usr/bin/env bash
# Ranks do not outlive their supervisor: launch/elastic killed outright (SIGKILL, no chance
# to forward anything) takes mpirun and its ranks with it within seconds, not at the next line
# of output that finds the pipe closed (--quiet and a full epoch: none for minutes).
source "$(dirname "$0")/../lib/common.bash"
RUN="$WORK/orphan-run"
"$NIN_SOURCE_DIR/launch/elastic" --nin "$NIN" --np 2 --backoff 0.2 --grow-every 0 -- \
  --config "$SMOKE" --run-dir "$RUN" --quiet --set data.train_limit=0 >"$WORK/out" 2>&1 &
supervisor=$!
for _ in $(seq 240); do grep -q "^nin-dist: 2 rank" "$WORK/out" && break; sleep 0.5; done
grep -q "^nin-dist: 2 rank" "$WORK/out" || { kill "$supervisor"; fail "the ranks did not start: $(cat "$WORK/out")"; }
kill -9 "$supervisor"
for _ in $(seq 20); do pgrep -f -- "--run-dir $RUN" >/dev/null || break; sleep 0.5; done
if left=$(pgrep -f -- "--run-dir $RUN"); then
  for p in $left; do kill -9 "$p" 2>/dev/null || true; done
  fail "ranks outlived their supervisor: $left"
fi
pass "the ranks ended with their supervisor"
