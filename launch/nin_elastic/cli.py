"""launch/elastic's command line: the flags, and the one place an Exit becomes a message and
an exit code."""

import argparse
import os
import shutil
import sys

from . import agent
from .common import EXIT_INPUT, Exit, say
from .hosts import Pool
from .run_facts import read_run_facts
from .supervisor import supervise

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
USAGE = "launch/elastic [--np N | --hostfile FILE | --slurm] [options] -- NIN-DIST TRAIN FLAGS"
EXIT_CODES = """Exit codes: 0 the run finished; 1 gave up (restart limit, too few ranks); 2 bad input (not
retried); 3 preempted (nin-dist checkpointed on SIGTERM/SIGUSR1: requeue and run it again)."""
HELP = ("Elastic nin-dist: when a rank or a node is lost, restarts from the newest checkpoint on the "
        "ranks still available, and grows back when hosts return. See docs/elastic.md, "
        "'Elastic runs: a lost rank no longer ends the run'.")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="launch/elastic", usage=USAGE, description=HELP, epilog=EXIT_CODES)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--hostfile", help="Open MPI host list ('host slots=N'), re-read before each start")
    where.add_argument("--slurm", action="store_true",
                       help="srun inside this Slurm allocation (the default in one, unless --np is given)")
    p.add_argument("--np", type=int, help="most ranks to run (default: every slot; without a host list: "
                   "N ranks on this machine, default 1)")
    p.add_argument("--min-ranks", type=int, default=1, help="give up below this many ranks (default 1)")
    p.add_argument("--max-restarts", type=int, default=3, help="restarts after losses (default 3)")
    p.add_argument("--backoff", type=float, default=5.0,
                   help="seconds before the first restart, doubled each time up to 300 (default 5)")
    p.add_argument("--grow-every", type=float, default=30.0,
                   help="seconds between looks for returned hosts while running; 0 = only at restarts")
    p.add_argument("--grace", type=float, default=30.0,
                   help="seconds the launcher gets to end the survivors after a loss (default 30)")
    p.add_argument("--launcher-args", default="", help="extra mpirun or srun flags, one string")
    p.add_argument("--nin", default=os.environ.get("NIN") or default_binary(), help="nin-dist binary")
    p.add_argument("train", nargs=argparse.REMAINDER, help="-- then nin-dist train flags")
    a = p.parse_args(argv)
    a.train = a.train[1:] if a.train[:1] == ["--"] else a.train
    if a.train[:1] == ["train"]:
        a.train = a.train[1:]
    if any(f == "--resume" or f.startswith("--resume=") for f in a.train):
        raise Exit(EXIT_INPUT, "do not pass --resume: every start resumes with --resume auto")
    if "--trust-legacy-checkpoint" in a.train:
        raise Exit(EXIT_INPUT, "do not pass --trust-legacy-checkpoint: train reads current checkpoints only; "
                   "upgrade a version-1 file once with `nin-dist upgrade OLD.nin NEW.nin --trust-legacy-checkpoint`")
    if not a.slurm and not a.hostfile and a.np is None and os.environ.get("SLURM_JOB_ID"):
        a.slurm = True
    if a.min_ranks < 1 or a.max_restarts < 0 or (a.np is not None and a.np < a.min_ranks):
        raise Exit(EXIT_INPUT, "need 1 <= --min-ranks <= --np and --max-restarts >= 0")
    return a


def default_binary():
    built = os.path.join(ROOT, "build/src/app/nin-dist")
    return built if os.access(built, os.X_OK) else (shutil.which("nin-dist") or built)


def main(argv):
    """The exit code; `--agent ...` runs the agent mpirun starts its daemons through."""
    try:
        if argv[:1] == ["--agent"]:
            return agent.main(argv[1:])
        args = parse_args(argv)
        supervise(args, read_run_facts(args.nin, args.train), Pool(args))
    except Exit as e:
        say(e.message)
        return e.code


def run():
    sys.exit(main(sys.argv[1:]))
