#!/usr/bin/env python3
"""Checks and tabulates the GPU benchmark of bench/gpu/run.sh: writes gpu.json and prints
(and writes) a Markdown table for the README.

run.sh's plan lists every row (ROW KIND SOURCE STEP) and its steps file each step's outcome
(STEP STATUS SECONDS REASON; the last line of a step wins). Every planned row is in gpu.json,
run or not: status "ran", "failed", "deadline", "not available" or "pending" (an interim
report), with the reason. Figures come from nin-dist run directories (metrics.jsonl,
config.toml; a run stopped by the deadline keeps its finished epochs) and the JSON lines of
bench/gpu/seed_pipeline.py. Recorded: the card, driver, versions of torch, CUDA, NCCL and MPI,
the git commit, the exact command, and per row images/s, epoch seconds (median over the epochs
after the first, which holds cuDNN's autotuning), test accuracy, the FLOP per training image
and the model FLOP utilisation (MFU), both as nin-dist records them (metrics.jsonl's
flops_per_image and mfu). A PyTorch row, the same NiN, takes the FLOP per image of the nin-dist
rows at its px and its MFU against the peak that the nin-dist row of its px and precision
implies; "n/a" where no record gives them. --rehearsal marks a CPU rehearsal.
--profile PRECISION NIN_MD TORCH_MD (repeated) adds "Kernel profile": nin-dist's profile.md
(log.profile_steps) beside PyTorch's (seed_pipeline.py --profile-steps), the top kernels side
by side and the time per step by category (conv/gemm, elementwise, ...).
Exits 1 when a step failed, a row that ran has missing or malformed figures, a figure is not
finite, the test suite failed, or the CPU and CUDA runs of nin-dist disagree.
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

LOSS_REL_TOL = 1e-3  # largest relative gap between nin-dist's CPU and CUDA train losses
PROFILE_TOP = 12  # kernels side by side in gpu.md (gpu.json keeps every row of the tables)
PROFILE_NAME_CHARS = 70  # a kernel's name in gpu.md, cut: cuDNN's and ATen's run to hundreds
# Kernels (and, on a CPU, ops) by category, first match wins: (category, regex on the lowered name).
CATEGORIES = [
    ("NCCL", r"nccl"),
    ("memcpy/memset", r"^memcpy|^memset|aten::copy_$|aten::fill_$|aten::zero_$"),
    ("optimizer", r"foreach|multi_tensor_apply|fused_sgd|fused_adam|sgd|adam"),
    ("layout (NCHW/NHWC)", r"nchwtonhwc|nhwctonchw|transpose|contiguous"),
    ("conv/gemm", r"conv|gemm|xmma|cudnn|cutlass|winograd|wgrad|dgrad|fprop|aten::(mm|addmm|bmm|matmul)$"),
    ("reductions", r"reduce|softmax|nll|pool|aten::(sum|mean|max|argmax|norm)$"),
    ("elementwise", r"elementwise|vectorized|unrolled|relu|threshold|dropout|bernoulli|aten::(add|mul|div|sub)_?$"),
    ("other", r""),
]


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
                m = re.match(r"--\s+(LibTorch|MPI|NCCL|Kineto)\s+(.*)", line.strip())
                if m:
                    found[m.group(1).lower()] = m.group(2).strip()
    return found


def git(*args):
    return run(["git", *args])


def probes(cache, rehearsal):
    """The card, versions and commit: slow (torch import), so kept in `cache` for later reports.
    A rehearsal leaves nvidia-smi out: whatever card the machine has did not run it."""
    if cache and os.path.exists(cache):
        with open(cache) as f:
            return json.load(f)
    mpi, nvcc = run(["mpirun", "--version"]), run(["nvcc", "--version"])
    no_gpu = {"name": None, "count": 0, "memory": None, "driver": None}
    found = {"gpu": no_gpu if rehearsal else probe_gpu(), "torch": probe_torch(),
             "cuda_toolkit": re.search(r"release [\d.]+", nvcc).group(0) if nvcc else None,
             "mpi": mpi.splitlines()[0] if mpi else None,
             "git_commit": git("rev-parse", "HEAD"),
             "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    if cache:
        with open(cache, "w") as f:
            json.dump(found, f)
    return found


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def read_tsv(path, fields):
    rows = []
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                rows.append(dict(zip(fields, [x.strip() for x in parts] + [""] * (len(fields) - len(parts)))))
    return rows


def recorded(value):
    """A figure of metrics.jsonl, or None where the run recorded none (null, NaN, absent)."""
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def summarise(epochs):
    """Median images/s, epoch seconds and MFU over the epochs after the first (all when only one);
    the FLOP per training image and the MFU as nin-dist recorded them (None where it did not:
    MFU on a CPU or an unknown card)."""
    timed = epochs[1:] or epochs
    mfu = [recorded(e.get("mfu")) for e in timed]
    return {"images_per_s": statistics.median(e["images_per_s"] for e in timed),
            "epoch_s": statistics.median(e["epoch_s"] for e in timed),
            "timed_epochs": [e["epoch"] for e in timed],
            "test_acc": epochs[-1]["test_acc"], "val_acc": epochs[-1].get("val_acc"),
            "train_flop_per_image": recorded(epochs[-1].get("flops_per_image")),
            "mfu": statistics.median(mfu) if None not in mfu else None}


def nin_row(run_dir):
    epochs = read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    if not epochs:
        raise ValueError(f"{run_dir}: no epochs in metrics.jsonl")
    with open(os.path.join(run_dir, "config.toml"), "rb") as f:
        cfg = tomllib.load(f)
    row = {"trainer": "nin-dist", "pipeline": "nin-dist loader", "run": run_dir,
           "device": cfg["train"]["device"], "precision": cfg["train"]["precision"],
           "batch": cfg["train"]["batch_size"], "resize": cfg["data"]["resize"],
           "ranks": epochs[-1].get("world_size", 1), "epochs": len(epochs),
           "epochs_planned": cfg["train"]["epochs"]}
    row.update({k: cfg["train"].get(k, False) for k in ("channels_last", "cuda_graph")})
    row.update(summarise(epochs))
    row["per_epoch"] = [{k: e.get(k) for k in ("epoch", "images_per_s", "epoch_s", "train_loss", "val_acc", "test_acc")}
                        for e in epochs]
    return row


def torch_lines(path, key):
    """seed_pipeline.py's result line and warm-up line for row `key` (None when absent)."""
    result = warmup = None
    if os.path.exists(path):
        for line in read_jsonl(path):
            if line.get("row") == key:
                if line.get("event") == "warm-up":
                    warmup = line
                else:
                    result = line
    return result, warmup


