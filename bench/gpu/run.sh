#!/usr/bin/env bash
# Everything that needs a GPU, in one call on a GPU machine (PyTorch 2.x with CUDA from pip,
# its NCCL, nvcc, Open MPI): build against that LibTorch, run the test suite, compare a
# 1-rank CUDA run with a CPU run, time the seed's recipe in fp32 and bf16 against the PyTorch
# baselines, train configs/fmnist-best.toml, and write bench/results/gpu.{json,md} with
# bench/gpu/report.py.
#
# Usage: bench/gpu/run.sh [OUT_DIR]
#   OUT_DIR (else $OUT, else build-gpu/bench): logs, each run's metrics, a copy of gpu.{json,md}.
# Where toml++, xxhash or Boost.Program_options are missing (the GPU image described in
# ../shared/gpu/README.md), make .gpu-bundle/ first with ../shared/gpu/bundle.sh, run from
# the checkout on a machine that has them, and copy it along with the checkout.
# Knobs (environment): EPOCHS (10, nin-dist and the gpu-resize baseline), SEED_EPOCHS (2, the
# seed pipeline, slow), TRAIN_LIMIT/TEST_LIMIT (images per timed epoch and per evaluation,
# 0 = all: small values check the plumbing, not for figures), CTEST_ARGS (extra ctest
# arguments, e.g. "-L unit"), BUILD_DIR (build-gpu), RESULTS (bench/results: gpu.{json,md}).
set -euo pipefail
out_arg=${1:+$(realpath -m "$1")}  # before the cd: relative to where it was called
cd "$(dirname "$0")/../.."
EPOCHS=${EPOCHS:-10}
SEED_EPOCHS=${SEED_EPOCHS:-2}
TRAIN_LIMIT=${TRAIN_LIMIT:-0}
TEST_LIMIT=${TEST_LIMIT:-0}
invocation="EPOCHS=$EPOCHS SEED_EPOCHS=$SEED_EPOCHS TRAIN_LIMIT=$TRAIN_LIMIT TEST_LIMIT=$TEST_LIMIT CTEST_ARGS='${CTEST_ARGS:-}' $0 $*"
BUILD=${BUILD_DIR:-build-gpu}
RESULTS=${RESULTS:-bench/results}
OUT=${out_arg:-${OUT:-$BUILD/bench}}
RUNS=$BUILD/bench-runs  # run directories with checkpoints: they stay out of OUT_DIR
mkdir -p "$OUT" "$RUNS"

if [ -f .gpu-bundle/setup.sh ]; then
  ld_path=${LD_LIBRARY_PATH:-}
  set +eu  # setup.sh is written for an interactive shell
  # shellcheck disable=SC1091  # made by ../shared/gpu/bundle.sh
  source .gpu-bundle/setup.sh
  set -eu
  # What a user has: no NCCL_HOME and no library path to pip's NCCL. CMake must find the
  # NCCL that PyTorch loads by itself (cmake/FindNcclToolkit.cmake) and the binaries must
  # find it through their RPATH.
  export LD_LIBRARY_PATH=$ld_path
else
  echo "note: no .gpu-bundle/: assuming toml++, xxhash and Boost.Program_options are installed;"
  echo "      where they are not, make it with ../shared/gpu/bundle.sh on a machine that has them."
fi
unset NCCL_HOME
TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
NIN_CMAKE_ARGS=${NIN_CMAKE_ARGS:-"-DCMAKE_BUILD_TYPE=Release -DNIN_WITH_NCCL=ON -DCMAKE_PREFIX_PATH=$TORCH_PREFIX"}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"

failed=()
# step NAME CMD...: runs CMD with its output in OUT/NAME.txt; a failure is noted, not fatal,
# so that the report still says what ran.
step() {
  local name=$1; shift
  echo "== $name"
  if "$@" > "$OUT/$name.txt" 2>&1; then tail -n 2 "$OUT/$name.txt"; else
    echo "FAILED ($?): $name, see $OUT/$name.txt"; tail -n 15 "$OUT/$name.txt"; failed+=("$name"); fi
}

