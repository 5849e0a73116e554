#!/usr/bin/env bash
# Everything that needs a GPU, in one call that ends within DEADLINE_S seconds (default 540:
# a 10-minute device command with a minute to spare) and always leaves gpu.{json,md}.
# Steps, in order of value, each capped by the time left: build against the machine's pip
# PyTorch and its NCCL; the test suite (minus what cannot run there); the CPU/CUDA loss pair
# (TF32 off); the nin-dist rows; the PyTorch rows (bench/gpu/seed_pipeline.py); the best
# recipe (configs/fmnist-best.toml) with the epochs that still fit. The report is written
# after every step and from an EXIT trap, from whatever finished: a row that did not run says
# why (deadline, failed: <last line>, not available).
#
# Usage: bench/gpu/run.sh [--rehearse] [OUT_DIR]
#   OUT_DIR (else $OUT, else BUILD_DIR/bench): logs, each run's metrics, a copy of gpu.{json,md}.
#   --rehearse: the same script on this machine's CPU with tiny limits, for CI (ctest -L
#     gpu-rehearsal): the CPU build in BUILD_DIR (default build), /usr/bin/python3's PyTorch,
#     no nvidia-smi; gpu.json says "rehearsal": true and goes to OUT_DIR, never bench/results.
# Where toml++, xxhash or Boost.Program_options are missing (the GPU image described in
# ../shared/gpu/README.md), make .gpu-bundle/ first with ../shared/gpu/bundle.sh and copy it
# along with the checkout.
# Knobs (environment): DEADLINE_S (540), EPOCHS (3: nin-dist rows; the first is warm-up),
# B16_EPOCHS (2), TRAIN_LIMIT/TEST_LIMIT (0 = all), RESIZE (the configs' 224), CTEST_ARGS
# (which tests; default: all but Slurm, network namespaces and the rehearsal of this script), TIMED_IMAGES (30000 per
# PyTorch row), COMPILE_MODE (reduce-overhead or max-autotune), PROFILE_STEPS (20:29: the
# nin-dist fp32 and bf16 rows' log.profile_steps, in their first epoch, which is not timed),
# PROFILE_TORCH_STEPS (10: PyTorch eager fp32 and bf16 steps profiled after their timed
# window; gpu.md's "Kernel profile" puts the two side by side), BUILD_DIR (build-gpu),
# RESULTS (bench/results), caps in seconds: BUILD_S (240) SUITE_S (180) PAIR_S (60) ROW_S
# (90) TORCH_S (180), REPORT_S (20: kept for the report).
set -uo pipefail  # no -e: a failed step is recorded and the next one runs
invocation="$0 $*"
REHEARSE=0
[ "${1:-}" = --rehearse ] && { REHEARSE=1; shift; }
out_arg=${1:+$(realpath -m "$1")}  # before the cd: relative to where it was called
cd "$(dirname "$0")/../.." || exit 1
START=$SECONDS
DEADLINE_S=${DEADLINE_S:-540}
REPORT_S=${REPORT_S:-20}
if [ $REHEARSE = 1 ]; then  # tiny sizes: the plumbing, not a figure
  BUILD=${BUILD_DIR:-build}
  OUT=${out_arg:-${OUT:-$BUILD/bench-rehearsal}}
  RESULTS=${RESULTS:-$OUT}
  RUNS=$OUT/runs-work
  PY=${PY:-/usr/bin/python3}  # Debian's PyTorch 1.13 (the python3 of pyenv has none)
  : "${EPOCHS:=1}" "${B16_EPOCHS:=1}" "${TRAIN_LIMIT:=128}" "${TEST_LIMIT:=64}" "${RESIZE:=67}"
  : "${CTEST_ARGS:=-R ^PlanBuckets$}" "${TIMED_IMAGES:=128}"
  : "${BEST_MAX_EPOCHS:=1}" "${PAIR_LIMIT:=128}" "${BEST_VAL_SPLIT:=32}"  # of the 128 images, not the config's 5,000
  : "${PROFILE_STEPS:=0:0}" "${PROFILE_TORCH_STEPS:=1}"  # an epoch of 128 images is one step; bf16 is slow here
  TORCH_FLAGS=(--device cpu --warmup-steps 1 --workers 1 --train-limit 512)
  DEVICE=auto MIN_STEP_S=5
