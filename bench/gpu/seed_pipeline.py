"""PyTorch anchors for the GPU benchmark: the seed's NiN and recipe (224 px, SGD 0.05), timed
the way a PyTorch user would time them, in one process on one card.

Rows (--rows, in this order by default):
  eager-fp32            data on the GPU (uint8), each batch gathered and resized there; fp32
  eager-bf16-cl         the same, bf16 autocast, model and batches in channels-last memory
  compiled-bf16-cl      the same under torch.compile with CUDA graphs (--compile-mode)
  compiled-bf16-cl-b16  the same at batch 16, where kernel launches dominate
  seed-dataloader       the seed's pipeline: torchvision FashionMNIST + Resize per image in a
                        DataLoader with worker processes (d2l's way); a reference, not an anchor
Each row warms up for --warmup-steps (compilation and CUDA-graph capture happen there), then
times a window of --timed-images images (whole batches). With --profile-steps N the eager rows
(PROFILED) then run N more steps under torch.profiler (CPU, and CUDA on a GPU), outside the
timed window, and write --profile-dir/<row>.md in the format of nin-dist's profile.md
(log.profile_steps): kernels by device time, ops by host self time. Prints one JSON line per row's warm-up
(its seconds, compile time included) and one per row's result; a row that cannot run on this
torch (no torch.compile in 1.13) or fails says so in its own line, and the next row runs.
Works with torch 1.13 / torchvision 0.14 (Debian 12, CPU) and 2.11 / 0.26; --device cpu with
small --train-limit and --timed-images checks it without a GPU.
"""
import argparse, gzip, json, math, os, tempfile, time, traceback

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
GZIP_MAGIC = b"\x1f\x8b"
# name: (pipeline, bf16, channels_last, compiled, batch)
ROWS = {
    "eager-fp32": ("gpu-resident", False, False, False, 128),
    "eager-bf16-cl": ("gpu-resident", True, True, False, 128),
    "compiled-bf16-cl": ("gpu-resident", True, True, True, 128),
    "compiled-bf16-cl-b16": ("gpu-resident", True, True, True, 16),
    "seed-dataloader": ("seed", False, False, False, 128),
}
PROFILED = ("eager-fp32", "eager-bf16-cl")  # beside nin-dist's profiled rows in gpu.md
TOP_KERNELS, TOP_OPS = 40, 30  # table rows, as src/monitor/profile.cpp


def nin_block(cin, cout, k, s, p):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, p), nn.ReLU(),
                         nn.Conv2d(cout, cout, 1), nn.ReLU(), nn.Conv2d(cout, cout, 1), nn.ReLU())


def seed_nin(num_classes=10):
    net = nn.Sequential(
        nin_block(1, 96, 11, 4, 0), nn.MaxPool2d(3, stride=2),
        nin_block(96, 256, 5, 1, 2), nn.MaxPool2d(3, stride=2),
        nin_block(256, 384, 3, 1, 1), nn.MaxPool2d(3, stride=2), nn.Dropout(0.5),
        nin_block(384, num_classes, 3, 1, 1), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
    return net


def idx_path(data, name):
    """The IDX file `name` in `data`, uncompressed or with .gz, as src/data/idx.cpp looks for it."""
    for path in (os.path.join(data, name), os.path.join(data, name + ".gz")):
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{name}[.gz] not in {data}")


def idx_bytes(path):
    """The bytes of an IDX file, gunzipped when it starts with the gzip magic (whatever its name)."""
    with open(path, "rb") as f:
        raw = f.read()
    return gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw


def idx(data, name):
    """An unsigned-byte IDX file as a uint8 tensor of its dims."""
    raw = idx_bytes(idx_path(data, name))
    if raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{name}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return torch.from_numpy(np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims).copy())