def torch_row(line):
    return {"trainer": "PyTorch " + line["torch"], "pipeline": line["pipeline"], "device": line["device"],
            "precision": line["precision"], "batch": line["batch"], "resize": line["resize"], "ranks": 1,
            "channels_last": line["channels_last"], "compile": line["compile"],
            "images_per_s": line["images_per_s"], "epoch_s": None, "test_acc": None,
            "timed_images": line["images"], "timed_s": line["seconds"], "warmup_s": line["warmup_s"],
            "first_step_s": line.get("first_step_s"),
            "loss_first": line["loss_first"], "loss_last": line["loss_last"]}


def category(name):
    low = name.lower()
    return next(c for c, pattern in CATEGORIES if re.search(pattern, low))


def read_profile(path):
    """The first table of a profile.md (nin-dist's log.profile_steps or seed_pipeline.py's):
    kernels by device time on a GPU, ops by host self time on a CPU. None when absent."""
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        text = f.read()
    steps = re.search(r"^(\d+) steps on (\S+?),? ", text, re.M)
    table = re.search(r"^## (.+)\n\n((?:\|.*\n)+)", text, re.M)
    if not steps or not table:
        raise ValueError(f"{path}: no 'N steps on DEVICE' line or no table")
    rows, total = [], None
    for line in table.group(2).splitlines()[2:]:
        m = re.match(r"^\| (.*) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", line)
        if not m:
            raise ValueError(f"{path}: malformed row {line!r}")
        name = m.group(1).replace("\\|", "|")
        row = {"name": name, "count": int(m.group(2)), "total_ms": float(m.group(3)),
               "ms_per_step": float(m.group(4)), "pct": float(m.group(5))}
        if name == "(total)":
            total = row
        else:
            row["category"] = "other" if re.fullmatch(r"\(\d+ others\)", name) else category(name)
            rows.append(row)
    if total is None:
        raise ValueError(f"{path}: no (total) row")
    by_category = {c: 0.0 for c, _ in CATEGORIES}
    for row in rows:
        by_category[row["category"]] += row["ms_per_step"]
    return {"path": path, "steps": int(steps.group(1)), "device": steps.group(2), "table": table.group(1),
            "rows": rows, "ms_per_step": total["ms_per_step"], "categories": by_category}


