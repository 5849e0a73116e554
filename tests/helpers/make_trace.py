#!/usr/bin/env python3
"""Writes a small trace.json in the contract of log.trace_steps (Chrome trace event format):
RANKS ranks, steps A..B, a compute lane (tid 0) and a communication lane (tid 1) each.
Usage: make_trace.py OUT.json [RANKS] [A:B] [HOST]"""
import json
import sys

out = sys.argv[1]
ranks = int(sys.argv[2]) if len(sys.argv) > 2 else 2
first, last = (int(x) for x in (sys.argv[3] if len(sys.argv) > 3 else "5:7").split(":"))
host = sys.argv[4] if len(sys.argv) > 4 else "node<1>&"  # a name the page must escape

events = []
for r in range(ranks):
    events.append({"name": "process_name", "ph": "M", "pid": r, "args": {"name": f"rank {r} (host {host})"}})
    t = 1_000_000.0 + 137.0 * r  # microseconds; ranks start a little apart
    for step in range(first, last + 1):
        for name, dur in (("data", 900), ("forward", 21000), ("backward", 38000)):
            events.append({"name": name, "cat": "compute", "ph": "X", "ts": t, "dur": dur, "pid": r, "tid": 0,
                           "args": {"step": step}})
            if name == "backward":  # buckets reduced while backward runs, the last just after
                for k in range(2):
                    events.append({"name": f"allreduce bucket {k}", "cat": "comm", "ph": "X",
                                   "ts": t + dur * (0.5 + 0.45 * k), "dur": 6000 + 2500 * k, "pid": r, "tid": 1,
                                   "args": {"step": step}})
            t += dur
        for name, dur in (("finalize wait", 3200), ("optimizer", 4100)):
            events.append({"name": name, "cat": "compute", "ph": "X", "ts": t, "dur": dur, "pid": r, "tid": 0,
                           "args": {"step": step}})
            t += dur
with open(out, "w") as f:
    json.dump({"traceEvents": events, "displayTimeUnit": "ms",
               "otherData": {"trace_steps": f"{first}:{last}", "world_size": ranks}}, f)
