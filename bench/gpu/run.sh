#!/usr/bin/env bash
# Everything that needs a GPU, in one call on a GPU machine (PyTorch 2.x with CUDA, nvcc,
# NCCL, OpenMPI): build against that LibTorch, run the test suite on CUDA, compare a 1-rank
# NCCL run with a CPU run, then time the seed's recipe against the PyTorch baselines.
# Usage: bench/gpu/run.sh [OUT_DIR]     (debs for missing packages: bench/gpu/debs/*.deb)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-${OUT:-bench/results/gpu}}
mkdir -p "$OUT"
if ls bench/gpu/debs/*.deb >/dev/null 2>&1; then dpkg -i bench/gpu/debs/*.deb >/dev/null || true; fi
TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"

# 1. Build with the CUDA LibTorch and NCCL; the whole suite, CUDA tests included.
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DNIN_WITH_NCCL=ON \
  | tee "$OUT/cmake.txt" | grep -E "LibTorch|NCCL|MPI"
cmake --build build-gpu -j "$(nproc)" 2>&1 | tail -n 3
(cd build-gpu && ctest --output-on-failure -j 4 2>&1 | tee "$OUT/ctest.txt" | tail -n 15)
BIN=build-gpu/src/app/nin-dist

# 2. A 1-rank NCCL run matches a CPU run's losses for a few steps (dropout off).
SMALL=(--config configs/smoke.toml --quiet --set train.epochs=1 --set train.threads=8 --set data.train_limit=512)
$BIN "${SMALL[@]}" --set train.device=cpu --run-dir "$OUT/cpu" > "$OUT/cpu.txt"
mpirun --allow-run-as-root -np 1 $BIN "${SMALL[@]}" --set train.device=cuda --run-dir "$OUT/cuda" > "$OUT/cuda.txt"
python3 - "$OUT" <<'PY'
import json, sys
cpu = json.loads(open(sys.argv[1] + "/cpu/metrics.jsonl").readline())
gpu = json.loads(open(sys.argv[1] + "/cuda/metrics.jsonl").readline())
rel = abs(cpu["train_loss"] - gpu["train_loss"]) / cpu["train_loss"]
print(f"train loss cpu {cpu['train_loss']:.6f} cuda {gpu['train_loss']:.6f} rel diff {rel:.2e}")
sys.exit(0 if rel < 1e-3 else 1)
PY

# 3. The seed's recipe (224 px, batch 128, SGD 0.05, 10 epochs) in fp32 and bf16, then the
#    PyTorch baselines on the same card.
for p in fp32 bf16; do
  $BIN --config configs/fmnist.toml --quiet --set train.precision=$p --run-dir "$OUT/seed-$p" | tee "$OUT/seed-$p.txt"
done
python3 bench/gpu/seed_pipeline.py --pipeline seed --epochs 2 | tee "$OUT/torch-seed.jsonl"
python3 bench/gpu/seed_pipeline.py --pipeline gpu-resize --epochs 10 | tee "$OUT/torch-gpu-resize.jsonl"
python3 bench/gpu/seed_pipeline.py --pipeline gpu-resize --epochs 10 --bf16 | tee "$OUT/torch-gpu-resize-bf16.jsonl"
