#!/usr/bin/env bash
# Two hosts: network namespaces with their own hostnames, joined by a veth pair (eth0 in each).
# mpirun starts one rank per host from a hostfile, reaching the second host through an
# ssh-like agent and talking TCP only; the result equals a 2-rank run on one host.
source "$(dirname "$0")/../lib/common.bash"
source "$(dirname "$0")/../lib/cluster.bash"
{ command -v unshare && command -v ip; } > /dev/null || fail "needs ip (iproute2) and unshare (util-linux)"

A=nin-$$-a B=nin-$$-b
netns_pair "$A" 10.77.0.1 "$B" 10.77.0.2
# A connection attempt (refused: nothing listens) resolves b's address over the link.
ip netns exec "$A" timeout 5 bash -c ': < /dev/tcp/10.77.0.2/9' 2>/dev/null || true
ip -n "$A" neigh show 10.77.0.2 | grep -q lladdr || fail "host a cannot reach host b over the veth pair"

netns_agent "$WORK/agent" "$A" 10.77.0.1 "$B" 10.77.0.2
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' > "$WORK/hostfile"

# The reference: 2 ranks on one host (shared memory).
mpirun_np 2 "$NIN" --config "$SMOKE" --quiet --run-dir "$WORK/one-host"

# mpirun runs on host a; the hostfile's 10.77.0.1 is local there, 10.77.0.2 goes through the agent.
# TCP only: shared memory does not cross hosts, and eth0 is the only link between them.
in_host "$A" host-a timeout 600 "$MPIRUN" --allow-run-as-root --bind-to none -np 2 --hostfile "$WORK/hostfile" \
    --mca plm_rsh_agent "$WORK/agent" --mca btl self,tcp --mca btl_tcp_if_include eth0 \
    --mca oob_tcp_if_include eth0 \
    "$NIN" --config "$SMOKE" --quiet --run-dir "$WORK/two-hosts" 2>&1 | tee "$WORK/two-hosts.log" \
  || fail "mpirun across the two namespaces exited ${PIPESTATUS[0]} (124: timed out)"
grep -q "2 rank(s) on 2 node(s)" "$WORK/two-hosts.log" || fail "nin-dist did not see 2 ranks on 2 nodes"
pass "2 ranks on 2 hosts (network namespaces, TCP over eth0)"

same_weights "$(newest_ckpt "$WORK/one-host")" "$(newest_ckpt "$WORK/two-hosts")" \
  || fail "2 ranks on 2 hosts differ from 2 ranks on one host"
pass "2 hosts == 1 host, bitwise"
