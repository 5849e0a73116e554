#!/usr/bin/env bash
# A real Slurm job: launch/slurm/nin-dist.sbatch trains the smoke config with 2 tasks on a
# private one-node cluster, with srun --mpi=pmix (the default) and with mpirun inside the
# allocation, writes its checkpoints and metrics, and completes.
source "$(dirname "$0")/../lib/common.bash"
source "$(dirname "$0")/../lib/cluster.bash"
slurm_start

# submit LAUNCHER NAME [nin-dist flags]: the job id. The command line overrides the script's
# #SBATCH lines: one node, 2 ranks, 1 CPU each.
submit() {
  NIN_LAUNCHER=$1 NIN_CONFIG=$SMOKE sbatch --parsable --chdir="$WORK" --job-name="$2" \
    --output="$WORK/job-%j.out" --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=10 \
    "$NIN_SOURCE_DIR/launch/slurm/nin-dist.sbatch" "${@:3}" || fail "sbatch refused the script$(daemon_logs)"
}
srun_job=$(submit srun smoke --quiet)
mpirun_job=$(submit mpirun smoke-mpirun --quiet --set train.epochs=1)  # runs once the first ends
echo "submitted jobs $srun_job (srun) and $mpirun_job (mpirun)"

# check JOBID NAME EPOCHS LAUNCHER: the job completed, trained with 2 ranks, wrote its run.
check() {
  local id=$1 run=$WORK/runs/$2-$1 state
  state=$(wait_job "$id" 300)
  cat "$WORK/job-$id.out"
  [ "$state" = COMPLETED ] || fail "job $id ended $state: $(scontrol show job "$id")$(daemon_logs)"
  [ "$(job_field "$id" ExitCode)" = 0:0 ] || fail "job $id exit code $(job_field "$id" ExitCode), expected 0:0"
  grep -q "2 rank(s) on 1 node(s)" "$WORK/job-$id.out" || fail "job $id did not train with 2 ranks on 1 node"
  [ "$(metric "$run" "$3" world_size)" = 2 ] || fail "$run/metrics.jsonl lacks epoch $3 with world_size 2"
  [ -f "$(newest_ckpt "$run")" ] || fail "no checkpoint in $run"
  pass "$4: job $id COMPLETED 0:0, 2 ranks, $3 epoch(s) in metrics.jsonl, $(basename "$(newest_ckpt "$run")")"
}
check "$srun_job" smoke 3 "srun --mpi=pmix"
check "$mpirun_job" smoke-mpirun 1 "mpirun in the allocation"