def profiles(specs):
    """{precision: {"nin": profile, "torch": profile}} from --profile; a missing file is said, a
    malformed one fails the report."""
    found, failures = {}, []
    for precision, nin_md, torch_md in specs or []:
        pair = {}
        for side, path in (("nin", nin_md), ("torch", torch_md)):
            try:
                pair[side] = read_profile(path) or {"path": path, "status": "not available", "reason": f"no {path}"}
            except (OSError, ValueError) as e:
                failures.append(f"profile {precision} {side}: {e}")
                pair[side] = {"path": path, "status": "failed", "reason": str(e)}
        found[precision] = pair
    return found, failures


def short(name):
    name = name if len(name) <= PROFILE_NAME_CHARS else name[:PROFILE_NAME_CHARS - 1] + "…"
    return name.replace("|", "\\|")


def profile_markdown(found):
    """gpu.md's "Kernel profile": per precision, time per step by category, then the top kernels
    of each side by side, then nin-dist's largest kernels that PyTorch does not run."""
    lines = ["", "## Kernel profile", "",
             "nin-dist: `log.profile_steps` in the first epoch of the seed rows (not timed), rank 0. PyTorch "
             "eager: torch.profiler over steps after its timed window. Per step; device time sums every "
             "stream, so communication beside compute counts too. nin-seed-bf16 is not channels-last; "
             "PyTorch's bf16 row is."]
    for precision, pair in found.items():
        nin, ref = pair["nin"], pair["torch"]
        lines += ["", f"### {precision}", ""]
        missing = [f"- {who}: {p['status']}: {p['reason']}" for who, p in (("nin-dist", nin), ("PyTorch", ref))
                   if "rows" not in p]
        if missing:
            lines += missing
            continue
        lines += [f"nin-dist: {nin['steps']} steps on {nin['device']}, {nin['table'].lower()}; PyTorch: "
                  f"{ref['steps']} steps on {ref['device']}, {ref['table'].lower()}.", "",
                  "| category | nin-dist ms/step | PyTorch ms/step | nin-dist - PyTorch |",
                  "| --- | ---: | ---: | ---: |"]
        for c, _ in CATEGORIES:
            a, b = nin["categories"][c], ref["categories"][c]
            if a or b:
                lines.append(f"| {c} | {a:.3f} | {b:.3f} | {a - b:+.3f} |")
        lines += [f"| total | {nin['ms_per_step']:.3f} | {ref['ms_per_step']:.3f} | "
                  f"{nin['ms_per_step'] - ref['ms_per_step']:+.3f} |", "",
                  "| # | nin-dist | ms/step | % | PyTorch | ms/step | % |", "| ---: | --- | ---: | ---: | --- | ---: | ---: |"]
        for i in range(min(PROFILE_TOP, max(len(nin["rows"]), len(ref["rows"])))):
            cells = []
            for p in (nin, ref):
                r = p["rows"][i] if i < len(p["rows"]) else None
                cells.append(f"{short(r['name'])} | {r['ms_per_step']:.3f} | {r['pct']:.1f}" if r else " | | ")
            lines.append(f"| {i + 1} | {cells[0]} | {cells[1]} |")
        theirs = {r["name"] for r in ref["rows"]}
        only = [r for r in nin["rows"] if r["name"] not in theirs and not r["name"].startswith("(")][:5]
        if only:
            lines += ["", "Where nin-dist spends time PyTorch does not (its largest kernels that PyTorch's table "
                      "lacks): " + "; ".join(f"{short(r['name'])} {r['ms_per_step']:.3f} ms/step" for r in only) + "."]
    return lines


