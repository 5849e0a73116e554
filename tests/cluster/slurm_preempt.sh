#!/usr/bin/env bash
# Preemption under Slurm: the job's time-limit warning (USR1 to the batch script, as
# --signal=B:USR1@N sends it) mid-epoch makes the ranks checkpoint; the script requeues the
# job, which resumes in the same run directory and completes with bitwise the parameters of
# an uninterrupted 2-rank run.
source "$(dirname "$0")/../lib/common.bash"
source "$(dirname "$0")/../lib/cluster.bash"
slurm_start
TRAIN=(--set train.epochs=4)

id=$(NIN_CONFIG=$SMOKE sbatch --parsable --chdir="$WORK" --job-name=preempt --output="$WORK/job-%j.out" \
       --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=15 \
       "$NIN_SOURCE_DIR/launch/slurm/nin-dist.sbatch" "${TRAIN[@]}" --log-every 1) \
  || fail "sbatch refused the script$(daemon_logs)"
out=$WORK/job-$id.out
run=$WORK/runs/preempt-$id
echo "submitted job $id"

in_epoch_2() {
  case "$(job_field "$id" JobState)" in PENDING|CONFIGURING|RUNNING) ;;
    *) fail "job $id is $(job_field "$id" JobState) before the signal$(daemon_logs)" ;; esac
  grep -q "epoch 2/4 step [0-9]*/" "$out" 2>/dev/null
}
wait_for 300 "job $id to train in epoch 2" in_epoch_2
scancel --signal=USR1 --batch "$id" || fail "scancel --signal=USR1 --batch $id failed"
echo "sent USR1 to the batch script of job $id"

restarted() { [ "$(job_field "$id" Restarts)" -ge 1 ] 2>/dev/null; }
wait_for 120 "job $id to be requeued" restarted
state=$(wait_job "$id" 420)
cat "$out"
[ "$state" = COMPLETED ] || fail "job $id ended $state: $(scontrol show job "$id")$(daemon_logs)"
[ "$(job_field "$id" ExitCode)" = 0:0 ] || fail "job $id exit code $(job_field "$id" ExitCode), expected 0:0"
grep -q "stopped at epoch 2" "$out" || fail "nin-dist did not stop in epoch 2"
grep -q "requeueing job $id" "$out" || fail "the script did not requeue"
grep -q "job $id start 2 " "$out" || fail "the output shows no second start"
grep -q "resumed from .*/ckpt-step" "$out" || fail "the second start did not resume from the checkpoint"
pass "job $id: USR1 in epoch 2 -> checkpoint -> requeued (Restarts=$(job_field "$id" Restarts)) -> resumed -> COMPLETED 0:0"

mpirun_np 2 "$NIN" --config "$SMOKE" "${TRAIN[@]}" --quiet --run-dir "$WORK/straight"
same_weights "$(newest_ckpt "$WORK/straight")" "$(newest_ckpt "$run")" \
  || fail "the preempted and requeued job differs from an uninterrupted run"
[ "$(metric "$run" 4 world_size)" = 2 ] || fail "metrics.jsonl lacks epoch 4 with world_size 2"
pass "requeued job == uninterrupted mpirun -np 2 run, bitwise"
