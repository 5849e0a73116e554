#!/usr/bin/env python3
"""Checks and tabulates the GPU benchmark of bench/gpu/run.sh: writes gpu.json and prints
(and writes) a Markdown table for the README.

Reads nin-dist run directories (metrics.jsonl, config.toml) and the JSON lines of
bench/gpu/seed_pipeline.py; records the card, driver, the versions of torch, CUDA, NCCL and
MPI, the git commit and the exact command. Per row: images/s and epoch seconds (median over
the epochs after the first, which holds cuDNN's autotuning), the last epoch's test accuracy,
and the model FLOP utilisation (MFU) against the card's dense BF16 peak.
Exits 1 when an input is missing or malformed, a figure is not finite, the test suite
failed, or the CPU and CUDA runs of nin-dist disagree.
"""
import argparse
import datetime
import json
import math
import os
import re
import shlex
import statistics
import subprocess
import sys

try:
    import tomllib  # Python 3.11+
except ImportError:  # pragma: no cover
    tomllib = None

# Dense (no sparsity) BF16 tensor-core peaks, FLOP/s, from NVIDIA's data sheets. One peak
# for every row, fp32 rows included, so the MFU column compares rows on one scale.
PEAKS = [  # (substring of nvidia-smi's name, peak, what)
    ("H200 NVL", 835e12, "H200 NVL dense BF16"),
    ("H200", 989e12, "H200 SXM dense BF16"),
    ("H100 NVL", 835e12, "H100 NVL dense BF16"),
    ("H100 PCIe", 756e12, "H100 PCIe dense BF16"),
    ("H100", 989e12, "H100 SXM dense BF16"),
]
LOSS_REL_TOL = 1e-3  # largest relative gap between nin-dist's CPU and CUDA train losses


def nin_forward_flop(resize):
    """Forward FLOP of one image through the seed's NiN (2 per multiply-add, convolutions only):
    4 NiN blocks (k x k conv then two 1x1), 3x3/2 max pools between them."""
    def out(h, k, s, p):
        return (h + 2 * p - k) // s + 1
    h, total = resize, 0
    blocks = [(1, 96, 11, 4, 0, True), (96, 256, 5, 1, 2, True), (256, 384, 3, 1, 1, True),
              (384, 10, 3, 1, 1, False)]
    for cin, cout, k, s, p, pool in blocks:
        h = out(h, k, s, p)
        total += 2 * cin * cout * k * k * h * h + 2 * 2 * cout * cout * h * h
        if pool:
            h = out(h, 3, 2, 0)
    return total


def train_flop(resize):
    """FLOP per training image: forward + backward (twice the forward: input and weight grads)."""
    return 3 * nin_forward_flop(resize)


assert round(train_flop(224) / 1e7) == 457, "NiN at 224 px: 4.57e9 FLOP per training image"


def run(cmd):
    """stdout of a command, stripped, or None when it cannot run or fails."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def probe_gpu():
    out = run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"])
    if not out:
        return {"name": None, "count": 0, "memory": None, "driver": None}
    cards = [[c.strip() for c in line.split(",")] for line in out.splitlines()]
    name, memory, driver = cards[0]
    return {"name": name, "count": len(cards), "memory": memory, "driver": driver}


def probe_torch():
    """Versions of the PyTorch that the baselines ran on and whose LibTorch nin-dist linked."""
    code = ("import json, torch\n"
            "nccl = None\n"
            "try:\n    nccl = '.'.join(map(str, torch.cuda.nccl.version()))\n"
            "except Exception:\n    pass\n"
            "print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda,\n"
            "  'cudnn': torch.backends.cudnn.version(), 'nccl': nccl}))")
    out = run([sys.executable, "-c", code])
    return json.loads(out) if out else {"torch": None, "cuda": None, "cudnn": None, "nccl": None}


def cmake_summary(path):
    """The 'LibTorch', 'MPI' and 'NCCL' lines of nin-dist's configure summary."""
    found = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                m = re.match(r"--\s+(LibTorch|MPI|NCCL)\s+(.*)", line.strip())
                if m:
                    found[m.group(1).lower()] = m.group(2).strip()
    return found


