#!/usr/bin/env bash
# The cost of log.trace_steps: the same 2-rank run with tracing off and with every step of
# the epoch traced, alternated REPEATS times. Prints a Markdown table (median images/s,
# the slowdown) and writes bench/results/trace_cost.md; exits 1 when a run or a check fails
# (a traced run without trace.json, an untraced one with it).
#
# Usage: bench/trace_cost.sh             about 1 minute on 2 quiet cores
#        QUICK=1 bench/trace_cost.sh     tiny sizes, to check the plumbing (about 20 seconds)
# Knobs (environment): LIMIT, REPEATS, NIN, RESULTS. 96 px, global batch 128, SGD, 1 thread a rank.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
COMMAND="$(for v in QUICK LIMIT REPEATS NIN RESULTS; do
  if [ -n "${!v:-}" ]; then printf '%s=%q ' "$v" "${!v}"; fi; done)bench/trace_cost.sh"
NIN=${NIN:-$ROOT/build/src/app/nin-dist}
RESULTS=${RESULTS:-$ROOT/bench/results}
if [ -n "${QUICK:-}" ]; then : "${LIMIT:=256}" "${REPEATS:=1}"; fi
LIMIT=${LIMIT:-1536}    # training images: 12 steps of 128
REPEATS=${REPEATS:-3}   # off/on pairs, alternated so that a change of load hits both
[ -x "$NIN" ] || { echo "trace_cost: $NIN not built" >&2; exit 2; }
WORK=$(mktemp -d /tmp/trace_cost.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
MPI=(mpirun -np 2 --oversubscribe --allow-run-as-root --bind-to none --mca btl self,vader,tcp)
RUN=(--config configs/smoke.toml --quiet --set train.epochs=1 --set data.train_limit="$LIMIT" --set data.test_limit=64
     --set data.resize=96 --set train.batch_size=128 --set train.optimizer=sgd --set train.lr=0.05)

for i in $(seq "$REPEATS"); do
  for mode in off on; do
    dir=$WORK/$mode-$i
    trace=(); [ $mode = on ] && trace=(--set log.trace_steps=0:1000000)  # every step of the epoch
    echo "== $mode, run $i"
    "${MPI[@]}" "$NIN" "${RUN[@]}" "${trace[@]}" --run-dir "$dir" >/dev/null
    if [ $mode = on ] && [ ! -s "$dir/trace.json" ]; then echo "trace_cost: $dir has no trace.json" >&2; exit 1; fi
    if [ $mode = off ] && [ -e "$dir/trace.json" ]; then echo "trace_cost: $dir has a trace.json" >&2; exit 1; fi
  done
done

mkdir -p "$RESULTS"
/usr/bin/python3 - "$WORK" "$REPEATS" "$COMMAND" "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$RESULTS/trace_cost.md" <<'PY'
import json, platform, statistics, sys, time
work, repeats, command, load0, load1, out = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
ips = {m: [json.loads(open(f"{work}/{m}-{i}/metrics.jsonl").readline())["images_per_s"]
           for i in range(1, repeats + 1)] for m in ("off", "on")}
for m, v in ips.items():
    assert all(x > 0 for x in v), (m, v)
off, on = statistics.median(ips["off"]), statistics.median(ips["on"])
spans = sum(1 for e in json.load(open(f"{work}/on-1/trace.json"))["traceEvents"] if e.get("ph") == "X")
lines = ["| tracing | runs | images/s (median) | every run | cost |", "| --- | --- | --- | --- | --- |",
         f"| off | {repeats} | {off:.1f} | {', '.join(f'{x:.1f}' for x in ips['off'])} | |",
         f"| every step | {repeats} | {on:.1f} | {', '.join(f'{x:.1f}' for x in ips['on'])} | {100 * (off - on) / off:+.1f}% |"]
text = "\n".join([f"# Cost of log.trace_steps ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
                  f"Machine: {platform.node()}, {platform.processor() or platform.machine()}; load average {load0} "
                  f"at the start, {load1} at the end. Command: `{command}`.", "",
                  "2 ranks, 96 px, global batch 128, SGD, one epoch; images/s of the epoch's training part "
                  f"(metrics.jsonl). Traced: every step of the epoch ({spans} spans over both ranks in the first "
                  "traced run); writing trace.json falls after the epoch's timing. Cost: (off - on) / off.", "",
                  *lines, ""])
open(out, "w").write(text)
print("\n".join(lines))
PY
echo "wrote $RESULTS/trace_cost.md"
