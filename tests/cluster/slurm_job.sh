#!/usr/bin/env bash
# A real Slurm job: launch/slurm/nin-dist.sbatch trains the smoke config with 2 tasks on a
# private one-node cluster (srun --mpi=pmix), writes its checkpoint and metrics, and completes.
source "$(dirname "$0")/../lib/common.bash"
source "$(dirname "$0")/../lib/cluster.bash"
slurm_start

SBATCH=$NIN_SOURCE_DIR/launch/slurm/nin-dist.sbatch
# The command line overrides the script's #SBATCH lines: one node, 2 ranks, 1 CPU each.
id=$(NIN_CONFIG=$SMOKE sbatch --parsable --chdir="$WORK" --job-name=smoke --output="$WORK/job-%j.out" \
       --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=10 "$SBATCH" --quiet) \
  || fail "sbatch refused the script$(daemon_logs)"
echo "submitted job $id"
state=$(wait_job "$id" 240)
out=$WORK/job-$id.out
cat "$out"
[ "$state" = COMPLETED ] || fail "job $id ended $state: $(scontrol show job "$id")$(daemon_logs)"
[ "$(job_field "$id" ExitCode)" = 0:0 ] || fail "job $id exit code $(job_field "$id" ExitCode), expected 0:0"
pass "job $id COMPLETED, exit code 0:0"

run=$WORK/runs/smoke-$id
grep -q "2 rank(s) on 1 node(s)" "$out" || fail "the job did not train with 2 ranks on 1 node"
[ "$(metric "$run" 3 world_size)" = 2 ] || fail "metrics.jsonl lacks epoch 3 with world_size 2"
[ -f "$(newest_ckpt "$run")" ] || fail "no checkpoint in $run"
pass "2 ranks under srun --mpi=pmix: 3 epochs in metrics.jsonl, checkpoint $(basename "$(newest_ckpt "$run")")"