else
  BUILD=${BUILD_DIR:-build-gpu}
  OUT=${out_arg:-${OUT:-$BUILD/bench}}
  RESULTS=${RESULTS:-bench/results}
  RUNS=$BUILD/bench-runs  # run directories with checkpoints: they stay out of OUT_DIR
  PY=${PY:-python3}
  TORCH_FLAGS=(--device cuda)
  DEVICE=cuda MIN_STEP_S=20
fi
EPOCHS=${EPOCHS:-3} B16_EPOCHS=${B16_EPOCHS:-2} TRAIN_LIMIT=${TRAIN_LIMIT:-0} TEST_LIMIT=${TEST_LIMIT:-0}
CTEST_ARGS=${CTEST_ARGS:--LE ^(cluster|gpu-rehearsal|fuzz)$ -E ^elastic_(lost_node|slurm)$}
TIMED_IMAGES=${TIMED_IMAGES:-30000} COMPILE_MODE=${COMPILE_MODE:-reduce-overhead}
BEST_MAX_EPOCHS=${BEST_MAX_EPOCHS:-1000}
PROFILE_STEPS=${PROFILE_STEPS:-20:29} PROFILE_TORCH_STEPS=${PROFILE_TORCH_STEPS:-10}
PROFILES=$RUNS/torch-profile  # PyTorch's profile tables; nin-dist's are its run directories' profile.md
invocation="DEADLINE_S=$DEADLINE_S EPOCHS=$EPOCHS B16_EPOCHS=$B16_EPOCHS TRAIN_LIMIT=$TRAIN_LIMIT \
TEST_LIMIT=$TEST_LIMIT RESIZE=${RESIZE:-} TIMED_IMAGES=$TIMED_IMAGES COMPILE_MODE=$COMPILE_MODE \
PROFILE_STEPS=$PROFILE_STEPS PROFILE_TORCH_STEPS=$PROFILE_TORCH_STEPS CTEST_ARGS='$CTEST_ARGS' $invocation"
if [ $REHEARSE = 1 ] && [ "$(realpath -m "$RESULTS")" = "$(realpath -m bench/results)" ]; then
  echo "run.sh --rehearse: RESULTS must not be bench/results (a rehearsal is not a figure)" >&2; exit 2
fi
rm -rf "$RUNS"
mkdir -p "$OUT" "$RUNS" "$RESULTS"
rm -f "$OUT"/{plan,steps}.tsv "$OUT"/probe.json
BIN=$BUILD/src/app/nin-dist

# ---- the plan: every row of the report, run or not (ROW KIND SOURCE STEP) ----
plan() { printf '%s\t%s\t%s\t%s\n' "$@" >> "$OUT/plan.tsv"; }
plan build build "$OUT/cmake.txt" build
plan suite suite "$OUT/suite.txt" suite
plan pair pair "$RUNS/cpu|$RUNS/cuda" pair
for r in seed-fp32 seed-bf16 fast-b128 graph-b128 fast-b16 graph-b16; do plan "nin-$r" nin "$RUNS/$r" "nin-$r"; done
for r in eager-fp32 eager-bf16-cl compiled-bf16-cl compiled-bf16-cl-b16 seed-dataloader; do
  plan "torch-$r" torch "$OUT/torch.txt" torch
done
plan nin-best nin "$RUNS/best" nin-best

# record STEP STATUS SECONDS REASON: one line of steps.tsv (the report takes a step's last).
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(printf %s "$4" | tr '\t\n' '  ' | cut -c1-300)" >> "$OUT/steps.tsv"; }
left() { echo $((DEADLINE_S - (SECONDS - START))); }