def torchvision_root(data, root):
    """Lays out root/FashionMNIST/raw/<name> uncompressed, which is all torchvision reads
    (it opens the raw name as plain IDX; a .gz under that name fails its magic check)."""
    raw = os.path.join(root, "FashionMNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for name in IDX_FILES:
        with open(os.path.join(raw, name), "wb") as out:
            out.write(idx_bytes(idx_path(data, name)))
    return root


def resident_set(a, dev, cache={}):  # noqa: B006 - one copy on the device for every row
    if dev not in cache:
        x = idx(a.data, "train-images-idx3-ubyte")
        y = idx(a.data, "train-labels-idx1-ubyte").long()
        n = min(a.train_limit, len(y)) if a.train_limit else len(y)
        cache[dev] = (x[:n].to(dev), y[:n].to(dev))
    return cache[dev]


def resident_batches(a, dev, batch):
    """Endless batches drawn from the training images kept on the device as uint8 (55 MB)."""
    x, y = resident_set(a, dev)
    n = len(y)
    while True:
        j = torch.randint(n, (batch,), device=dev)
        yield F.interpolate(x[j].unsqueeze(1).float() / 255, size=(a.resize, a.resize),
                            mode="bilinear", align_corners=False), y[j]


def seed_batches(a, dev, batch, root):
    """Endless batches from the seed's DataLoader (workers resize each image with PIL)."""
    import torchvision
    from torchvision import transforms
    ds = torchvision.datasets.FashionMNIST(root, train=True, download=False, transform=transforms.Compose(
        [transforms.Resize(a.resize), transforms.ToTensor()]))
    if a.train_limit:
        ds = torch.utils.data.Subset(ds, range(min(a.train_limit, len(ds))))
    loader = torch.utils.data.DataLoader(ds, batch, shuffle=True, drop_last=True, num_workers=a.workers,
                                         pin_memory=dev.type == "cuda", persistent_workers=a.workers > 0)
    while True:
        for x, y in loader:
            yield x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)


def unavailable(compiled, dev):
    """Why this torch cannot run a row, or None."""
    if compiled and not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile (2.0+)"
    if compiled and dev.type != "cuda":
        return "CUDA graphs need a CUDA device"
    return None


def profile_table(rows, steps, top):
    """rows: [(name, count, total_us)], the largest first. The table of src/monitor/profile.cpp:
    name, count, total ms, ms/step, % of all rows; `top` rows, then the rest and the total."""
    total = sum(r[2] for r in rows)

    def line(name, count, us):
        pct = 100 * us / total if total > 0 else 0
        return f"| {name.replace('|', chr(92) + '|')} | {count} | {us / 1e3:.3f} | {us / 1e3 / max(steps, 1):.3f} | {pct:.1f} |"
    out = ["| name | count | total ms | ms/step | % |", "| --- | ---: | ---: | ---: | ---: |"]
    out += [line(*r) for r in rows[:top]]
    rest = rows[top:]
    if rest:
        out.append(line(f"({len(rest)} others)", sum(r[1] for r in rest), sum(r[2] for r in rest)))
    out.append(line("(total)", sum(r[1] for r in rows), total))
    return "\n".join(out) + "\n"


def by_name(pairs):
    """[(name, us)] -> [(name, count, total_us)], the largest total first."""
    acc = {}
    for name, us in pairs:
        count, total = acc.get(name, (0, 0.0))
        acc[name] = (count + 1, total + us)
    return sorted(((n, c, t) for n, (c, t) in acc.items()), key=lambda r: -r[2])


def profile_steps(name, step, sync, dev, a):
    """--profile-steps more steps under torch.profiler, outside the timed window: writes
    --profile-dir/<name>.md. Device events (kernels, memcpys, memsets) by their time, host ops
    by self time, as nin-dist's profile.md."""
    from torch.profiler import ProfilerActivity, profile, record_function
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    sync()  # the timed window's kernels finish outside the profile
    with profile(activities=activities) as prof:
        for _ in range(a.profile_steps):
            with record_function("torch::step"):
                step()
        sync()  # every profiled kernel finishes inside it
    events = list(prof.events())
    on_device = [e for e in events if not str(e.device_type).endswith("CPU")]
    kernels = by_name((e.name, e.time_range.elapsed_us()) for e in on_device)
    # An op's self time is its time less its children's; torch.profiler counts a child that
    # outlives its parent (another thread's op) whole, which can leave it below zero: counted
    # as 0, as nin-dist's host_self_time does.
    ops = by_name((e.name, max(0.0, e.self_cpu_time_total)) for e in events if str(e.device_type).endswith("CPU"))
    n = a.profile_steps
    lines = [f"# Profile of {n} steps of {name} (PyTorch {torch.__version__})", "",
             f"{n} steps on {dev}, recorded by torch.profiler ({', '.join(str(x).split('.')[-1] for x in activities)}),"
             " after the timed window."]
    if kernels:
        lines.append(f"Device time: {sum(k[2] for k in kernels) / 1e3 / n:.3f} ms per step, every stream's kernels, "
                     "memcpys and memsets summed (streams overlap).")
    lines.append(f"Host self time: {sum(o[2] for o in ops) / 1e3 / n:.3f} ms per step on the profiled threads.")
    text = "\n".join(lines) + "\n"
    if kernels:
        text += "\n## Kernels by device time\n\n" + profile_table(kernels, n, TOP_KERNELS)
    text += "\n## Ops by host self time\n\n" + profile_table(ops, n, TOP_OPS)
    os.makedirs(a.profile_dir, exist_ok=True)
    path = os.path.join(a.profile_dir, f"{name}.md")
    with open(path, "w") as f:
        f.write(text)
    print(json.dumps({"row": name, "event": "profile", "steps": n, "path": path,
                      "device_events": len(on_device), "host_events": len(events) - len(on_device)}), flush=True)


