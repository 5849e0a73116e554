#!/usr/bin/env bash
# Elastic across two hosts (network namespaces joined by a veth pair, as tests/cluster/multinode.sh):
# host b dies (every process in it SIGKILLed) mid-epoch; launch/elastic drops it, restarts from the
# last checkpoint on host a alone, and, once the host list is touched (b is back), grows to both
# hosts again through a checkpoint; the run finishes with exit 0.
source "$(dirname "$0")/../lib/common.bash"
source "$(dirname "$0")/../lib/cluster.bash"
{ command -v unshare && command -v ip; } > /dev/null || fail "needs ip (iproute2) and unshare (util-linux)"

A=nin-$$-a B=nin-$$-b
netns_pair "$A" 10.78.0.1 "$B" 10.78.0.2
netns_agent "$WORK/agent" "$A" 10.78.0.1 "$B" 10.78.0.2
printf '10.78.0.1 slots=1\n10.78.0.2 slots=1\n' > "$WORK/hosts"

MPI_ARGS="--mca plm_rsh_agent $WORK/agent --mca btl self,tcp --mca btl_tcp_if_include eth0 --mca oob_tcp_if_include eth0"
in_host "$A" host-a "$NIN_SOURCE_DIR/launch/elastic" --nin "$NIN" --hostfile "$WORK/hosts" --backoff 1 \
    --grow-every 1 --launcher-args "$MPI_ARGS" -- --config "$SMOKE" --set data.train_limit=384 \
    --set data.test_limit=128 --set train.epochs=3 --set checkpoint.every_steps=4 --log-every 1 \
    --run-dir "$WORK/run" > "$WORK/elastic.log" 2>&1 &
supervisor=$!
at_exit stop_pid "$supervisor" elastic
for _ in $(seq 900); do grep -q "epoch 1/3 step 6/" "$WORK/elastic.log" && break; kill -0 "$supervisor" || break; sleep 0.1; done
grep -q "2 rank(s) on 2 node(s)" "$WORK/elastic.log" || fail "did not start on 2 hosts: $(cat "$WORK/elastic.log")"
# shellcheck disable=SC2046 # one PID per word
kill -KILL $(ip netns pids "$B") || fail "nothing ran on host b"
for _ in $(seq 600); do grep -q "^elastic: restart 1/" "$WORK/elastic.log" && break; kill -0 "$supervisor" || break; sleep 0.1; done
touch "$WORK/hosts"  # the operator says b is back
rc=0; wait "$supervisor" || rc=$?
cat "$WORK/elastic.log"
[ "$rc" -eq 0 ] || fail "launch/elastic exited $rc, expected 0"
grep -qE "^elastic: restart 1/3 .*host 10.78.0.2 lost.*; resuming on 1 rank from ckpt-step[0-9]+\.nin .*10.78.0.1 x1\)" \
  "$WORK/elastic.log" || fail "no restart on host a alone after host b was lost"
grep -q "1 rank(s) on 1 node(s)" "$WORK/elastic.log" || fail "nin-dist did not run on 1 host"
pass "host b lost: restarted on host a from the last checkpoint"
grep -q "^elastic: grow: more ranks available (1 -> 2); resuming on 2 ranks" "$WORK/elastic.log" \
  || fail "did not grow back to 2 ranks when host b returned"
[ "$(metric "$WORK/run" 3 world_size)" = 2 ] || fail "epoch 3 did not run on 2 ranks"
pass "host b back: grew to 2 ranks on 2 hosts, finished with exit 0"