# report [--final ENDED_BY]: gpu.{json,md} from what finished so far.
report() {
  local args=(--plan "$OUT/plan.tsv" --steps "$OUT/steps.tsv" --probe-cache "$OUT/probe.json"
              --command "$invocation" --ctest-args "$CTEST_ARGS" --deadline-s "$DEADLINE_S"
              --elapsed-s "$((SECONDS - START))" --json "$RESULTS/gpu.json" --md "$RESULTS/gpu.md"
              --profile fp32 "$RUNS/seed-fp32/profile.md" "$PROFILES/eager-fp32.md"
              --profile bf16 "$RUNS/seed-bf16/profile.md" "$PROFILES/eager-bf16-cl.md")
  [ $REHEARSE = 1 ] && args+=(--rehearsal)
  "$PY" bench/gpu/report.py "${args[@]}" "$@" > "$OUT/report.txt" 2>&1
  local rc=$?
  [ "$RESULTS" -ef "$OUT" ] || cp "$RESULTS/gpu.json" "$RESULTS/gpu.md" "$OUT/" 2>/dev/null
  return $rc
}

# The EXIT trap: stop the running step, then the final report. A signal ends the call with
# 128+N after the report; otherwise the report's verdict is the exit code.
CHILD="" STEP="" STEP_T0=0 ENDED_BY=""
on_signal() { ENDED_BY=$1; exit $((128 + $2)); }
trap 'on_signal SIGTERM 15' TERM
trap 'on_signal SIGINT 2' INT
on_exit() {
  local rc=$?
  trap - EXIT TERM INT
  if [ -n "$CHILD" ]; then  # `timeout` passes the signal on, and SIGKILLs 5 s later
    kill -TERM "$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null
    record "$STEP" deadline $((SECONDS - STEP_T0)) "deadline: stopped by ${ENDED_BY:-the end of the call} while running"
  fi
  report --final "${ENDED_BY:-the end of the call}"
  local verdict=$?
  tail -n 40 "$OUT/report.txt"
  echo "report: $RESULTS/gpu.json ($((SECONDS - START)) s of DEADLINE_S=$DEADLINE_S)"
  [ -n "$ENDED_BY" ] && exit "$rc"
  exit $verdict
}
trap on_exit EXIT

# run_step STEP CAP_S CMD...: CMD under `timeout` with at most CAP_S seconds and never into
# the report's reserve, output in OUT/STEP.txt; records ran, deadline or failed: <last line>.
# In the background, so that a SIGTERM to this script is handled at once.
run_step() {
  local name=$1 cap=$2; shift 2
  local budget=$(($(left) - REPORT_S))
  [ "$cap" -gt "$budget" ] && cap=$budget
  if [ "$cap" -lt "$MIN_STEP_S" ]; then
    record "$name" deadline 0 "deadline: $((budget > 0 ? budget : 0)) s left before the report's $REPORT_S s; a step needs $MIN_STEP_S"
    return 124
  fi
  echo "== $name (at most $cap s, $(left) s left)"
  local rc=0
  STEP=$name STEP_T0=$SECONDS
  timeout --kill-after=5 "$cap" "$@" > "$OUT/$name.txt" 2>&1 &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=""
  local secs=$((SECONDS - STEP_T0)) last
  last=$(grep -v '^\s*$' "$OUT/$name.txt" | tail -n 1)
  if [ $rc -eq 0 ]; then record "$name" ran "$secs" "${NOTE:-}"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then record "$name" deadline "$secs" "deadline: stopped after its $cap s"
  else record "$name" failed "$secs" "failed: $last"; fi
  echo "   $(tail -n 1 "$OUT/steps.tsv" | cut -f2-)"
  report
  return $rc
}

# ---- 0. Set-up: the bundle, the card ----
if [ $REHEARSE = 0 ]; then
  if [ -f .gpu-bundle/setup.sh ]; then
    ld_path=${LD_LIBRARY_PATH:-}
    set +u  # setup.sh is written for an interactive shell
    # shellcheck disable=SC1091  # made by ../shared/gpu/bundle.sh
    source .gpu-bundle/setup.sh
    set -u
    # What a user has: no NCCL_HOME and no library path to pip's NCCL. CMake must find the
    # NCCL that PyTorch loads by itself (cmake/FindNcclToolkit.cmake) and the binaries must
    # find it through their RPATH.
    export LD_LIBRARY_PATH=$ld_path
  else
    echo "note: no .gpu-bundle/: assuming toml++, xxhash and Boost.Program_options are installed"
  fi
  unset NCCL_HOME
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
  cat "$OUT/gpu.txt"
