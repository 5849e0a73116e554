#!/usr/bin/env bash
# Runs nin-dist on this machine with NP ranks (default: 1 without mpirun; set NP=2 for two).
# On a cluster use launch/slurm/ or mpirun with a hostfile (see README.md, and docs/elastic.md for runs that survive a lost node).
# Usage: NP=2 launch/local.sh --config configs/cpu.toml [nin-dist flags]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${NIN:-$ROOT/build/src/app/nin-dist}
NP=${NP:-1}
[ -x "$BIN" ] || { echo "launch/local.sh: $BIN not built; run scripts/setup.sh" >&2; exit 2; }
if [ "$NP" -eq 1 ]; then exec "$BIN" "$@"; fi

# --oversubscribe: allow more ranks than Open MPI counts slots; --bind-to none: nin-dist
# sets its own threads per rank (cores / ranks on the node); vader = shared memory.
FLAGS=(-np "$NP" --oversubscribe --bind-to none --mca btl self,vader,tcp)
[ "$(id -u)" -eq 0 ] && FLAGS+=(--allow-run-as-root)
exec mpirun "${FLAGS[@]}" "$BIN" "$@"
