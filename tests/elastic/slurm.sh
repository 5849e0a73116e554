#!/usr/bin/env bash
# Elastic under a real Slurm controller: launch/elastic as the batch script of a 2-task job runs
# the ranks with srun; task 1 dies (SIGKILL) mid-epoch, and the supervisor restarts from the last
# checkpoint on the one task slot left inside the same allocation; the job completes 0:0.
source "$(dirname "$0")/../lib/common.bash"
source "$(dirname "$0")/../lib/cluster.bash"
slurm_start

cat > "$WORK/elastic.sbatch" <<EOF
#!/bin/bash
# An elastic job: the supervisor starts the ranks with srun and restarts them within the allocation.
exec "$NIN_SOURCE_DIR/launch/elastic" --slurm --nin "$NIN" --backoff 1 -- --config "$SMOKE" \
  --set data.train_limit=384 --set data.test_limit=128 --set train.epochs=2 --set checkpoint.every_steps=4 \
  --quiet --run-dir "$WORK/run"
EOF
# NIN_FAULT reaches the tasks through sbatch's and srun's environment: rank 1 dies at step 6.
id=$(NIN_FAULT=kill:6:1 sbatch --parsable --chdir="$WORK" --job-name=elastic --output="$WORK/job-%j.out" \
       --nodes=1 --ntasks=2 --cpus-per-task=1 --time=10 --no-kill "$WORK/elastic.sbatch") \
  || fail "sbatch refused the script$(daemon_logs)"
state=$(wait_job "$id" 240)
cat "$WORK/job-$id.out"
[ "$state" = COMPLETED ] || fail "job $id ended $state: $(scontrol show job "$id")$(daemon_logs)"
[ "$(job_field "$id" ExitCode)" = 0:0 ] || fail "job $id exit code $(job_field "$id" ExitCode), expected 0:0"
grep -qE "^elastic: restart 1/3 .*rank 1 \(host $(hostname)\) lost \(signal 9\); resuming on 1 rank from ckpt-step0000000004\.nin" \
  "$WORK/job-$id.out" || fail "no restart line for task 1 on 1 rank"
grep -q "^resumed from .*ckpt-step0000000004.nin" "$WORK/job-$id.out" || fail "the restart did not resume from step 4"
[ "$(metric "$WORK/run" 2 world_size)" = 1 ] || fail "epoch 2 did not run on 1 rank"
pass "job $id: task 1 killed -> srun restarted on 1 task from ckpt-step0000000004.nin -> COMPLETED 0:0"