fi
report  # a first gpu.json (every row pending), and the probes cached for the later ones

# ---- 1. Build with the CUDA LibTorch and the NCCL it loads ----
if [ $REHEARSE = 1 ]; then
  record build "not available" 0 "rehearsal: the CPU build in $BUILD is used as it is"
  [ -x "$BIN" ] || record build failed 0 "failed: no $BIN; build it first (scripts/setup.sh build)"
else
  TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  NIN_CMAKE_ARGS=${NIN_CMAKE_ARGS:-"-DCMAKE_BUILD_TYPE=Release -DNIN_WITH_NCCL=ON -DNIN_WITH_KINETO=ON -DCMAKE_PREFIX_PATH=$TORCH_PREFIX"}
  # One configure and one build; NIN_CMAKE_ARGS (setup.sh's spans lines) is split into words.
  # shellcheck disable=SC2086,SC2016  # a list of arguments; $1.. expand in the inner shell
  run_step build "${BUILD_S:-240}" bash -c 'build=$1 out=$2; shift 2
    cmake -S . -B "$build" "$@" > "$out/cmake.txt" 2>&1 || { tail -n 30 "$out/cmake.txt"; exit 1; }
    grep -E "^--   (LibTorch|MPI|NCCL|Kineto) " "$out/cmake.txt"
    cmake --build "$build" -j "$(nproc)"' build "$BUILD" "$OUT" $NIN_CMAKE_ARGS
fi
HAVE_BIN=0  # a binary left from an earlier call does not count when this build failed
[ -x "$BIN" ] && { [ $REHEARSE = 1 ] || [ "$(tail -n 1 "$OUT/steps.tsv" | cut -f1,2)" = "build	ran" ]; } && HAVE_BIN=1
no_build() { record "$1" "not available" 0 "not available: no nin-dist binary (the build did not finish)"; }

# ---- 2. The suite, then the CPU/CUDA pair (TF32 off: fp32 on both sides) ----
if [ $HAVE_BIN = 1 ]; then
  # shellcheck disable=SC2086  # CTEST_ARGS is a list of arguments
  run_step suite "${SUITE_S:-180}" ctest --test-dir "$BUILD" --output-on-failure -j "${CTEST_J:-$(nproc)}" $CTEST_ARGS
  SMALL=(--config configs/smoke.toml --quiet --set train.epochs=1 --set data.train_limit="${PAIR_LIMIT:-512}")
  # shellcheck disable=SC2016  # "$@" and "$0" expand in the inner shell
  run_step pair "${PAIR_S:-60}" env NVIDIA_TF32_OVERRIDE=0 bash -c '"$@" --set train.device=cpu --run-dir "$0/cpu" \
    && mpirun --allow-run-as-root -np 1 -x NVIDIA_TF32_OVERRIDE "$@" --set train.device='"$DEVICE"' --run-dir "$0/cuda"' \
    "$RUNS" "$BIN" "${SMALL[@]}"
else
  no_build suite; no_build pair
fi