def cpu_vs_cuda(cpu_dir, cuda_dir):
    """nin-dist's first-epoch train loss on the CPU and on CUDA, same seed, dropout off, TF32 off."""
    cpu = read_jsonl(os.path.join(cpu_dir, "metrics.jsonl"))[0]["train_loss"]
    gpu = read_jsonl(os.path.join(cuda_dir, "metrics.jsonl"))[0]["train_loss"]
    rel = abs(cpu - gpu) / abs(cpu)
    return {"train_loss_cpu": cpu, "train_loss_cuda": gpu, "rel_diff": rel, "tf32": "off (NVIDIA_TF32_OVERRIDE=0)",
            "tolerance": LOSS_REL_TOL, "ok": rel < LOSS_REL_TOL}


def ctest_summary(path):
    """ctest's 'N% tests passed, ...' line, the names of failed tests and of skipped ones."""
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        text = f.read()
    m = re.search(r"\d+% tests passed, (\d+) tests? failed out of (\d+)", text)
    _, marker, tail = text.partition("The following tests FAILED")
    failed = re.findall(r"^\s*\d+ - (\S+) \(", tail, re.M) if marker else []
    return {"summary": m.group(0) if m else None, "failed": int(m.group(1)) if m else None,
            "total": int(m.group(2)) if m else None, "failed_tests": failed,
            "skipped_tests": re.findall(r"^\s*\d+ - (\S+) \(Skipped\)", text, re.M)}


def outcome(step, steps, final, ended_by):
    """(status, reason) of a step: its last record; a step never recorded is pending, and in the
    final report a deadline (the call was stopped first) or, when the call ended by itself, failed."""
    rec = steps.get(step)
    if rec:  # the reason without its status word: the table prints "status: reason"
        return rec["status"], rec["reason"].removeprefix(rec["status"] + ":").strip()
    if not final:
        return "pending", "not reached when this report was written"
    if ended_by.startswith("SIG"):
        return "deadline", f"not reached; the call ended on {ended_by}"
    return "failed", "run.sh never ran this step"


def said(entry):
    """'status: reason', or the status alone."""
    return entry["status"] + (f": {entry['reason']}" if entry.get("reason") else "")


def fmt(v, spec, none="-"):
    return format(v, spec) if isinstance(v, (int, float)) else none


