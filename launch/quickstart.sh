#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing, builds, and trains NiN on the
# real FashionMNIST with configs/cpu.toml (4 epochs: 5 to 10 minutes of training on 2 cores).
# Usage: launch/quickstart.sh [nin-dist flags, e.g. --set train.epochs=1]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
NP=${NP:-2} exec launch/local.sh --config configs/cpu.toml --run-dir runs/quickstart "$@"
