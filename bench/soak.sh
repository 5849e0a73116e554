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
/usr/bin/python3 - "$WORK/samples.csv" "$RESULTS" "$NP" "$RC" "$CKPTS" "$KEEP" "$EPOCH_LINES" "$EPOCHS" \
  "$WARMUP_FRAC" "$MAX_GROWTH" "$COMMAND" "${QUICK:+quick}" <<'EOF'
import csv, datetime, json, os, statistics, sys
samples, results, np_, rc, ckpts, keep, epoch_lines, epochs, warm, max_growth, command, quick = sys.argv[1:]
np_, rc, ckpts, keep, epoch_lines, epochs = map(int, (np_, rc, ckpts, keep, epoch_lines, epochs))
warm, max_growth = float(warm), float(max_growth)
by_rank = {}
for row in csv.DictReader(open(samples)):
    by_rank.setdefault(int(row["rank"]), []).append((float(row["t_s"]), int(row["rss_kb"]), int(row["fds"])))
failures = []
if rc != 0:
    failures.append(f"nin-dist exited with status {rc}")
if epoch_lines != epochs:
    failures.append(f"{epoch_lines} epochs in metrics.jsonl, expected {epochs}")
if ckpts != keep:
    failures.append(f"{ckpts} checkpoints in the run directory, expected checkpoint.keep = {keep}")
if sorted(by_rank) != list(range(np_)):
    failures.append(f"sampled ranks {sorted(by_rank)}, expected 0..{np_ - 1}")
rows, per_rank = [], {}
for rank, s in sorted(by_rank.items()):
    s = s[:-2]  # the last two samples may fall in MPI_Finalize, which closes fds and frees memory
    n = len(s)
    if n < 8:
        failures.append(f"rank {rank}: only {n} samples; run longer or sample more often (INTERVAL)")
        continue
    # Medians of a window just after warm-up and of the last tenth: one checkpoint write's
    # transient buffers or fd do not decide the verdict; steady growth does.
    w0 = int(n * warm)
    base_win, end_win = s[w0:w0 + max(2, n // 10)], s[-max(2, n // 10):]
    rss_base = statistics.median(x[1] for x in base_win) / 1024
    rss_end = statistics.median(x[1] for x in end_win) / 1024
    growth = rss_end / rss_base - 1
    fd_base, fd_end = min(x[2] for x in base_win), min(x[2] for x in end_win)
    per_rank[rank] = {"samples": n, "rss_mb_first": s[0][1] / 1024, "rss_mb_after_warmup": rss_base,
                      "rss_mb_end": rss_end, "rss_mb_peak": max(x[1] for x in s) / 1024, "rss_growth": growth,
                      "fds_first": s[0][2], "fds_after_warmup": fd_base, "fds_last": s[-1][2], "fds_end_min": fd_end}  # first: before MPI_Init
    if growth > max_growth and not quick:  # 48 steps: RSS is still ramping up, no verdict
        failures.append(f"rank {rank}: RSS grew {100 * growth:.1f}% after warm-up ({rss_base:.0f} -> {rss_end:.0f} MB)")
    if fd_end > fd_base:
        failures.append(f"rank {rank}: open fds grew after warm-up ({fd_base} -> {fd_end})")
    rows.append(f"| {rank} | {n} | {rss_base:.0f} | {rss_end:.0f} | {100 * growth:+.1f}% | {per_rank[rank]['rss_mb_peak']:.0f} "
                f"| {s[0][2]} / {fd_base} / {s[-1][2]} |")
table = ["| rank | samples | RSS MB after warm-up | RSS MB at end | growth | peak RSS MB | fds first / after warm-up / last |",
         "|---|---|---|---|---|---|---|", *rows]
status = "all checks passed" if not failures else "FAILED:\n" + "\n".join("- " + f for f in failures)
now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
note = "\n\nQUICK: RSS growth reported, not checked (the run is too short to leave warm-up)" if quick else ""
text = "\n".join(table) + note + f"\n\ncheckpoints kept: {ckpts} (checkpoint.keep = {keep}); epochs: {epoch_lines}/{epochs}\n\nChecks: {status}"
print("\n" + text)
with open(os.path.join(results, "soak.md"), "w") as f:
    f.write(f"# Soak ({now}, {os.cpu_count()} cores)\n\nCommand: `{command}`\n\n{text}\n\nSamples: soak_samples.csv\n")
with open(os.path.join(results, "soak.json"), "w") as f:
    json.dump({"date": now, "command": command, "ranks": per_rank, "checkpoints": ckpts, "keep": keep,
               "epochs": epoch_lines, "failures": failures}, f, indent=1)
print(f"wrote {results}/soak.md, soak.json and soak_samples.csv")
sys.exit(1 if failures else 0)
EOF
