# Cluster test helpers (sourced after common.bash): a private one-node Slurm (munged, slurmctld,
# slurmd with their state, sockets and logs under $WORK) and a teardown that stops, by PID, only
# what this test started. Needs root; installs slurm-wlm and munge when missing. Where root,
# the packages or network namespaces cannot be had, the test is skipped (exit 77).

[ "$(id -u)" -eq 0 ] || skip "cluster tests start daemons and namespaces; run as root"

# at_exit CMD...: run CMD at exit, latest first, before $WORK goes (replaces common.bash's trap).
CLEANUP=()
at_exit() { CLEANUP=("$(printf '%q ' "$@")" "${CLEANUP[@]}"); }
_run_cleanup() {
  local rc=$? c
  trap - EXIT INT TERM
  for c in "${CLEANUP[@]}"; do eval "$c" || true; done
  rm -rf "$WORK"
  exit "$rc"
}
trap _run_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# need_packages BINARY=PACKAGE...: apt-get installs the packages whose binary is missing; a
# machine that cannot install them (no registry, as on the GPU image) skips the test (77).
need_packages() {
  local want=() pair
  for pair in "$@"; do
    [ -x "${pair%%=*}" ] || [[ " ${want[*]} " == *" ${pair#*=} "* ]] || want+=("${pair#*=}")
  done
  [ "${#want[@]}" -eq 0 ] && return 0
  echo "installing ${want[*]}"
  local apt=(apt-get -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends)
  # The packages' own daemons stay off (or run on their default paths): the tests start theirs.
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${want[@]}" > "$WORK/apt.log" 2>&1 \
    || { DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update > "$WORK/apt.log" 2>&1 \
         && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${want[@]}" >> "$WORK/apt.log" 2>&1; } \
    || { tail -n 20 "$WORK/apt.log" >&2; skip "could not install ${want[*]} (no package registry here?)"; }
  for pair in "$@"; do [ -x "${pair%%=*}" ] || fail "${pair#*=} installed, but ${pair%%=*} is missing"; done
}

# free_port: a TCP port nothing listens on now (Slurm's ports must be fixed in slurm.conf).
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_for SECONDS WHAT CMD...: poll CMD every 0.5 s; fail with the daemon logs after SECONDS.
wait_for() {
  local limit=$1 what=$2 t; shift 2
  for ((t = 0; t < limit * 2; t++)); do "$@" && return 0; sleep 0.5; done
  fail "timed out after ${limit}s waiting for $what$(daemon_logs)"
}