def run_row(name, a, dev, root):
    pipeline, bf16, cl, compiled, batch = ROWS[name]
    settings = {"row": name, "pipeline": pipeline, "device": str(dev), "precision": "bf16" if bf16 else "fp32",
                "batch": batch, "resize": a.resize, "channels_last": cl,
                "compile": a.compile_mode if compiled else None, "torch": torch.__version__}
    why = unavailable(compiled, dev)
    if why:
        return {**settings, "status": "not available", "reason": why}
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    fmt = torch.channels_last if cl else torch.contiguous_format
    torch.manual_seed(42)
    model = seed_nin().to(dev, memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    forward = torch.compile(model, mode=a.compile_mode) if compiled else model
    mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None) if compiled else None
    data = seed_batches(a, dev, batch, root) if pipeline == "seed" else resident_batches(a, dev, batch)

    def step():
        x, y = next(data)
        if mark:
            mark()  # a new iteration for CUDA-graph trees: last step's outputs may be reused
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(forward(x.contiguous(memory_format=fmt)).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach().clone()

    model.train()
    start = time.time()
    first = step()  # torch.compile traces and compiles forward and backward here
    sync()
    first_step_s = time.time() - start
    for _ in range(a.warmup_steps - 1):  # CUDA-graph capture, cuDNN autotuning
        step()
    sync()
    warmup_s = time.time() - start
    print(json.dumps({"row": name, "event": "warm-up", "warmup_s": warmup_s, "first_step_s": first_step_s,
                      "steps": a.warmup_steps, "compile": settings["compile"]}), flush=True)
    steps = math.ceil(a.timed_images / batch)
    start = time.time()
    for _ in range(steps):
        last = step()
    sync()
    secs = time.time() - start
    if a.profile_steps and name in PROFILED:
        try:  # a profile that fails costs the row nothing: its own line says why
            profile_steps(name, step, sync, dev, a)
        except Exception as e:
            traceback.print_exc()
            print(json.dumps({"row": name, "event": "profile", "status": "failed",
                              "reason": f"{type(e).__name__}: {e}".splitlines()[0]}), flush=True)
    loss_first, loss_last = first.item(), last.item()
    if not math.isfinite(loss_last):
        raise FloatingPointError(f"loss {loss_last} after {steps} timed steps")
    return {**settings, "status": "ok", "warmup_s": warmup_s, "first_step_s": first_step_s,
            "images": steps * batch, "steps": steps,
            "seconds": secs, "images_per_s": steps * batch / secs, "loss_first": loss_first,
            "loss_last": loss_last}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=",".join(ROWS), help="comma-separated, from: " + ", ".join(ROWS))
    ap.add_argument("--resize", type=int, default=224)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--warmup-steps", type=int, default=30, help="untimed steps first (compile time is here)")
    ap.add_argument("--timed-images", type=int, default=60000, help="images in the timed window (whole batches)")
    ap.add_argument("--compile-mode", default="reduce-overhead", choices=["reduce-overhead", "max-autotune"],
                    help="torch.compile mode; both capture CUDA graphs")
    ap.add_argument("--workers", type=int, default=8, help="DataLoader workers (seed-dataloader)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--data", default=os.environ.get("NIN_DATA", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--train-limit", type=int, default=0, help="draw from the first N training images; 0 = all")
    ap.add_argument("--profile-steps", type=int, default=0,
                    help=f"steps to profile after the timed window of {', '.join(PROFILED)}; 0 = none")
    ap.add_argument("--profile-dir", default=".", help="where the profiles (<row>.md) go")
    a = ap.parse_args()
    rows = [r for r in a.rows.split(",") if r]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        ap.error(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    if a.warmup_steps < 1:
        ap.error("--warmup-steps must be at least 1")
    if a.profile_steps < 0:
        ap.error("--profile-steps must be at least 0")
    dev = torch.device(a.device)
    torch.backends.cudnn.benchmark = True
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        root = torchvision_root(a.data, tmp) if "seed-dataloader" in rows else None
        for name in rows:
            try:
                result = run_row(name, a, dev, root)
            except Exception as e:  # the next row still runs; the report says why this one did not
                traceback.print_exc()
                result = {"row": name, "status": "failed", "reason": f"{type(e).__name__}: {e}".splitlines()[0]}
                failed = True
            print(json.dumps(result), flush=True)
            if hasattr(torch, "_dynamo"):
                torch._dynamo.reset()  # frees the compiled graphs before the next row
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
