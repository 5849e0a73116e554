#!/usr/bin/env bash
# Data-parallel scaling on this machine: nin-dist at 1 and 2 ranks beside a PyTorch DDP
# baseline and the compute-bound limit of one rank, in one run. Prints a Markdown table and
# writes bench/results/dp_scaling.{md,json}; exits 1 when a run or a check fails.
#
# Usage: bench/dp_scaling.sh              full sizes: about 8 minutes on 2 quiet cores
#        QUICK=1 bench/dp_scaling.sh      tiny sizes, to check the plumbing (about 2 minutes)
# Knobs (environment): LIMIT, DDP_STEPS, DDP_WARMUP, DDP_WORKERS, CB_STEPS, CB_WARMUP, NIN,
# CB_BIN, PY, RESULTS. The sizes follow the seed: global batch 128, 96 px, SGD lr 0.05.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
COMMAND="$(for v in QUICK LIMIT DDP_STEPS DDP_WARMUP DDP_WORKERS CB_STEPS CB_WARMUP NIN CB_BIN PY RESULTS; do
  if [ -n "${!v:-}" ]; then printf '%s=%q ' "$v" "${!v}"; fi; done)bench/dp_scaling.sh"

NIN=${NIN:-$ROOT/build/src/app/nin-dist}
CB_BIN=${CB_BIN:-$ROOT/build/bench/bench_compute_bound}  # optional: see bench/README.md
PY=${PY:-/usr/bin/python3}          # Debian's, with torch 1.13 + torchvision (same LibTorch)
RESULTS=${RESULTS:-$ROOT/bench/results}
if [ -n "${QUICK:-}" ]; then        # tiny: 2 steps per nin-dist epoch, a few timed steps elsewhere
  : "${LIMIT:=256}" "${DDP_STEPS:=3}" "${DDP_WARMUP:=1}" "${CB_STEPS:=3}" "${CB_WARMUP:=1}"
fi
LIMIT=${LIMIT:-3072}          # training images per nin-dist epoch; 2 epochs, the 2nd is timed
DDP_STEPS=${DDP_STEPS:-24}    # timed DDP steps, after DDP_WARMUP
DDP_WARMUP=${DDP_WARMUP:-3}
DDP_WORKERS=${DDP_WORKERS:-0} # DataLoader workers per rank (0 beat 1 on 2 cores, noisy test)
CB_STEPS=${CB_STEPS:-12}      # timed compute-bound steps, after CB_WARMUP
CB_WARMUP=${CB_WARMUP:-2}
BATCH=128                     # global, as the seed
RESIZE=96                     # pixels: the seed's 224 is too slow for CPU runs
CORES=$(nproc)
HALF=$(( CORES / 2 > 0 ? CORES / 2 : 1 ))  # threads per rank at 2 ranks