# daemon_logs: the tails of the daemon logs and job outputs, for failure messages.
daemon_logs() {
  local f
  for f in "$WORK"/slurm/*.log "$WORK"/slurm/*.stdout "$WORK"/munge/munged.* "$WORK"/job-*.out; do
    [ -f "$f" ] && printf '\n--- %s (tail) ---\n%s' "$f" "$(tail -n 25 "$f")"
  done
}

# start_daemon NAME CMD...: start a foreground daemon in the background; stopped at exit.
DAEMONS=()
start_daemon() {
  local name=$1; shift
  "$@" > "$WORK/slurm/$name.stdout" 2>&1 &
  at_exit stop_pid $! "$name"
  DAEMONS+=("$name:$!")
}

# daemons_alive: fail at once, with the logs, if a daemon this test started has exited.
daemons_alive() {
  local d
  for d in "${DAEMONS[@]}"; do
    kill -0 "${d#*:}" 2>/dev/null || fail "${d%%:*} (pid ${d#*:}) exited$(daemon_logs)"
  done
}

# stop_pid PID NAME: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
  local pid=$1 t
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((t = 0; t < 100; t++)); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }; sleep 0.1; done
  echo "warning: $2 (pid $pid) ignored SIGTERM; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

# slurm_start: munged + slurmctld + slurmd for one node named $(hostname), with $(nproc) CPUs;
# exports SLURM_CONF so that sbatch/squeue/scontrol (and the jobs) use it.
slurm_start() {
  need_packages /usr/sbin/slurmctld=slurm-wlm /usr/sbin/slurmd=slurm-wlm /usr/bin/sbatch=slurm-wlm \
    /usr/sbin/munged=munge
  local node cpus
  node=$(hostname)
  cpus=$(nproc)

  # munged as the munge user on a private socket. It insists that every directory above its
  # socket be searchable by all and writable only by its owner, so $WORK becomes 0711.
  chmod 711 "$WORK"
  mkdir -p "$WORK/munge" "$WORK/slurm/state" "$WORK/slurm/spool" "$WORK/slurm/tmp"
  chown munge:munge "$WORK/munge"
  chmod 711 "$WORK/munge"
  if [ ! -s /etc/munge/munge.key ]; then  # the package's postinst makes one; make sure
    install -d -o munge -g munge -m 700 /etc/munge
    runuser -u munge -- /usr/sbin/mungekey --create --keyfile=/etc/munge/munge.key
  fi
  local sock=$WORK/munge/munge.socket
  setpriv --reuid=munge --regid=munge --clear-groups /usr/sbin/munged --foreground \
    --socket="$sock" --key-file=/etc/munge/munge.key --pid-file="$WORK/munge/munged.pid" \
    --log-file="$WORK/munge/munged.log" --seed-file="$WORK/munge/munged.seed" > "$WORK/munge/munged.stdout" 2>&1 &
  at_exit stop_pid $! munged
  DAEMONS+=("munged:$!")
  wait_for 20 "munged on $sock" _munge_up "$sock"

  # cred_expire=10: a requeued job may start again 10 s after it ended (default 120 s).
  # TmpFS (srun's PMIx directories, named by job id) and FirstJobId (Open MPI's shared-memory
  # names come from it): another test's cluster on this machine must not collide with this one.
  export SLURM_CONF=$WORK/slurm/slurm.conf
  cat > "$SLURM_CONF" <<EOF
ClusterName=nintest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock,cred_expire=10
FirstJobId=$((1000 + $$ % 50000 * 10))
StateSaveLocation=$WORK/slurm/state
TmpFS=$WORK/slurm/tmp
SlurmdSpoolDir=$WORK/slurm/spool
SlurmctldPidFile=$WORK/slurm/slurmctld.pid
SlurmdPidFile=$WORK/slurm/slurmd.pid
SlurmctldLogFile=$WORK/slurm/slurmctld.log
SlurmdLogFile=$WORK/slurm/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=10
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  start_daemon slurmctld /usr/sbin/slurmctld -D -i -f "$SLURM_CONF"
  start_daemon slurmd /usr/sbin/slurmd -D -f "$SLURM_CONF"
  wait_for 60 "node $node to be idle" _node_idle
  at_exit slurm_cancel_all  # runs before the daemons stop: job steps outlive slurmd
  echo "slurm: node $node idle ($cpus CPUs), SLURM_CONF=$SLURM_CONF"
}
_munge_up() { daemons_alive; [ -S "$1" ]; }
_node_idle() { daemons_alive; [ "$(sinfo -h -N -o %t 2>/dev/null)" = idle ]; }

# slurm_cancel_all: cancel this cluster's jobs and wait (20 s) until none runs.
slurm_cancel_all() {
  [ -n "$(squeue -h -o %i 2>/dev/null)" ] || return 0
  scancel --user=root 2>/dev/null || true
  local t
  for ((t = 0; t < 40; t++)); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && return 0; sleep 0.5; done
  echo "warning: jobs still in squeue 20 s after scancel: $(squeue 2>&1)" >&2
}

# job_field JOBID KEY: one KEY=VALUE field of `scontrol show job` (empty when unknown).
job_field() { scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

# wait_job JOBID SECONDS: wait until the job has ended (any final state); print its state.
wait_job() {
  local id=$1 limit=$2 t state
  for ((t = 0; t < limit * 2; t++)); do
    state=$(job_field "$id" JobState)
    case "$state" in
      COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)
        echo "$state"; return 0 ;;
    esac
    sleep 0.5
  done
  fail "job $id not done after ${limit}s (state ${state:-unknown}): $(scontrol show job "$id")$(daemon_logs)"
}

# netns_pair NS1 IP1 NS2 IP2: two network namespaces, "hosts" joined by a veth pair called
# eth0 on both sides (it never exists in this namespace), with IP1/24 and IP2/24. They, and
# whatever still runs in them, go at exit.
netns_pair() {
  local ns1=$1 ip1=$2 ns2=$3 ip2=$4 ns
  command -v ip > /dev/null || skip "no ip command (iproute2): network namespaces cannot be made here"
  for ns in "$ns1" "$ns2"; do
    ip netns add "$ns" 2> "$WORK/netns.err" || netns_refused "ip netns add $ns"
    at_exit netns_delete "$ns"
  done
  ip link add name eth0 netns "$ns1" type veth peer name eth0 netns "$ns2" 2> "$WORK/netns.err" \
    || netns_refused "veth $ns1 <-> $ns2"
  ip -n "$ns1" addr add "$ip1/24" dev eth0
  ip -n "$ns2" addr add "$ip2/24" dev eth0
  for ns in "$ns1" "$ns2"; do ip -n "$ns" link set lo up && ip -n "$ns" link set eth0 up; done
}

# netns_refused WHAT: a container without CAP_SYS_ADMIN/CAP_NET_ADMIN is refused namespaces and
# veths: skip (77); any other error fails the test.
netns_refused() {
  grep -qiE "not permitted|permission denied" "$WORK/netns.err" && skip "$1: $(cat "$WORK/netns.err")"
  fail "$1 failed: $(cat "$WORK/netns.err")"
}

# netns_agent FILE NS1 IP1 NS2 IP2: an ssh-like agent for mpirun's plm_rsh_agent, called as
# `agent HOST COMMAND...` (the words form one shell command line): it runs COMMAND in the
# namespace of HOST, with hostname host-a or host-b.
netns_agent() {
  cat > "$1" <<AGENT
#!/bin/sh
host=\$1; shift
case "\$host" in
  $3) ns=$2 name=host-a ;;
  $5) ns=$4 name=host-b ;;
  *) echo "agent: no such host: \$host" >&2; exit 255 ;;
esac
exec ip netns exec "\$ns" unshare --uts /bin/sh -c "hostname \$name && \$*"
AGENT
  chmod +x "$1"
}

# netns_delete NS: SIGTERM (SIGKILL after 5 s) what still runs inside NS, then delete NS.
netns_delete() {
  local pids t
  pids=$(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')
  if [ -n "${pids// }" ]; then
    echo "stopping what still runs in $1: $pids" >&2
    # shellcheck disable=SC2086 # one PID per word
    kill -TERM $pids 2>/dev/null
    for ((t = 0; t < 50; t++)); do [ -z "$(ip netns pids "$1" 2>/dev/null)" ] && break; sleep 0.1; done
    pids=$(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')
    # shellcheck disable=SC2086
    [ -n "${pids// }" ] && kill -KILL $pids 2>/dev/null
  fi
  ip netns del "$1" 2>/dev/null || true
}

# in_host NS HOSTNAME CMD...: run CMD in NS with its own UTS namespace called HOSTNAME, so that
# Open MPI sees one host per namespace (its session directories are named by hostname).
in_host() {
  local ns=$1 name=$2; shift 2
  ip netns exec "$ns" unshare --uts /bin/sh -c 'hostname "$0" && exec "$@"' "$name" "$@"
}