def ctest_summary(path):
    """ctest's 'N% tests passed, ...' line and the names of failed tests."""
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        text = f.read()
    m = re.search(r"\d+% tests passed, (\d+) tests? failed out of (\d+)", text)
    _, marker, tail = text.partition("The following tests FAILED")
    failed = re.findall(r"^\s*\d+ - (\S+) \(", tail, re.M) if marker else []
    return {"summary": m.group(0) if m else None, "failed": int(m.group(1)) if m else None,
            "total": int(m.group(2)) if m else None, "failed_tests": failed}


def git(*args):
    return run(["git", *args])


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def summarise(epochs):
    """Median images/s and epoch seconds over the epochs after the first (all when only one)."""
    timed = epochs[1:] or epochs
    return {"images_per_s": statistics.median(e["images_per_s"] for e in timed),
            "epoch_s": statistics.median(e["epoch_s"] for e in timed),
            "timed_epochs": [e["epoch"] for e in timed],
            "test_acc": epochs[-1]["test_acc"]}


def nin_row(run_dir):
    epochs = read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    if not epochs:
        raise ValueError(f"{run_dir}: no epochs in metrics.jsonl")
    with open(os.path.join(run_dir, "config.toml"), "rb") as f:
        cfg = tomllib.load(f)
    row = {"trainer": "nin-dist", "pipeline": "nin-dist loader", "run": run_dir,
           "device": cfg["train"]["device"], "precision": cfg["train"]["precision"],
           "batch": cfg["train"]["batch_size"], "resize": cfg["data"]["resize"],
           "ranks": epochs[-1].get("world_size", 1), "epochs": len(epochs)}
    row.update({k: cfg["train"].get(k, False) for k in ("channels_last", "foreach", "cuda_graph")})  # issue 15
    row.update(summarise(epochs))
    row["per_epoch"] = [{k: e[k] for k in ("epoch", "images_per_s", "epoch_s", "train_loss", "test_acc")}
                        for e in epochs]
    return row


def torch_row(path):
    epochs = read_jsonl(path)
    if not epochs:
        raise ValueError(f"{path}: no epoch lines")
    last = epochs[-1]
    row = {"trainer": "PyTorch " + last["torch"], "pipeline": last["pipeline"], "run": path,
           "device": last["device"], "precision": last["precision"], "batch": last["batch"],
           "resize": last["resize"], "ranks": 1, "epochs": len(epochs)}
    row.update(summarise(epochs))
    row["per_epoch"] = [{k: e[k] for k in ("epoch", "images_per_s", "epoch_s", "loss", "test_acc")}
                        for e in epochs]
    return row


def cpu_vs_cuda(cpu_dir, cuda_dir):
    """nin-dist's first-epoch train loss on the CPU and on CUDA, same seed, dropout off."""
    cpu = read_jsonl(os.path.join(cpu_dir, "metrics.jsonl"))[0]["train_loss"]
    gpu = read_jsonl(os.path.join(cuda_dir, "metrics.jsonl"))[0]["train_loss"]
    rel = abs(cpu - gpu) / abs(cpu)
    return {"train_loss_cpu": cpu, "train_loss_cuda": gpu, "rel_diff": rel,
            "tolerance": LOSS_REL_TOL, "ok": rel < LOSS_REL_TOL}


