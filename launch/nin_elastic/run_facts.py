"""What the restarts depend on: the run's batch and run directory (from `nin-dist config`),
the rank counts that split the batch, and the newest checkpoint's name."""

import argparse
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass

from .common import EXIT_INPUT, Exit

# Checkpoint file names: the pattern of src/rundir/paths.h (kCheckpointPattern), the one place
# nin-dist spells them; ten digits, so that the names sort by step. tests/unit/rundir_test.cpp
# (ctest RunDirNames) holds the two equal.
CHECKPOINT_NAME = re.compile(r"ckpt-step(\d{10})\.nin")


@dataclass
class RunFacts:
    """What the restarts depend on, from nin-dist's own effective config."""
    batch: int       # train.batch_size: the global batch, kept on any world size
    accumulate: int  # train.accumulate: micro-batches per step
    run_dir: str

    def images_per_step(self):
        """Images per micro-batch over all ranks: what the ranks split."""
        return self.batch // self.accumulate

    def splits(self, n):
        """nin-dist's rule (validate() in src/config/config.cpp): batch_size / accumulate
        divisible by the rank count."""
        return self.images_per_step() % n == 0


def read_run_facts(nin, train):
    """`nin-dist config` with the run's --config and --set flags; --run-dir wins over run.dir."""
    pick = argparse.ArgumentParser(add_help=False)
    pick.add_argument("-c", "--config")
    pick.add_argument("--set", action="append", default=[])
    pick.add_argument("--run-dir")
    known, _ = pick.parse_known_args(train)
    cmd = [nin, "config"] + (["--config", known.config] if known.config else [])
    for s in known.set:
        cmd += ["--set", s]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise Exit(EXIT_INPUT, f"cannot run {nin}: {e}")
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise Exit(EXIT_INPUT, f"nin-dist refused the config (exit {out.returncode}); not started")
    cfg = tomllib.loads(out.stdout)
    return RunFacts(cfg["train"]["batch_size"], cfg["train"]["accumulate"], known.run_dir or cfg["run"]["dir"])


def world_for(available, facts, min_ranks):
    """The largest rank count <= available and >= min_ranks that splits the global batch, or None."""
    for n in range(min(available, facts.images_per_step()), min_ranks - 1, -1):  # no divisor exceeds it
        if facts.splits(n):
            return n
    return None


def newest_checkpoint(run_dir):
    """The name of the run directory's newest checkpoint (by step), or None when it has none."""
    try:
        names = sorted(f for f in os.listdir(run_dir) if CHECKPOINT_NAME.fullmatch(f))
    except OSError:
        names = []
    return names[-1] if names else None