[ -x "$NIN" ] || { echo "dp_scaling: $NIN not built" >&2; exit 2; }
"$PY" -c 'import torch, torchvision' 2>/dev/null || { echo "dp_scaling: $PY lacks torch/torchvision" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "dp_scaling: /usr/bin/time missing (apt-get install -y time)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/dp_scaling.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
: > "$WORK/commands"
cut -d' ' -f1-3 /proc/loadavg > "$WORK/load.start"  # a busy machine makes the figures noise

log_cmd() { printf '%q ' "$@" >> "$WORK/commands"; echo >> "$WORK/commands"; }

# nin-dist NAME RANKS THREADS GLOBAL_BATCH: 2 epochs of LIMIT images, metrics and per-rank RSS.
nin() {
  local np=$2 threads=$3 batch=$4 dir=$WORK/nin-$1
  mkdir -p "$dir"
  printf '{"ranks": %d, "threads": %d, "batch": %d}\n' "$np" "$threads" "$batch" > "$dir/spec.json"
  echo "== nin-dist: $np rank(s) x $threads thread(s), global batch $batch, $LIMIT images x 2 epochs"
  local cmd=(env NP="$np" NIN="$ROOT/bench/rank_rss.sh" NIN_REAL="$NIN" NIN_RSS_DIR="$dir" launch/local.sh -q
    --run-dir "$dir/run" --set train.device=cpu --set data.resize="$RESIZE" --set data.train_limit="$LIMIT"
    --set data.test_limit=64 --set train.epochs=2 --set train.batch_size="$batch" --set train.threads="$threads"
    --set train.optimizer=sgd --set train.lr=0.05 --set dist.check_every=8 --set train.stall_steps=0)
  log_cmd "${cmd[@]}"
  local rc=0
  "${cmd[@]}" > "$dir/stdout" 2>&1 || rc=$?
  echo "$rc" > "$dir/rc"
  sed 's/^/   /' "$dir/stdout"
}

# ddp RANKS: the PyTorch DDP baseline at the same global batch and image size.
ddp() {
  local np=$1 dir=$WORK/ddp-$1
  mkdir -p "$dir"
  echo "== PyTorch DDP: $np rank(s) x $(( CORES / np )) thread(s), global batch $BATCH"
  local cmd=("$PY" bench/ddp_baseline.py --ranks "$np" --batch "$BATCH" --resize "$RESIZE" --lr 0.05
    --warmup "$DDP_WARMUP" --steps "$DDP_STEPS" --workers "$DDP_WORKERS")
  [ -n "${QUICK:-}" ] && cmd+=(--no-check-loss)  # a few steps say nothing about the loss
  log_cmd "${cmd[@]}"
  local rc=0
  "${cmd[@]}" > "$dir/result.json" 2> "$dir/stderr" || rc=$?
  echo "$rc" > "$dir/rc"
  sed 's/^/   /' "$dir/result.json" "$dir/stderr"
}

# cb NAME IMPL THREADS BATCH GRADS: one rank's compute-bound step rate (impl: libtorch | pytorch).
cb() {
  local impl=$2 threads=$3 batch=$4 grads=$5 dir=$WORK/cb-$1
  local args=(--batch "$batch" --resize "$RESIZE" --threads "$threads" --warmup "$CB_WARMUP" --steps "$CB_STEPS"
    --grads "$grads")
  local cmd=("$CB_BIN" "${args[@]}")
  [ "$impl" = pytorch ] && cmd=("$PY" bench/compute_bound.py "${args[@]}")
  if [ "$impl" = libtorch ] && [ ! -x "$CB_BIN" ]; then
    echo "== compute-bound ($impl, $threads thread(s), batch $batch, grads $grads): $CB_BIN not built, skipped"
    return
  fi
  mkdir -p "$dir"
  echo "== compute-bound ($impl): $threads thread(s), batch $batch, grads $grads"
  log_cmd "${cmd[@]}"
  local rc=0
  "${cmd[@]}" > "$dir/result.json" 2> "$dir/stderr" || rc=$?
  echo "$rc" > "$dir/rc"
  sed 's/^/   /' "$dir/result.json" "$dir/stderr"
}

nin r1 1 "$CORES" $BATCH                  # (a) 1 rank x all cores
nin r2 2 "$HALF" $BATCH                   # (a) 2 ranks, cores split; also (d)'s 2-rank point
nin weak1 1 "$HALF" $(( BATCH / 2 ))      # (d) weak scaling: 1 rank at the per-rank batch
ddp 1                                     # (b)
ddp 2
cb libtorch libtorch "$HALF" $(( BATCH / 2 )) none       # (c) the limit per rank
cb libtorch-zero libtorch "$HALF" $(( BATCH / 2 )) zero  # as nin-dist's zero-filled bucket views
cb libtorch-all libtorch "$CORES" $BATCH none            # the limit for 1 rank x all cores
cb pytorch pytorch "$HALF" $(( BATCH / 2 )) none         # reference

cut -d' ' -f1-3 /proc/loadavg > "$WORK/load.end"
mkdir -p "$RESULTS"
"$PY" bench/dp_report.py --work "$WORK" --results "$RESULTS" --command "$COMMAND" --cores "$CORES" \
  ${QUICK:+--quick}
