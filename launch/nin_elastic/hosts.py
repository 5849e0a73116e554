"""The hosts a start may use: a host file, a Slurm allocation or this machine, less what the
run lost; and how ranks are placed on them."""

import os
import re
import subprocess

from .common import EXIT_INPUT, Exit

# A host name as DNS spells one (or an IPv4 address): never an option to ssh or mpirun.
HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
MAX_SLOTS = 4096  # ranks on one host: more than any node has cores


class Pool:
    """Hosts and their slots as the source says now (local, host file or Slurm), less what
    this run lost: a lost host stays out, and a killed rank takes its slot with it, until the
    source says otherwise (the host file changes; Slurm shows the node in a new state)."""

    def __init__(self, args):
        self.args = args
        self.lost_hosts = {}  # host -> the source's stamp for it when it was lost
        self.lost_slots = {}  # host -> (slots lost to killed ranks, the stamp then)

    def read_source(self):
        """[(host, slots)] in rank order, and per host a stamp that changes when it may be back."""
        if self.args.hostfile:
            return read_hostfile(self.args.hostfile)
        if self.args.slurm:
            return read_slurm()
        return [("localhost", self.args.np or 1)], {"localhost": 0}

    def available(self):
        hosts, stamps = self.read_source()
        self.lost_hosts = {h: st for h, st in self.lost_hosts.items() if stamps.get(h) == st}
        self.lost_slots = {h: v for h, v in self.lost_slots.items() if stamps.get(h) == v[1]}
        out = [(h, s - self.lost_slots.get(h, (0,))[0]) for h, s in hosts if h not in self.lost_hosts]
        return [(h, s) for h, s in out if s > 0]

    def lose_host(self, host):
        self.lost_hosts[host] = self.read_source()[1].get(host)

    def lose_slot(self, host):
        count = self.lost_slots.get(host, (0,))[0]
        self.lost_slots[host] = (count + 1, self.read_source()[1].get(host))


def check_host(name, source):
    if not HOST_NAME.fullmatch(name):
        raise Exit(EXIT_INPUT, f"{source}: host name {name!r} is not a plain host name (letters, digits, '.', "
                               "'-', '_'; not starting with '-'); refused")
    return name


def read_hostfile(path):
    hosts = []
    try:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                words = line.split("#")[0].split()
                if words:
                    slots = next((w[6:] for w in words[1:] if w.startswith("slots=")), "1")
                    if not re.fullmatch(r"[0-9]{1,9}", slots) or int(slots) > MAX_SLOTS:
                        raise Exit(EXIT_INPUT,
                                   f"{path}:{number}: slots={slots} is not a count from 0 to {MAX_SLOTS}; refused")
                    hosts.append((check_host(words[0], f"{path}:{number}"), int(slots)))
        stamp = os.stat(path).st_mtime_ns  # an edit (or touch) brings lost hosts back
    except (OSError, ValueError) as e:
        raise Exit(EXIT_INPUT, f"cannot read host list {path}: {e}")
    return hosts, {h: stamp for h, _ in hosts}


def read_slurm():
    """The allocation's nodes and tasks per node; nodes Slurm does not call up have no slots."""
    if not os.environ.get("SLURM_JOB_NODELIST"):
        raise Exit(EXIT_INPUT, "--slurm: not inside a Slurm allocation (SLURM_JOB_NODELIST is unset)")
    nodes = run_text(["scontrol", "show", "hostnames", os.environ["SLURM_JOB_NODELIST"]]).split()
    tasks = []
    for part in os.environ.get("SLURM_TASKS_PER_NODE", "1").split(","):
        m = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part)
        tasks += [int(m.group(1))] * int(m.group(2) or 1)
    states = dict(line.split()[:2] for line in
                  run_text(["sinfo", "-h", "-N", "-n", ",".join(nodes), "-o", "%N %t"]).splitlines() if line.strip())
    up = ("idle", "alloc", "mix", "comp", "resv", "plnd")
    hosts = [(check_host(n, "SLURM_JOB_NODELIST"), t if states.get(n, "").rstrip("~#!%$@^-") in up else 0)
             for n, t in zip(nodes, tasks)]
    return hosts, states


def run_text(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    except OSError as e:
        raise Exit(EXIT_INPUT, f"cannot run {cmd[0]}: {e}")


def place(hosts, n):
    """Ranks 0..n-1 filled host by host, as mpirun's hostfile mapping and srun's block
    distribution do: [(host, ranks there)]."""
    out, left = [], n
    for h, s in hosts:
        if left > 0:
            out.append((h, min(s, left)))
            left -= min(s, left)
    return out