def markdown(report):
    peak = report["peak"]
    lines = [f"{report['gpu']['name'] or 'no GPU'}, driver {report['gpu']['driver']}, "
             f"torch {report['versions']['torch']} (CUDA {report['versions']['cuda']}), "
             f"commit {(report['git_commit'] or '?')[:10]}{' (dirty)' if report['git_dirty'] else ''}",
             "",
             "| trainer | pipeline | precision | batch | px | images/s | epoch s | test acc | MFU |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["rows"]:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        lines.append(f"| {r['trainer']} | {r['pipeline']} | {r['precision']} | {r['batch']} | {r['resize']} "
                     f"| {r['images_per_s']:.0f} | {r['epoch_s']:.2f} | {r['test_acc']:.4f} | {mfu} |")
    lines += ["", "images/s and epoch s: median over the epochs after the first (which holds cuDNN's "
              "autotuning); test acc: the last epoch's. MFU: images/s x FLOP per training image at the "
              f"row's px ({train_flop(224) / 1e9:.2f} GFLOP at 224 px) / "
              + (f"{peak['flops'] / 1e12:.0f} TFLOP/s ({peak['what']})." if peak["flops"] else "no known peak.")]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nin", action="append", default=[], help="nin-dist run directory (repeatable)")
    ap.add_argument("--torch", action="append", default=[], help="seed_pipeline.py JSON lines (repeatable)")
    ap.add_argument("--pair", nargs=2, metavar=("CPU_DIR", "CUDA_DIR"),
                    help="nin-dist runs whose first-epoch losses must agree")
    ap.add_argument("--cmake-log", help="output of nin-dist's cmake configure")
    ap.add_argument("--ctest-log", help="output of ctest")
    ap.add_argument("--command", default=" ".join(map(shlex.quote, sys.argv)),
                    help="the command that produced the inputs, as run")
    ap.add_argument("--peak-tflops", type=float, help="dense peak of the card, TFLOP/s (else from its name)")
    ap.add_argument("--json", required=True, help="where to write the report")
    ap.add_argument("--md", help="where to write the Markdown table (it is printed as well)")
    a = ap.parse_args()
    if tomllib is None:
        sys.exit("report.py needs Python 3.11+ (tomllib)")

    failures = []
    rows = []
    for kind, paths, make in (("nin-dist", a.nin, nin_row), ("PyTorch", a.torch, torch_row)):
        for p in paths:
            try:
                rows.append(make(p))
            except (OSError, ValueError, KeyError, IndexError) as e:
                failures.append(f"{kind} {p}: {type(e).__name__}: {e}")
    gpu = probe_gpu()
    peak = {"flops": None, "what": None}
    if a.peak_tflops:
        peak = {"flops": a.peak_tflops * 1e12, "what": "given with --peak-tflops"}
    elif gpu["name"]:
        for part, flops, what in PEAKS:
            if part in gpu["name"]:
                peak = {"flops": flops, "what": what}
                break
    for r in rows:
        r["train_flop_per_image"] = train_flop(r["resize"])
        r["mfu"] = r["images_per_s"] * r["train_flop_per_image"] / peak["flops"] if peak["flops"] else None
        for k in ("images_per_s", "epoch_s", "test_acc"):
            if not (isinstance(r[k], (int, float)) and math.isfinite(r[k]) and r[k] >= 0):
                failures.append(f"{r['run']}: {k} = {r[k]!r}")
        if r["test_acc"] <= 0.15:
            print(f"warning: {r['run']}: test accuracy {r['test_acc']:.3f} is near chance (0.1)", file=sys.stderr)

    versions = probe_torch()
    mpi = run(["mpirun", "--version"])
    nvcc = run(["nvcc", "--version"])
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": os.uname().nodename,
        "command": a.command,
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "gpu": gpu,
        "versions": {**versions,
                     "cuda_toolkit": re.search(r"release [\d.]+", nvcc).group(0) if nvcc else None,
                     "mpi": mpi.splitlines()[0] if mpi else None,
                     "nin_dist_build": cmake_summary(a.cmake_log)},
        "peak": {**peak, "note": "one peak for every row; MFU = images/s x train_flop_per_image / peak"},
        "flop_model": "2 per multiply-add, convolutions only; training = 3 x forward; "
                      f"{train_flop(224):.4g} FLOP per 224 px image",
        "rows": rows,
    }
    if a.ctest_log:
        report["tests"] = ctest_summary(a.ctest_log)
        if not report["tests"] or report["tests"]["failed"] != 0:
            failures.append(f"tests: {report['tests']['summary'] if report['tests'] else 'no ctest summary'}")
    if a.pair:
        try:
            report["cpu_vs_cuda"] = cpu_vs_cuda(*a.pair)
            if not report["cpu_vs_cuda"]["ok"]:
                failures.append(f"CPU and CUDA train losses differ: {report['cpu_vs_cuda']}")
        except (OSError, ValueError, KeyError, IndexError) as e:
            failures.append(f"cpu vs cuda: {type(e).__name__}: {e}")
    report["failures"] = failures

    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    md = markdown(report)
    if a.md:
        with open(a.md, "w") as f:
            f.write(md)
    print(md, end="")
    for msg in failures:
        print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