# 1. Build with the CUDA LibTorch and the NCCL it loads, in one configure and one build.
# shellcheck disable=SC2086  # NIN_CMAKE_ARGS is a list of arguments
cmake -S . -B "$BUILD" $NIN_CMAKE_ARGS > "$OUT/cmake.txt" 2>&1 || { cat "$OUT/cmake.txt"; exit 1; }
grep -E "^--   (LibTorch|MPI|NCCL) " "$OUT/cmake.txt"
cmake --build "$BUILD" -j "$(nproc)" > "$OUT/build.txt" 2>&1 || { tail -n 40 "$OUT/build.txt"; exit 1; }
BIN=$BUILD/src/app/nin-dist

# 2. The whole suite (CUDA tests included), then a 1-rank CUDA run whose first-epoch loss
#    must match a CPU run's (dropout off; report.py checks it).
# shellcheck disable=SC2086  # CTEST_ARGS is a list of arguments
step ctest ctest --test-dir "$BUILD" --output-on-failure -j 4 ${CTEST_ARGS:-}
SMALL=(--config configs/smoke.toml --quiet --set train.epochs=1 --set train.threads=8 --set data.train_limit=512)
rm -rf "$RUNS"/{cpu,cuda,seed-fp32,seed-bf16,fast-b128,fast-b16,best}
step nin-cpu "$BIN" "${SMALL[@]}" --set train.device=cpu --run-dir "$RUNS/cpu"
step nin-cuda mpirun --allow-run-as-root -np 1 "$BIN" "${SMALL[@]}" --set train.device=cuda --run-dir "$RUNS/cuda"

# 3. The seed's recipe (224 px, batch 128, SGD 0.05) in fp32 and bf16, then the PyTorch
#    baselines on the same card.
LIMITS=(--set data.train_limit="$TRAIN_LIMIT" --set data.test_limit="$TEST_LIMIT")
for p in fp32 bf16; do
  step "nin-seed-$p" "$BIN" --config configs/fmnist.toml --quiet --set train.epochs="$EPOCHS" \
    --set train.precision="$p" "${LIMITS[@]}" --run-dir "$RUNS/seed-$p"
done
# The fast step (issue 15) at batch 128 and 16: channels-last, bf16, fused optimizer.
# Add --set train.cuda_graph=true here once Trainer::step uses the captured graph.
for b in 128 16; do
  step "nin-fast-b$b" "$BIN" --config configs/fmnist.toml --quiet --set train.epochs="$EPOCHS" \
    --set train.batch_size="$b" --set train.base_batch_size="$b" --set train.precision=bf16 \
    --set train.channels_last=true --set train.foreach=true "${LIMITS[@]}" --run-dir "$RUNS/fast-b$b"
done
# The best recipe (configs/fmnist-best.toml, its own epochs): its curve and time go in the README.
step nin-best "$BIN" --config configs/fmnist-best.toml --quiet "${LIMITS[@]}" --run-dir "$RUNS/best"
TORCH=(python3 bench/gpu/seed_pipeline.py --train-limit "$TRAIN_LIMIT" --test-limit "$TEST_LIMIT")
step torch-seed "${TORCH[@]}" --pipeline seed --epochs "$SEED_EPOCHS"
step torch-gpu-resize "${TORCH[@]}" --pipeline gpu-resize --epochs "$EPOCHS"
step torch-gpu-resize-bf16 "${TORCH[@]}" --pipeline gpu-resize --epochs "$EPOCHS" --bf16
for r in cpu cuda seed-fp32 seed-bf16 fast-b128 fast-b16 best; do  # the raw figures come back with OUT_DIR
  mkdir -p "$OUT/runs/$r"
  cp "$RUNS/$r"/{metrics.jsonl,config.toml} "$OUT/runs/$r/" 2>/dev/null || true  # a failed run has none
done

# 4. The report: checks every input, writes gpu.json and the Markdown table.
python3 bench/gpu/report.py --command "$invocation" \
  --cmake-log "$OUT/cmake.txt" --ctest-log "$OUT/ctest.txt" --pair "$RUNS/cpu" "$RUNS/cuda" \
  --nin "$RUNS/seed-fp32" --nin "$RUNS/seed-bf16" --nin "$RUNS/fast-b128" --nin "$RUNS/fast-b16" --nin "$RUNS/best" \
  --torch "$OUT/torch-seed.txt" --torch "$OUT/torch-gpu-resize.txt" --torch "$OUT/torch-gpu-resize-bf16.txt" \
  --json "$RESULTS/gpu.json" --md "$RESULTS/gpu.md" || failed+=(report)
cp "$RESULTS/gpu.json" "$RESULTS/gpu.md" "$OUT/" 2>/dev/null || true
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
