"""One start of the launcher (mpirun or srun) watched to its end, and the restarts after it:
which world to start on, and whether a run that ended is done, stopped or restarted."""

import ctypes
import os
import shlex
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass

from . import agent
from .common import EXIT_FAULT, EXIT_INPUT, EXIT_OK, EXIT_PREEMPTED, Exit, ranks, say
from .hosts import place
from .run_facts import newest_checkpoint, world_for
from .watch import Loss, Watch

KILL_WAIT_S = 10  # after SIGTERM to the launcher, before SIGKILL to its process group
MAX_BACKOFF_S = 300.0
STOP = {"signal": 0, "forwarded": False}  # a SIGTERM/SIGUSR1/SIGINT to this supervisor


def on_stop(signum, _frame):
    STOP["signal"] = signum


@dataclass
class Outcome:
    rc: int
    loss: Loss = None
    grew_to: int = 0  # we stopped the ranks (checkpoint, exit 3) to restart on this many


@dataclass
class Story:
    """The run so far, for the one-line summaries."""
    restarts: int = 0
    why: str = ""  # what the next start is for: "" (first), a loss, or growth
    world: int = 0


def supervise(args, facts, pool):
    """Starts and restarts until the run ends; raises Exit with the launcher's exit code."""
    for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
        signal.signal(s, on_stop)
    story = Story()
    with tempfile.TemporaryDirectory(prefix="nin-elastic.") as tmp:
        hostfile = os.path.join(tmp, "hosts") if args.hostfile else None
        while True:
            placement, story.world = choose_world(args, pool, facts, story)
            STOP["forwarded"] = False
            judge(args, pool, facts, story, run_once(args, pool, facts, placement, story.world, hostfile))


# ---------------------------------------------------------------- one start


def launch_command(args, placement, n, hostfile):
    """srun in a Slurm allocation, mpirun otherwise; every start resumes from the newest checkpoint."""
    nin = [args.nin, "train"] + args.train + ["--resume", "auto"]
    extra = shlex.split(args.launcher_args)
    if args.slurm:
        cpus = os.environ.get("SLURM_CPUS_PER_TASK")
        # pmix: Debian's Open MPI starts only through PMIx; kill-on-bad-exit: one lost task ends the step.
        return (["srun", "--mpi=pmix", "--kill-on-bad-exit=1", f"--ntasks={n}", f"--nodes={len(placement)}",
                 "--nodelist=" + ",".join(h for h, _ in placement), "--distribution=block"]
                + ([f"--cpus-per-task={cpus}"] if cpus else []) + extra + nin)
    cmd = ["mpirun", "-np", str(n), "--bind-to", "none"] + (["--allow-run-as-root"] if os.getuid() == 0 else [])
    if hostfile:
        with open(hostfile, "w") as f:
            f.writelines(f"{h} slots={k}\n" for h, k in placement)
        cmd += ["--hostfile", hostfile]
        extra = agent.wrap(extra)
    else:  # this machine, as launch/local.sh runs it
        cmd += ["--oversubscribe", "--mca", "btl", "self,vader,tcp"]
    return cmd + extra + nin


