"""The launcher's output (mpirun, srun, our agent): printed as it comes, and read for the
ranks and nodes it says were lost."""

import queue
import re
import sys
import threading
from dataclasses import dataclass

from .common import EXIT_PREEMPTED


@dataclass
class Loss:
    """A lost rank or node, as the launcher reported it."""
    what: str            # "signal", "exit" or "node"
    host: str = ""
    rank: int = -1
    code: int = 0        # the signal or exit code
    how: str = ""        # for a node: who said so

    def describe(self):
        if self.what == "node":
            return f"host {self.host} lost ({self.how})"
        how = f"signal {self.code}" if self.what == "signal" else f"exit code {self.code}"
        return f"rank {self.rank} (host {self.host or '?'}) lost ({how})"


AGENT_LOST = re.compile(r"elastic: agent: host (\S+) lost: \S+ (ended with .*)")  # printed by agent.main()
SRUN_SIGNALS = {"Killed": 9, "Terminated": 15, "Aborted": 6, "Segmentation fault": 11, "Bus error": 7}
PATTERNS = [  # (regex, kind): Open MPI 4 and Slurm's wording
    (re.compile(r"process rank (\d+) with PID \d+ on node (\S+) exited on signal (\d+)"), "mpirun-signal"),
    (re.compile(r"Process name: \[\[\d+,\d+\],(\d+)\]"), "mpirun-exit-rank"),
    (re.compile(r"^\s*Exit code:\s+(\d+)"), "mpirun-exit-code"),
    (re.compile(r"Remote daemon: \[\[\d+,\d+\],\d+\] on node (\S+)"), "mpirun-node"),
    (re.compile(r"srun: error: (\S+): tasks? (\d+)[-,\d]*: (.+)"), "srun-task"),
    (re.compile(r"srun: error: Node failure on (\S+)"), "srun-node"),
    (AGENT_LOST, "agent-node"),
]


def line_tail(m):
    return m.group(m.lastindex).strip() if m.lastindex and m.lastindex > 1 else ""


class Watch:
    """Reads the launcher's output line by line (printed as it comes) and keeps the losses it names."""

    def __init__(self, proc, placement):
        self.proc, self.losses, self.lines = proc, [], queue.Queue()
        self.rank_host = [h for h, k in placement for _ in range(k)]
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            self.lines.put(line)
        self.lines.put(None)

    def next_line(self, timeout):
        """A line, None at the end of output, "" when nothing came within timeout seconds."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return ""

    def parse(self, line):
        for regex, kind in PATTERNS:
            m = regex.search(line)
            if m:
                self._record(kind, m)

    def _record(self, kind, m):
        if kind == "mpirun-signal":
            rank = int(m.group(1))
            self.losses.append(Loss("signal", self._host_of(rank, m.group(2)), rank, int(m.group(3))))
        elif kind == "mpirun-exit-rank":
            rank = int(m.group(1))
            self.losses.append(Loss("exit", self._host_of(rank, ""), rank, -1))
        elif kind == "mpirun-exit-code" and self.losses and self.losses[-1].code == -1:
            self.losses[-1].code = int(m.group(1))
        elif kind in ("mpirun-node", "srun-node", "agent-node"):
            how = {"mpirun-node": "mpirun lost its daemon", "srun-node": "Slurm: node failure",
                   "agent-node": "its launch agent " + line_tail(m)}[kind]
            self.losses.append(Loss("node", m.group(1), how=how))
        elif kind == "srun-task":
            rank, why = int(m.group(2)), m.group(3).strip()
            code = re.match(r"Exited with exit code (\d+)", why)
            self.losses.append(Loss("exit", m.group(1), rank, int(code.group(1))) if code else
                               Loss("signal", m.group(1), rank, SRUN_SIGNALS.get(why, 0)))

    def _host_of(self, rank, reported):
        # Our host names (a host file may hold addresses) by the placement; the reported name otherwise.
        return self.rank_host[rank] if 0 <= rank < len(self.rank_host) else reported

    def cause(self):
        """The first lost node or killed rank: what follows (ranks ended by the launcher, agents
        it stopped) is its consequence. Else the first rank that exited with an error; a rank
        that exited 3 checkpointed on a signal: stopped, not lost."""
        hard = [l for l in self.losses if l.what != "exit"]
        soft = [l for l in self.losses if l.what == "exit" and l.code != EXIT_PREEMPTED]
        return (hard or soft or [None])[0]
