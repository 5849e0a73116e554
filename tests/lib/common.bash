# Shared helpers for the script tests (sourced; ctest sets NIN, CKPT_COMPARE, MPIRUN, NIN_SOURCE_DIR).
set -euo pipefail
: "${NIN:?set NIN to the nin-dist binary}" "${NIN_SOURCE_DIR:?}" "${MPIRUN:=mpirun}"
WORK=$(mktemp -d /tmp/nin-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SMOKE="$NIN_SOURCE_DIR/configs/smoke.toml"
DATA=/usr/share/datasets/fashion-mnist

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
# skip MESSAGE: what this machine cannot give the test (ctest's SKIP_RETURN_CODE 77).
skip() { echo "skip: $*" >&2; exit 77; }

# auto_device: what train.device = "auto" picks for rank 0: cuda:0 where this build sees a
# GPU (nin-dist --version says "CUDA: available"), else cpu.
auto_device() { if "$NIN" --version | grep -q '^CUDA: available'; then echo cuda:0; else echo cpu; fi; }

# Real ranks on this machine: shared memory and TCP, no binding (nin-dist sets its threads).
# (Call "$MPIRUN" "${MPI_FLAGS[@]}" directly where the job goes to the background: a
# backgrounded function is a subshell, and $! would not be mpirun's pid.)
MPI_FLAGS=(--oversubscribe --allow-run-as-root --bind-to none --mca btl self,vader,tcp)
mpirun_np() {
  local np=$1; shift
  "$MPIRUN" -np "$np" "${MPI_FLAGS[@]}" "$@"
}

# rank_pid MPIRUN_PID RANK: the pid of a rank started by that mpirun (empty while it has none).
rank_pid() {
  for p in $(pgrep -P "$1"); do
    tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return; }
  done
}

# expect_exit CODE PATTERN CMD...: the command exits with CODE and its output matches PATTERN.
expect_exit() {
  local code=$1 pattern=$2; shift 2
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [ "$rc" -eq "$code" ] || fail "expected exit $code, got $rc from: $* -- output: $out"
  grep -qE -- "$pattern" <<<"$out" || fail "output of '$*' lacks /$pattern/: $out"
  pass "exit $code /$pattern/: ${*: -3}"
}

newest_ckpt() { ls "$1"/ckpt-step*.nin | sort | tail -n 1; }

# metric RUN_DIR EPOCH KEY: one value from metrics.jsonl.
metric() {
  /usr/bin/python3 -c 'import json,sys
for line in open(sys.argv[1] + "/metrics.jsonl"):
    r = json.loads(line)
    if r["epoch"] == int(sys.argv[2]): print(r[sys.argv[3]])' "$@"
}

# Bitwise (or within TOL) equality of two checkpoints' tensors.
same_weights() { "$CKPT_COMPARE" "$1" "$2" "${3:-0}"; }
