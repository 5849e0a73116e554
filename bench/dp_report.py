#!/usr/bin/python3
"""Checks and tabulates the runs of dp_scaling.sh; writes dp_scaling.{md,json} to --results.

Reads the work directory that dp_scaling.sh fills: nin-<name>/ (spec.json, rc, stdout,
run/metrics.jsonl, rss.<rank>), ddp-<ranks>/ and cb-<name>/ (result.json, rc, stderr).
Exits 1 when any run failed or any check on its results failed.
"""
import argparse
import datetime
import glob
import json
import math
import os
import platform
import re
import sys

LOSS_TOL = 0.02  # largest allowed rise of nin-dist's train loss from epoch 1 to epoch 2


def read_json(path):
    try:
        with open(path) as f:
            text = f.read().strip()
        return json.loads(text.splitlines()[-1]) if text else None
    except (OSError, ValueError):
        return None


def read_rc(d):
    try:
        with open(os.path.join(d, "rc")) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def nin_run(d, quick, failures):
    """One nin-dist run: the timed (last) epoch's figures, checked."""
    name = "nin-dist " + os.path.basename(d)[4:]
    spec, rc = read_json(os.path.join(d, "spec.json")), read_rc(d)
    if rc != 0:
        failures.append(f"{name}: exit status {rc} (see its output above)")
        return None
    try:
        with open(os.path.join(d, "run", "metrics.jsonl")) as f:
            epochs = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        failures.append(f"{name}: no metrics: {e}")
        return None
    rss = {}
    for path in glob.glob(os.path.join(d, "rss.*")):
        with open(path) as f:
            lines = [l for l in f.read().split() if l.isdigit()]
        rss[int(path.rsplit(".", 1)[1])] = int(lines[-1]) / 1024 if lines else float("nan")
    with open(os.path.join(d, "stdout")) as f:
        header = re.search(r"(\d+) rank\(s\).*?(\d+) threads/rank", f.read())

    def check(ok, what):
        if not ok:
            failures.append(f"{name}: {what}")

    check(len(epochs) == 2, f"{len(epochs)} epochs in metrics.jsonl, expected 2")
    if not epochs:
        return None
    check(all(e["world_size"] == spec["ranks"] for e in epochs),
          f"world sizes {[e['world_size'] for e in epochs]}, asked for {spec['ranks']}")
    check(header and int(header.group(2)) == spec["threads"],
          f"threads/rank {header.group(2) if header else '?'}, asked for {spec['threads']}")
    check(sorted(rss) == list(range(spec["ranks"])), f"peak RSS of ranks {sorted(rss)}, expected {spec['ranks']}")
    losses = [e["train_loss"] for e in epochs]
    check(all(math.isfinite(v) for v in losses), f"non-finite train loss {losses}")
    if not quick and len(losses) == 2:
        check(losses[1] <= losses[0] + LOSS_TOL, f"train loss rose from {losses[0]:.4f} to {losses[1]:.4f}")
    last = epochs[-1]
    return {"ranks": spec["ranks"], "threads": spec["threads"], "global_batch": spec["batch"],
            "images_per_s": last["images_per_s"], "epoch_s": last["epoch_s"], "comm_wait_s": last["comm_wait_s"],
            "comm_wait_share": last["comm_wait_s"] / last["epoch_s"], "first_epoch_images_per_s": epochs[0]["images_per_s"],
            "train_loss": losses, "rss_mb_per_rank": [round(rss[r], 1) for r in sorted(rss)]}


def json_run(d, label, failures):
    rc, r = read_rc(d), read_json(os.path.join(d, "result.json"))
    if rc != 0 or r is None:
        failures.append(f"{label}: exit status {rc}" + (f", checks: {r['checks']}" if r else ""))
        return None
    return r


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"host": platform.node(), "nproc": os.cpu_count(), "cpu": model, "kernel": platform.release()}


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--command", required=True)
    p.add_argument("--cores", type=int, required=True)
    p.add_argument("--quick", action="store_true")
    return p.parse_args()


def ips(r):
    return r["images_per_s"] if r else None


def div(a, b):
    return a / b if a is not None and b else None


def read_runs(args, failures):
    """(nin-dist runs by name, DDP runs by ranks, compute-bound runs by name); None for a failed one."""
    nin = {n: nin_run(os.path.join(args.work, "nin-" + n), args.quick, failures) for n in ("r1", "r2", "weak1")}
    ddp = {n: json_run(os.path.join(args.work, f"ddp-{n}"), f"PyTorch DDP {n} rank(s)", failures) for n in (1, 2)}
    cb = {}
    for n in ("libtorch", "libtorch-zero", "libtorch-all", "pytorch"):
        d = os.path.join(args.work, "cb-" + n)
        if os.path.isdir(d):
            cb[n] = json_run(d, f"compute-bound {n}", failures)
    return nin, ddp, cb


def compute_bound_limit(cb):
    """images/s of one rank at half the threads, batch 64 (LibTorch's, else PyTorch's)."""
    return ips(cb.get("libtorch")) or ips(cb.get("pytorch"))