def die_with_parent():
    """Runs in the launcher's child before exec: SIGTERM when this supervisor dies (Linux
    PR_SET_PDEATHSIG), so that mpirun or srun ends the ranks instead of leaving them
    training unsupervised."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_once(args, pool, facts, placement, n, hostfile):
    cmd = launch_command(args, placement, n, hostfile)
    say("launch: " + shlex.join(cmd))
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True,  # its own group: ended as one
                                preexec_fn=die_with_parent)
    except OSError as e:
        raise Exit(EXIT_INPUT, f"cannot start {cmd[0]}: {e}")
    watch, out = Watch(proc, placement), Outcome(0)
    deadline, exited, next_look, started = None, None, time.monotonic() + args.grow_every, False
    while True:
        line = watch.next_line(timeout=1.0)
        now = time.monotonic()
        if line is None or (proc.poll() is not None and now > (exited := exited or now) + KILL_WAIT_S):
            break  # end of output; or the launcher is gone and something it left holds the pipe
        watch.parse(line)
        # nin-dist's set-up line comes after every rank installed its SIGUSR1 handler: a grow
        # signal before it would kill a rank instead of checkpointing it.
        started = started or line.startswith("nin-dist: ")
        if watch.losses and deadline is None:
            deadline = now + args.grace
        if deadline is not None and now > deadline:
            say(f"the launcher did not end the survivors within {args.grace:g} s; ending them")
            end_group(proc)
            deadline = float("inf")
        if STOP["signal"] and not STOP["forwarded"]:
            # As SIGUSR1, whatever came: mpirun and srun forward it to every rank (mpirun ends a
            # job it gets SIGTERM for itself, exit 1), and nin-dist stops on it as on SIGTERM.
            say(f"signal {STOP['signal']}: forwarded to the ranks as SIGUSR1 (they checkpoint and exit 3)")
            proc.send_signal(signal.SIGUSR1)
            STOP["forwarded"] = True
        busy = watch.losses or out.grew_to or STOP["signal"]
        if args.grow_every > 0 and started and now >= next_look and not busy:
            out.grew_to = look_for_growth(pool, facts, args, n, proc)
            next_look = now + args.grow_every
    out.rc, out.loss = proc.wait(), watch.cause()
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # ranks the launcher left behind, if any
    except ProcessLookupError:
        pass
    return out


def look_for_growth(pool, facts, args, n, proc):
    """When returned hosts allow more ranks: SIGUSR1 (the ranks checkpoint and exit 3) and the
    count to restart on; 0 otherwise."""
    total = sum(s for _, s in pool.available())
    bigger = world_for(min(total, args.np or total), facts, args.min_ranks) or 0
    if bigger <= n:
        return 0
    say(f"{ranks(total)} available again: checkpointing to restart on {bigger} (now {n})")
    proc.send_signal(signal.SIGUSR1)
    return bigger


def end_group(proc):
    """SIGTERM to the launcher (it ends its ranks, remote ones too), then SIGKILL to its group."""
    proc.terminate()
    try:
        proc.wait(timeout=KILL_WAIT_S)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------- restarts


def choose_world(args, pool, facts, story):
    """The hosts and rank count for the next start; Exit 1 when too few remain."""
    hosts = pool.available()
    total = sum(s for _, s in hosts)
    n = world_for(min(total, args.np or total), facts, args.min_ranks)
    per_step = facts.images_per_step()
    if n is None:
        where = f"; last: {story.why}" if story.why else ""
        raise Exit(EXIT_FAULT, f"giving up: {ranks(total)} available, and no count from --min-ranks "
                   f"{args.min_ranks} to {total} divides the global batch ({per_step} images per step){where}")
    note = f"{total} available" + ("" if n == min(total, args.np or total) else
                                   f"; {n} is the most that divide {per_step} images per step")
    ckpt = newest_checkpoint(facts.run_dir) or "scratch (no checkpoint yet)"
    hosts_text = ", ".join(f"{h} x{k}" for h, k in place(hosts, n))
    if story.why:
        say(f"{story.why}; resuming on {ranks(n)} from {ckpt} ({note}; {hosts_text})")
    else:
        say(f"starting on {ranks(n)} ({note}; {hosts_text}); resume: {ckpt}")
    return place(hosts, n), n


def judge(args, pool, facts, story, out):
    """Exit for a finished, stopped, preempted or bad-input run; otherwise note what the next
    start is for (after the backoff) and return."""
    if out.rc == EXIT_OK:
        raise Exit(EXIT_OK, f"done: the run finished on {ranks(story.world)} after {story.restarts} restart(s)")
    if STOP["signal"]:
        raise Exit(out.rc, f"stopped by signal {STOP['signal']}: nin-dist exited {out.rc}"
                   + ("; the checkpoint resumes (run the same command again)" if out.rc == EXIT_PREEMPTED else ""))
    if out.grew_to and out.rc == EXIT_PREEMPTED and out.loss is None:
        story.why = f"grow: more ranks available ({story.world} -> {out.grew_to})"
        return
    if out.rc == EXIT_PREEMPTED and out.loss is None:
        raise Exit(EXIT_PREEMPTED, "nin-dist was preempted (exit 3) after a checkpoint: passed through, not restarted")
    if out.rc == EXIT_INPUT and (out.loss is None or out.loss.code == EXIT_INPUT):
        raise Exit(EXIT_INPUT, "nin-dist refused its input (exit 2): not retried")
    loss = out.loss or Loss("exit", code=out.rc)
    what = loss.describe() if out.loss else f"the launcher exited {out.rc} without naming a rank"
    if story.restarts >= args.max_restarts:
        raise Exit(EXIT_FAULT, f"giving up: restart limit {args.max_restarts} reached; last: {what}; "
                   f"the newest checkpoint is {newest_checkpoint(facts.run_dir) or 'none'}")
    if loss.what == "node":
        pool.lose_host(loss.host)
    elif loss.what == "signal" and loss.host:
        pool.lose_slot(loss.host)  # a killed process: its slot (a GPU, a core) is suspect, not the host
    story.restarts += 1
    wait = backoff(args.backoff, story.restarts)
    story.why = f"restart {story.restarts}/{args.max_restarts} after {wait:g} s: {what}"
    sleep_unless_stopped(wait)


def backoff(first, restarts):
    """Seconds before restart number `restarts` (1, 2, ...): doubled each time, capped."""
    return min(first * 2 ** (restarts - 1), MAX_BACKOFF_S)


def sleep_unless_stopped(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if STOP["signal"]:
            raise Exit(EXIT_PREEMPTED, f"stopped by signal {STOP['signal']} between starts; the checkpoint resumes")
        time.sleep(min(0.2, end - time.monotonic()) if end > time.monotonic() else 0)
