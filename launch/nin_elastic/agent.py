"""The agent mpirun starts its remote daemons through (launch/elastic --agent): the real one
around it, and a line naming the host when its connection dies."""

import os
import shlex
import signal
import subprocess
import sys

from .hosts import check_host

ENTRY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "elastic")  # launch/elastic


def wrap(extra):
    """mpirun starts its remote daemons through main() below, around the agent the flags name
    (plm_rsh_agent; ssh by default), so that a host whose connection dies is named."""
    real = "ssh"
    for i in range(len(extra) - 2):
        if extra[i] in ("--mca", "-mca") and extra[i + 1] == "plm_rsh_agent":
            real = extra[i + 2]
            extra = extra[:i] + extra[i + 3:]
            break
    os.environ["NIN_ELASTIC_AGENT"] = real  # mpirun's environment reaches the agents it starts
    return ["--mca", "plm_rsh_agent", ENTRY + " --agent"] + extra


def main(argv):
    """The real agent (NIN_ELASTIC_AGENT) with HOST COMMAND...; when it ends in an error that
    mpirun did not ask for, one line names the host (mpirun's own message may not). Returns
    the exit code."""
    real = shlex.split(os.environ.get("NIN_ELASTIC_AGENT") or "ssh")
    if argv and not argv[0].startswith("-"):  # HOST COMMAND...: the host checked, and after "--" for ssh
        check_host(argv[0], "mpirun's agent call")
        if os.path.basename(real[0]) == "ssh":
            argv = ["--"] + argv
    child = subprocess.Popen(real + argv)
    asked = []

    def forward(signum, _frame):
        asked.append(signum)
        child.send_signal(signum)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, forward)
    rc = child.wait()
    host = argv[1] if argv[:1] == ["--"] else (argv[0] if argv else "")
    if rc != 0 and not asked and host:
        how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
        print(f"elastic: agent: host {host} lost: {real[0]} ended with {how}", file=sys.stderr, flush=True)
    return rc if rc >= 0 else 128 - rc