def table_rows(nin, ddp, cb):
    """The table: trainer, ranks x threads, batch, images/s, vs DDP, of limit, comm share, RSS."""
    limit1 = compute_bound_limit(cb)
    limit_all = ips(cb.get("libtorch-all"))
    rows = []
    for ranks, key in ((1, "r1"), (2, "r2")):
        n, d = nin[key], ddp[ranks]
        lim = limit_all if ranks == 1 else (2 * limit1 if limit1 else None)
        if n:
            rows.append(["nin-dist", f"{ranks} x {n['threads']}", n["global_batch"], fmt(ips(n)),
                         fmt(div(ips(n), ips(d)), 2), fmt(div(ips(n), lim), 2), f"{100 * n['comm_wait_share']:.1f}%",
                         " / ".join(fmt(v, 0) for v in n["rss_mb_per_rank"])])
        if d:
            rows.append(["PyTorch DDP (gloo)", f"{ranks} x {d['threads_per_rank']}", d["global_batch"], fmt(ips(d)),
                         "1.00", fmt(div(ips(d), lim), 2), "-", " / ".join(fmt(v, 0) for v in d["rss_mb_per_rank"])])
    w = nin["weak1"]
    if w:
        rows.append(["nin-dist (weak-scaling base)", f"1 x {w['threads']}", w["global_batch"], fmt(ips(w)), "-",
                     fmt(div(ips(w), limit1), 2), f"{100 * w['comm_wait_share']:.1f}%",
                     " / ".join(fmt(v, 0) for v in w["rss_mb_per_rank"])])
    labels = {"libtorch": "compute-bound, LibTorch", "libtorch-zero": "compute-bound, LibTorch, zero-filled grads",
              "libtorch-all": "compute-bound, LibTorch", "pytorch": "compute-bound, PyTorch"}
    for k, r in cb.items():
        if r:
            rows.append([labels[k], f"1 x {r['threads']}", r["batch"], fmt(ips(r)), "-", "-", "-", "-"])
    return rows


def scaling_summary(nin, ddp, cb):
    limit1 = compute_bound_limit(cb)
    return {
        "weak_scaling_efficiency":  # ips(2 ranks, 64 each) / (2 * ips(1 rank, 64))
            div(ips(nin["r2"]), 2 * ips(nin["weak1"])) if nin["weak1"] else None,
        "nin_dist_speedup_2_over_1": div(ips(nin["r2"]), ips(nin["r1"])),
        "ddp_speedup_2_over_1": div(ips(ddp[2]), ips(ddp[1])),
        "comm_wait_share_2_ranks": nin["r2"]["comm_wait_share"] if nin["r2"] else None,
        "compute_bound_limit_2_ranks": 2 * limit1 if limit1 else None,
    }


def read_load(work, mach):
    """The load averages dp_scaling.sh saved before and after the runs, into `mach`; the line that says them."""
    load = {}
    for k in ("start", "end"):
        with open(os.path.join(work, "load." + k)) as f:
            load[k] = [float(v) for v in f.read().split()]
    mach["loadavg_start"], mach["loadavg_end"] = load["start"], load["end"]
    busy = load["start"][0] > 0.5  # 1-minute load before our first run: someone else is computing
    return (f"Load average (1, 5, 15 min) at start {load['start']}, at end {load['end']}"
            + (": the machine was busy before the runs began, so these figures are not final." if busy else "."))


def summary_lines(summary):
    weak_eff = summary["weak_scaling_efficiency"]
    return [
        f"weak-scaling efficiency (2 ranks x batch 64 vs 1 rank x batch 64): "
        + (f"{100 * weak_eff:.1f}%" if weak_eff is not None else "-"),
        f"2-rank / 1-rank images/s: nin-dist {fmt(summary['nin_dist_speedup_2_over_1'], 2)}, "
        f"PyTorch DDP {fmt(summary['ddp_speedup_2_over_1'], 2)}",
        f"compute-bound limit at 2 ranks: {fmt(summary['compute_bound_limit_2_ranks'])} images/s "
        f"(one rank's, x 2)",
    ]


NOTES = ("images/s: nin-dist's second epoch (the first warms up; evaluation excluded), DDP's timed steps. "
         "vs DDP: nin-dist / DDP at the same ranks. of limit: images/s / compute-bound images/s "
         "(1 rank: the all-cores limit; 2 ranks: 2 x the one-rank limit). comm wait: comm_wait_s / epoch_s, "
         "the share of the epoch spent waiting for allreduces that backward did not hide.")


def main():
    args = parse_args()
    failures = []
    nin, ddp, cb = read_runs(args, failures)
    rows = table_rows(nin, ddp, cb)
    summary = scaling_summary(nin, ddp, cb)
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    mach = machine()
    load_line = read_load(args.work, mach)
    with open(os.path.join(args.work, "commands")) as f:
        commands = [l.strip() for l in f if l.strip()]
    head = ["trainer", "ranks x threads", "global batch", "images/s", "vs DDP", "of limit", "comm wait",
            "peak RSS MB/rank"]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    table += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    lines = summary_lines(summary)
    status = "all checks passed" if not failures else "FAILED:\n" + "\n".join("- " + f for f in failures)
    md = "\n".join([f"# Data-parallel scaling ({now})", "",
                    f"Machine: {mach['host']}, {mach['nproc']} cores, {mach['cpu']}; "
                    f"{'QUICK (tiny sizes, not for figures)' if args.quick else 'full sizes'}.", load_line,
                    f"Command: `{args.command}`", "", *table, "", *[f"- {l}" for l in lines], "", NOTES, "",
                    f"Checks: {status}", "", "Runs:", "", "```", *commands, "```", ""])
    print("\n" + "\n".join(table) + "\n\n" + "\n".join(lines) + f"\n{load_line}\n\nChecks: {status}")
    with open(os.path.join(args.results, "dp_scaling.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.results, "dp_scaling.json"), "w") as f:
        json.dump({"date": now, "machine": mach, "command": args.command, "quick": args.quick,
                   "runs": commands, "nin_dist": nin, "pytorch_ddp": {str(k): v for k, v in ddp.items()},
                   "compute_bound": cb, "summary": summary, "failures": failures}, f, indent=1)
    print(f"wrote {args.results}/dp_scaling.md and .json")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
