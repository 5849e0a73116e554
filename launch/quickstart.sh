#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing, builds, and trains NiN on the
# real FashionMNIST with configs/cpu.toml (4 epochs: 5 to 10 minutes of training on 2 cores;
# about 16 minutes in all on a fresh machine, with the packages and the build).
# Usage: launch/quickstart.sh [nin-dist flags, e.g. --set train.epochs=1]
# Run again, it continues runs/quickstart (--resume auto): a finished run says so and prints
# its final line again. --overwrite starts over and moves the earlier run's files aside.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
resume=(--resume auto)
for arg in "$@"; do
  case $arg in --overwrite | --resume | --resume=*) resume=() ;; esac  # the caller's choice wins
done
NP=${NP:-2} exec launch/local.sh --config configs/cpu.toml --run-dir runs/quickstart "${resume[@]}" "$@"
