#!/usr/bin/env bash
# Soak test: nin-dist on 2 ranks for several hundred steps with a checkpoint every epoch.
# Samples each rank's RSS (ps) and open file descriptors (/proc/PID/fd) every few seconds;
# fails when RSS grows more than 10% after warm-up, the fd count grows, the run fails, or
# the run directory does not hold exactly checkpoint.keep = 2 checkpoints at the end.
#
# Usage: bench/soak.sh              400 steps (50 epochs x 8): about 5 minutes on 2 cores
#        QUICK=1 bench/soak.sh      48 steps, to check the plumbing (RSS growth not judged)
# Knobs (environment): NP, EPOCHS, LIMIT, BATCH, INTERVAL (s), NIN, RESULTS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
COMMAND="$(for v in QUICK NP EPOCHS LIMIT BATCH INTERVAL NIN RESULTS; do
  if [ -n "${!v:-}" ]; then printf '%s=%q ' "$v" "${!v}"; fi; done)bench/soak.sh"
NIN=${NIN:-$ROOT/build/src/app/nin-dist}
RESULTS=${RESULTS:-$ROOT/bench/results}
[ -n "${QUICK:-}" ] && : "${EPOCHS:=6}" "${INTERVAL:=1}"
NP=${NP:-2}
EPOCHS=${EPOCHS:-50}
LIMIT=${LIMIT:-256}       # training images: LIMIT / BATCH steps per epoch
BATCH=${BATCH:-32}        # global
INTERVAL=${INTERVAL:-2}   # seconds between samples
KEEP=2                    # checkpoint.keep
WARMUP_FRAC=0.25          # the first quarter of the samples is warm-up
MAX_GROWTH=0.10           # RSS growth allowed after warm-up

[ -x "$NIN" ] || { echo "soak: $NIN not built" >&2; exit 2; }
WORK=$(mktemp -d /tmp/soak.XXXXXX)
LAUNCH=
cleanup() {
  if [ -n "$LAUNCH" ]; then kill "$LAUNCH" 2>/dev/null || true; fi  # only the mpirun (or rank) we started
  rm -rf "$WORK"
}
trap cleanup EXIT

# The smoke recipe (67 px, Adam, no dropout), self-contained so that edits to configs/ don't move it.
CMD=(env NP="$NP" NIN="$NIN" launch/local.sh -q --run-dir "$WORK/run" --set train.device=cpu --set data.resize=67
  --set data.normalize=true --set model.dropout=0.0 --set train.optimizer=adam --set train.lr=0.001
  --set train.threads=1 --set train.stall_steps=0 --set data.train_limit="$LIMIT" --set data.test_limit=64
  --set train.batch_size="$BATCH" --set train.epochs="$EPOCHS" --set checkpoint.every=1
  --set checkpoint.keep="$KEEP")
echo "soak: $NP ranks, $EPOCHS epochs x $(( LIMIT / BATCH )) steps, sampling every ${INTERVAL}s"
"${CMD[@]}" > "$WORK/stdout" 2>&1 &
LAUNCH=$!

# The ranks: children of mpirun named nin-dist, or the launched process itself when NP=1.
ranks() {
  if [ "$(ps -o comm= -p "$LAUNCH" 2>/dev/null)" = nin-dist ]; then echo "$LAUNCH"; else pgrep -x -P "$LAUNCH" nin-dist || true; fi
}
running() { local s; s=$(ps -o stat= -p "$LAUNCH" 2>/dev/null) && [ "${s:0:1}" != Z ]; }

echo "t_s,rank,pid,rss_kb,fds" > "$WORK/samples.csv"
START=$(date +%s.%N)
while running; do
  t=$(awk -v now="$(date +%s.%N)" -v start="$START" 'BEGIN { printf "%.1f", now - start }')
  for pid in $(ranks); do
    rank=$(tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p') || true
    rss=$(ps -o rss= -p "$pid" 2>/dev/null | tr -d ' ') || continue
    fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    [ -n "$rss" ] && [ "$fds" -gt 0 ] && echo "$t,${rank:-0},$pid,$rss,$fds" >> "$WORK/samples.csv"
  done
  sleep "$INTERVAL"
done
RC=0
wait "$LAUNCH" || RC=$?
LAUNCH=
sed 's/^/   /' "$WORK/stdout"
CKPTS=$(find "$WORK/run" -maxdepth 1 -name 'ckpt-step*.nin' | wc -l)
EPOCH_LINES=$(grep -c . "$WORK/run/metrics.jsonl" 2>/dev/null) || EPOCH_LINES=0

mkdir -p "$RESULTS"
cp "$WORK/samples.csv" "$RESULTS/soak_samples.csv"
/usr/bin/python3 "$ROOT/bench/soak_report.py" "$WORK/samples.csv" "$RESULTS" "$NP" "$RC" "$CKPTS" "$KEEP" \
  "$EPOCH_LINES" "$EPOCHS" "$WARMUP_FRAC" "$MAX_GROWTH" "$COMMAND" "${QUICK:+quick}"
