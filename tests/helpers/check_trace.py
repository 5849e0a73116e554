#!/usr/bin/env python3
"""Checks a trace.json written with log.trace_steps = "A:B" (the contract report.html reads).

Usage: check_trace.py TRACE_JSON WORLD_SIZE FIRST LAST BUCKETS
Asserts: the file parses; one track (pid) per rank with its process_name and the two lane
names; each step FIRST..LAST has, on every rank, data < forward < backward < finalize wait <
optimizer on tid 0, in order and not overlapping; every bucket's allreduce on tid 1 each
step; and on every rank some bucket's allreduce starts before its step's backward ends
(communication overlapping backward). Exit 0 with "ok: ..." or 1 with what failed.
"""
import json
import sys

PHASES = ["data", "forward", "backward", "finalize wait", "optimizer"]


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    path, world, first, last, buckets = sys.argv[1], *map(int, sys.argv[2:6])
    with open(path) as f:
        trace = json.load(f)
    if trace.get("displayTimeUnit") != "ms":
        fail("displayTimeUnit is not ms")
    other = trace.get("otherData", {})
    if other.get("world_size") != world or other.get("trace_steps") != f"{first}:{last}":
        fail(f"otherData {other}")
    events = trace["traceEvents"]
    names = {e["pid"]: e["args"]["name"] for e in events if e.get("ph") == "M" and e["name"] == "process_name"}
    if sorted(names) != list(range(world)):
        fail(f"process_name tracks {sorted(names)}, want 0..{world - 1}")
    for pid, name in names.items():
        if not name.startswith(f"rank {pid} (host "):
            fail(f"pid {pid} is named {name!r}")
    lanes = {(e["pid"], e["tid"]) for e in events if e.get("ph") == "M" and e["name"] == "thread_name"}
    if lanes != {(p, t) for p in range(world) for t in (0, 1)}:
        fail(f"thread_name lanes {sorted(lanes)}")
    spans = [e for e in events if e.get("ph") == "X"]
    for e in spans:
        for key in ("name", "cat", "ts", "dur", "pid", "tid"):
            if key not in e:
                fail(f"span without {key}: {e}")
        if e["dur"] < 0 or e["tid"] not in (0, 1) or "step" not in e["args"]:
            fail(f"bad span {e}")
    steps = list(range(first, last + 1))
    if {e["args"]["step"] for e in spans} - set(steps):
        fail(f"spans outside the window: {sorted({e['args']['step'] for e in spans})}")
    for pid in range(world):
        overlapped = 0
        for step in steps:
            mine = [e for e in spans if e["pid"] == pid and e["args"]["step"] == step]
            compute = {e["name"]: e for e in mine if e["tid"] == 0}
            for p in PHASES:
                if p not in compute:
                    fail(f"rank {pid} step {step}: no {p!r} span")
            for a, b in zip(PHASES, PHASES[1:]):
                if compute[a]["ts"] + compute[a]["dur"] > compute[b]["ts"]:
                    fail(f"rank {pid} step {step}: {a!r} does not end before {b!r} starts")
            comm = sorted((e for e in mine if e["tid"] == 1), key=lambda e: e["args"]["bucket"])
            if [e["args"]["bucket"] for e in comm] != list(range(buckets)):
                got = [e["args"]["bucket"] for e in comm]
                fail(f"rank {pid} step {step}: buckets {got}, want 0..{buckets - 1}")
            for e in comm:
                name = f"allreduce bucket {e['args']['bucket']}"
                if e["cat"] != "comm" or e["name"] != name or e["args"]["bytes"] <= 0:
                    fail(f"rank {pid} step {step}: bad allreduce span {e}")
                if e["ts"] < compute["forward"]["ts"] + compute["forward"]["dur"]:
                    fail(f"rank {pid} step {step}: an allreduce launched before backward")
            backward_end = compute["backward"]["ts"] + compute["backward"]["dur"]
            overlapped += any(e["ts"] < backward_end for e in comm)
        if overlapped == 0:
            fail(f"rank {pid}: no bucket's allreduce started during backward in steps {first}..{last}")
    print(f"ok: {world} ranks, steps {first}..{last} in order, {buckets} buckets a step, allreduce overlapping backward")


if __name__ == "__main__":
    main()
