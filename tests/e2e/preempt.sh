#!/usr/bin/env bash
# Preemption: SIGUSR1 mid-epoch makes every rank stop at the same step, rank 0 checkpoints,
# the job exits 3 (requeue), and --resume auto finishes with bitwise the same parameters
# as an uninterrupted run.
source "$(dirname "$0")/../lib/common.bash"
ARGS=(--config "$SMOKE" --set model.dropout=0.5 --log-every 1)

# stop_at NP RUN_DIR STEP: start training, send SIGUSR1 once the progress passes STEP.
stop_at() {
  local np=$1 run=$2 step=$3 log=$WORK/$(basename "$2").log pid rc=0
  if [ "$np" -eq 1 ]; then "$NIN" "${ARGS[@]}" --run-dir "$run" > "$log" 2>&1 & pid=$!
  else "$MPIRUN" -np "$np" "${MPI_FLAGS[@]}" "$NIN" "${ARGS[@]}" --run-dir "$run" > "$log" 2>&1 & pid=$!; fi
  for _ in $(seq 600); do grep -q "epoch 2/3 step $step/" "$log" && break; sleep 0.1; done
  kill -USR1 "$pid"
  wait "$pid" || rc=$?
  cat "$log"
  [ "$rc" -eq 3 ] || fail "expected exit 3 after SIGUSR1, got $rc"
  grep -q "stopped at epoch 2" "$log" || fail "did not stop in epoch 2"
}

for np in 1 2; do
  mkdir -p "$WORK/$np"
  if [ "$np" -eq 1 ]; then "$NIN" "${ARGS[@]}" --quiet --run-dir "$WORK/$np/straight"
  else mpirun_np 2 "$NIN" "${ARGS[@]}" --quiet --run-dir "$WORK/$np/straight"; fi
  stop_at "$np" "$WORK/$np/stopped" 8
  if [ "$np" -eq 1 ]; then "$NIN" "${ARGS[@]}" --quiet --run-dir "$WORK/$np/stopped" --resume auto
  else mpirun_np 2 "$NIN" "${ARGS[@]}" --quiet --run-dir "$WORK/$np/stopped" --resume auto; fi
  same_weights "$(newest_ckpt "$WORK/$np/straight")" "$(newest_ckpt "$WORK/$np/stopped")" \
    || fail "$np rank(s): preempted and resumed run differs from the uninterrupted one"
  /usr/bin/python3 -c "import sys; a, b = $(metric "$WORK/$np/stopped" 2 train_loss), $(metric "$WORK/$np/straight" 2 train_loss); sys.exit(abs(a - b) > 1e-6 * abs(b))" \
    || fail "$np rank(s): epoch 2's train loss differs after a mid-epoch resume"
  pass "$np rank(s): preempted mid-epoch, resumed, bitwise identical"
done