def markdown(report):
    lines = []
    if report["rehearsal"]:
        lines += ["**REHEARSAL on a CPU with tiny limits: the plumbing, not a figure.**", ""]
    lines += [f"{report['gpu']['name'] or 'no GPU'}, driver {report['gpu']['driver']}, "
              f"torch {report['versions']['torch']} (CUDA {report['versions']['cuda']}), "
              f"commit {(report['git_commit'] or '?')[:10]}{' (dirty)' if report['git_dirty'] else ''}; "
              f"{report['elapsed_s']} s of a {report['deadline_s']} s deadline",
              "",
              f"- build: {said(report['build'])}",
              f"- tests: {report['tests'].get('summary') or said(report['tests'])}"
              + (f"; skipped: {', '.join(report['tests']['skipped_tests'])}" if report['tests'].get('skipped_tests') else "")
              + (f"; failed: {', '.join(report['tests']['failed_tests'])}" if report['tests'].get('failed_tests') else ""),
              f"- CPU vs CUDA first-epoch loss (TF32 off): " + (
                  f"rel. diff {report['cpu_vs_cuda']['rel_diff']:.2e} (tolerance {LOSS_REL_TOL:g})"
                  if "rel_diff" in report["cpu_vs_cuda"] else
                  said(report["cpu_vs_cuda"])),
              "",
              "| row | status | trainer | pipeline | precision | batch | px | images/s | epoch s | test acc | MFU |",
              "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["rows"]:
        status = said(r) if r["status"] != "ran" else "ran"
        mfu = fmt(100 * r["mfu"], ".1f") + "%" if r.get("mfu") is not None else "-"
        if r.get("images_per_s") is not None and r.get("mfu") is None:
            mfu = "n/a"  # a row with figures, but no record gives its MFU
        pipeline = ", ".join([r.get("pipeline") or "-"] + [flag for key, flag in (
            ("channels_last", "channels-last"), ("cuda_graph", "CUDA graph")) if r.get(key)]
            + ([f"torch.compile {r['compile']}"] if r.get("compile") else []))
        lines.append(f"| {r['name']} | {status} | {r.get('trainer', '-')} | {pipeline} "
                     f"| {r.get('precision', '-')} | {r.get('batch', '-')} | {r.get('resize', '-')} "
                     f"| {fmt(r.get('images_per_s'), '.0f')} | {fmt(r.get('epoch_s'), '.2f')} "
                     f"| {fmt(r.get('test_acc'), '.4f')} | {mfu} |")
    lines.append("")
    for r in report["rows"]:
        if r.get("warmup_s") is not None:
            compiled = f"compile (torch.compile mode={r['compile']}, the first step) {fmt(r.get('first_step_s'), '.1f')} s; " \
                if r.get("compile") else ""
            lines.append(f"- {r['name']}: {compiled}warm-up {r['warmup_s']:.1f} s in all"
                         + (" (CUDA-graph capture included)" if r.get("compile") else "") + ", outside the timed window")
        if r["status"] == "ran" and r["reason"]:
            lines.append(f"- {r['name']}: {r['reason']}")
    lines += ["", "nin-dist: images/s and epoch s are medians over the epochs after the first (cuDNN's "
              "autotuning), test acc the last epoch's. PyTorch: images/s over a timed window after the "
              "warm-up, data on the device. MFU: as nin-dist records it (images/s x FLOP per training image "
              "/ (ranks x the card's dense peak for the row's precision)); a PyTorch row's against the peak "
              "that the nin-dist row of its px and precision implies; n/a where no record gives it."]
    if report.get("profile"):
        lines += profile_markdown(report["profile"])
    return "\n".join(lines) + "\n"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", required=True, help="run.sh's rows: ROW KIND SOURCE STEP (tab-separated)")
    ap.add_argument("--steps", required=True, help="run.sh's step outcomes: STEP STATUS SECONDS REASON")
    ap.add_argument("--probe-cache", help="JSON file that keeps the card and version probes between calls")
    ap.add_argument("--command", default=" ".join(map(shlex.quote, sys.argv)), help="the command, as run")
    ap.add_argument("--ctest-args", default="", help="the arguments that chose the tests")
    ap.add_argument("--deadline-s", type=int, help="run.sh's DEADLINE_S")
    ap.add_argument("--elapsed-s", type=int, help="seconds run.sh has run")
    ap.add_argument("--final", metavar="ENDED_BY", help="the last report: steps not reached are listed as such")
    ap.add_argument("--rehearsal", action="store_true", help="a CPU rehearsal: marked so, never a figure")
    ap.add_argument("--json", required=True, help="where to write the report")
    ap.add_argument("--md", help="where to write the Markdown table (it is printed as well)")
    ap.add_argument("--profile", nargs=3, action="append", metavar=("PRECISION", "NIN_MD", "TORCH_MD"),
                    help="nin-dist's profile.md and PyTorch's profile table of one precision, side by side")
    return ap.parse_args()


def report_head(a, found, steps):
    """The report's fields that no row gives: the call, the machine, the versions, the steps."""
    final, ended_by = a.final is not None, a.final or ""
    report = {"rehearsal": a.rehearsal,
              "note": "a CPU rehearsal with tiny limits: checks the plumbing; no figure here is a measurement"
                      if a.rehearsal else None,
              "complete": final, "ended_by": ended_by or None,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "host": os.uname().nodename, "command": a.command, "deadline_s": a.deadline_s, "elapsed_s": a.elapsed_s,
              "git_commit": found["git_commit"], "git_dirty": found["git_dirty"], "gpu": found["gpu"],
              "versions": {**found["torch"], "cuda_toolkit": found["cuda_toolkit"], "mpi": found["mpi"]},
              "flop_and_mfu": "nin-dist rows: metrics.jsonl's flops_per_image and mfu (median over the timed "
                              "epochs); PyTorch rows: flop_from's FLOP per image, and MFU against the peak "
                              "mfu_from's record implies; null where no record gives them",
              "steps": {name: {k: rec[k] for k in ("status", "seconds", "reason")} for name, rec in steps.items()}}
    for key in ("build", "tests", "cpu_vs_cuda"):  # sections a plan may leave out
        report[key] = {"status": "not planned", "reason": ""}
    return report


def pair_section(p, entry, failures):
    """The CPU-vs-CUDA section of a plan's "pair" row."""
    section = entry
    if entry["status"] == "ran":
        try:
            section.update(cpu_vs_cuda(*p["source"].split("|")))
            if not section["ok"]:
                failures.append(f"CPU and CUDA train losses differ: {section}")
        except (OSError, ValueError, KeyError, IndexError) as e:
            failures.append(f"cpu vs cuda: {type(e).__name__}: {e}")
    return section


def nin_plan_row(p, entry, failures):
    """A nin-dist row from its run directory: what it finished, even when stopped by the deadline."""
    row = {"name": p["row"], **entry}
    if os.path.exists(os.path.join(p["source"], "metrics.jsonl")):  # a deadline keeps its epochs
        try:
            row.update(nin_row(p["source"]))
        except (OSError, ValueError, KeyError, IndexError) as e:
            failures.append(f"{p['row']} {p['source']}: {type(e).__name__}: {e}")
    elif entry["status"] == "ran":
        failures.append(f"{p['row']}: ran, but {p['source']}/metrics.jsonl is missing")
    return row


def torch_plan_row(p, entry, failures):
    """A PyTorch row from seed_pipeline.py's lines: its own word, else the step's outcome."""
    row = {"name": p["row"], **entry}
    status, reason = entry["status"], entry["reason"]
    line, warmup = torch_lines(p["source"], p["row"].removeprefix("torch-"))
    if line and line.get("status") != "ok":  # the row's own word: not available, failed
        row.update({k: line[k] for k in ("pipeline", "precision", "batch", "resize", "compile") if k in line})
        if "torch" in line:
            row["trainer"] = "PyTorch " + line["torch"]
        row.update(status=line["status"], reason=line["reason"])
        if line["status"] == "failed":
            failures.append(f"{p['row']}: {line['reason']}")
    elif line:
        try:
            row.update(torch_row(line), status="ran", reason="")
        except KeyError as e:
            failures.append(f"{p['row']}: malformed line, no {e}")
    elif status == "ran":
        failures.append(f"{p['row']}: the step ran, but printed no line for it")
    else:  # the process ended before this row's line: the step's outcome is the row's
        if status == "failed":
            failures.append(f"{p['row']}: {reason}")
        if warmup:
            row.update(warmup_s=warmup["warmup_s"], first_step_s=warmup.get("first_step_s"),
                       compile=warmup.get("compile"))
    return row


def read_plan(a, plan, steps, report, failures):
    """Every planned row's section or table row into `report`; the table rows, in plan order."""
    final, ended_by = a.final is not None, a.final or ""
    rows = []
    for p in plan:
        status, reason = outcome(p["step"], steps, final, ended_by)
        if status == "failed" and p["kind"] != "torch":  # a torch row's own line says more
            failures.append(f"{p['row']}: {reason}")
        entry = {"status": status, "reason": reason}
        if p["kind"] == "build":
            report["build"] = {**entry, "nin_dist_build": cmake_summary(p["source"])}
        elif p["kind"] == "suite":
            report["tests"] = {**entry, "args": a.ctest_args, **ctest_summary(p["source"])}
            if status == "ran" and report["tests"].get("failed") != 0:
                failures.append(f"tests: {report['tests'].get('summary') or 'no ctest summary'}")
        elif p["kind"] == "pair":
            report["cpu_vs_cuda"] = pair_section(p, entry, failures)
        elif p["kind"] == "nin":
            rows.append(nin_plan_row(p, entry, failures))
        elif p["kind"] == "torch":
            rows.append(torch_plan_row(p, entry, failures))
    return rows


def implied_peak(row):
    """FLOP/s of one rank's card that a nin-dist row's recorded MFU implies (mfu = FLOP per image x
    images/s / (ranks x peak)), or None where it recorded none."""
    flop, ips, mfu = row.get("train_flop_per_image"), row.get("images_per_s"), row.get("mfu")
    if not (flop and ips and mfu):
        return None
    return flop * ips / (row.get("ranks", 1) * mfu)


def baseline_figures(rows):
    """A PyTorch row (the same NiN, no records of its own) takes the FLOP per image of the first
    nin-dist row at its px that recorded one, and its MFU against the peak implied by the first
    nin-dist row at its px and precision that recorded an MFU; None (n/a) where no row did."""
    nin = [r for r in rows if r.get("trainer") == "nin-dist"]
    for r in rows:
        if r.get("trainer") == "nin-dist" or r.get("images_per_s") is None:
            continue
        flop = next((n for n in nin if n["resize"] == r["resize"] and n.get("train_flop_per_image")), None)
        peak = next((n for n in nin if n["resize"] == r["resize"] and n["precision"] == r["precision"]
                     and implied_peak(n)), None)
        r["train_flop_per_image"] = flop["train_flop_per_image"] if flop else None
        r["flop_from"] = flop["name"] if flop else None
        r["mfu"] = (r["images_per_s"] * r["train_flop_per_image"] / (r.get("ranks", 1) * implied_peak(peak))
                    if peak and flop else None)
        r["mfu_from"] = peak["name"] if peak and flop else None


def check_rows(rows, rehearsal, failures):
    """Figures that are not finite, or negative, fail the report; a test accuracy near chance is said."""
    for r in rows:
        if r.get("images_per_s") is None:
            continue
        for k in ("images_per_s", "epoch_s", "test_acc", "train_flop_per_image", "mfu"):
            if r.get(k) is not None and not (isinstance(r[k], (int, float)) and math.isfinite(r[k]) and r[k] >= 0):
                failures.append(f"{r['name']}: {k} = {r[k]!r}")
        if r.get("test_acc") is not None and r["test_acc"] <= 0.15 and not rehearsal:
            print(f"warning: {r['name']}: test accuracy {r['test_acc']:.3f} is near chance (0.1)", file=sys.stderr)


def write_report(a, report):
    """gpu.json (replaced whole), gpu.md where asked; the Markdown is printed as well."""
    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    tmp = a.json + ".tmp"
    with open(tmp, "w") as f:  # replaced whole: a kill mid-write leaves the previous report
        json.dump(report, f, indent=2)
        f.write("\n")
    os.replace(tmp, a.json)
    md = markdown(report)
    if a.md:
        with open(a.md, "w") as f:
            f.write(md)
    print(md, end="")


def main():
    a = parse_args()
    if tomllib is None:
        sys.exit("report.py needs Python 3.11+ (tomllib)")
    plan = read_tsv(a.plan, ["row", "kind", "source", "step"])
    steps = {r["step"]: r for r in read_tsv(a.steps, ["step", "status", "seconds", "reason"])}
    found = probes(a.probe_cache, a.rehearsal)
    report = report_head(a, found, steps)
    failures = []
    rows = read_plan(a, plan, steps, report, failures)
    baseline_figures(rows)
    check_rows(rows, a.rehearsal, failures)
    report["rows"] = rows
    report["profile"], profile_failures = profiles(a.profile)
    failures += profile_failures
    report["failures"] = failures
    write_report(a, report)
    for msg in failures:
        print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