# ---- 3. The nin-dist rows: the seed's recipe (224 px, batch 128, SGD 0.05) in fp32 and bf16,
#         and the fast step (channels-last, bf16), eager and as a CUDA graph, at batch 128 and 16 ----
SIZE=(--set data.train_limit="$TRAIN_LIMIT" --set data.test_limit="$TEST_LIMIT")
[ -n "${RESIZE:-}" ] && SIZE+=(--set data.resize="$RESIZE")
SEED=("$BIN" --config configs/fmnist.toml --quiet "${SIZE[@]}")
FAST=(--set train.precision=bf16 --set train.channels_last=true)
B16=(--set train.batch_size=16 --set train.base_batch_size=16)
EPOCH_COST=""  # wall seconds per epoch of the seed fp32 row, start-up included: sizes the best recipe
if [ $HAVE_BIN = 1 ]; then
  t0=$SECONDS
  PROFILE=(--set log.profile_steps="$PROFILE_STEPS")  # in epoch 1, which report.py does not time
  run_step nin-seed-fp32 "${ROW_S:-90}" "${SEED[@]}" --set train.epochs="$EPOCHS" "${PROFILE[@]}" \
    --run-dir "$RUNS/seed-fp32" && EPOCH_COST=$(((SECONDS - t0 + EPOCHS - 1) / EPOCHS))
  run_step nin-seed-bf16 "${ROW_S:-90}" "${SEED[@]}" --set train.epochs="$EPOCHS" --set train.precision=bf16 \
    "${PROFILE[@]}" --run-dir "$RUNS/seed-bf16"
  graph_rows=1  # a CUDA graph needs a CUDA build on a GPU
  "$BIN" --version 2>/dev/null | grep -qx "CUDA: available" || graph_rows=0
  for b in 128 16; do
    batch=(); epochs=$EPOCHS
    [ $b = 16 ] && batch=("${B16[@]}") epochs=$B16_EPOCHS
    run_step "nin-fast-b$b" "${ROW_S:-90}" "${SEED[@]}" --set train.epochs="$epochs" "${FAST[@]}" "${batch[@]}" \
      --run-dir "$RUNS/fast-b$b"
    if [ $graph_rows = 1 ] && [ $REHEARSE = 0 ]; then
      run_step "nin-graph-b$b" "${ROW_S:-90}" "${SEED[@]}" --set train.epochs="$epochs" "${FAST[@]}" "${batch[@]}" \
        --set train.cuda_graph=true --run-dir "$RUNS/graph-b$b"
    else
      record "nin-graph-b$b" "not available" 0 "not available: train.cuda_graph needs a CUDA build on a GPU"
    fi
  done
else
  for r in seed-fp32 seed-bf16 fast-b128 graph-b128 fast-b16 graph-b16; do no_build "nin-$r"; done
fi

# ---- 4. The PyTorch rows, one process on the same card (data on the device, warm-up apart) ----
run_step torch "${TORCH_S:-180}" "$PY" bench/gpu/seed_pipeline.py "${TORCH_FLAGS[@]}" ${RESIZE:+--resize "$RESIZE"} \
  --timed-images "$TIMED_IMAGES" --compile-mode "$COMPILE_MODE" --profile-steps "$PROFILE_TORCH_STEPS" \
  --profile-dir "$PROFILES"

# ---- 5. The best recipe, with the epochs that fit in what is left ----
full=$(sed -n 's/^epochs *= *\([0-9]*\).*/\1/p' configs/fmnist-best.toml)
budget=$(($(left) - REPORT_S))
per_epoch=${EPOCH_COST:-${BEST_EPOCH_S:-8}}  # seconds; 8 when the seed row gave no measure
[ "$per_epoch" -ge 1 ] || per_epoch=1
fit=$((budget / per_epoch))
why="to fit the deadline ($budget s left, about $per_epoch s an epoch)"
[ "$fit" -gt "$full" ] && fit=$full
[ "$fit" -gt "$BEST_MAX_EPOCHS" ] && fit=$BEST_MAX_EPOCHS why="by BEST_MAX_EPOCHS"
if [ $HAVE_BIN = 0 ]; then
  no_build nin-best
elif [ "$fit" -lt 1 ]; then
  record nin-best deadline 0 "deadline: $((budget > 0 ? budget : 0)) s left, an epoch costs about $per_epoch s"
else
  [ "$fit" -lt "$full" ] && NOTE="cut to $fit of $full epochs $why"
  run_step nin-best "$budget" "$BIN" --config configs/fmnist-best.toml --quiet "${SIZE[@]}" \
    ${BEST_VAL_SPLIT:+--set data.val_split="$BEST_VAL_SPLIT"} --set train.epochs="$fit" --run-dir "$RUNS/best"
  NOTE=""
fi
for r in cpu cuda seed-fp32 seed-bf16 fast-b128 graph-b128 fast-b16 graph-b16 best; do  # raw figures, back with OUT_DIR
  [ -f "$RUNS/$r/metrics.jsonl" ] || continue
  mkdir -p "$OUT/runs/$r"
  cp "$RUNS/$r"/{metrics.jsonl,config.toml} "$OUT/runs/$r/" 2>/dev/null
done
