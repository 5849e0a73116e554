#!/usr/bin/python3
"""Compute-bound limit of one rank in PyTorch (reference for bench_compute_bound, the LibTorch one).

Forward, backward and SGD step of the seed's NiN (from ddp_baseline.py) on one in-memory
batch: no data loading, no communication. Prints one JSON line; exits 1 when a check
fails (non-finite loss, parameters that did not move, a parameter without a gradient).
Usage: /usr/bin/python3 bench/compute_bound.py [--batch 64] [--resize 96] [--threads 1]
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ddp_baseline import nin  # noqa: E402  the same model as the DDP baseline


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=64, help="images per step (one rank's share)")
    p.add_argument("--resize", type=int, default=96, help="pixels, square")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--grads", choices=["none", "zero"], default="none",
                   help="between steps: drop the gradients (set_to_none) or zero-fill them")
    return p.parse_args()


def synthetic_batch(batch, resize):
    """As nin-dist's make_batch: uint8 pixels scaled to [0, 1], resized bilinearly; labels."""
    pixels = torch.randint(0, 256, (batch, 1, 28, 28), dtype=torch.uint8)
    x = F.interpolate(pixels.float() / 255, size=(resize, resize), mode="bilinear", align_corners=False)
    y = torch.randint(0, 10, (batch,))
    return x, y


def run_steps(model, opt, x, y, args):
    """The warm-up steps, then the timed ones: (every step's loss, timed steps' seconds, wall
    seconds, CPU seconds, the checks' failures)."""
    losses, step_s = [], []

    def step():
        opt.zero_grad(set_to_none=args.grads == "none")
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    for _ in range(args.warmup):
        step()
    before = sum(p.double().sum().item() for p in model.parameters())
    cpu_start, start = time.process_time(), time.perf_counter()
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        step_s.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start  # beside the wall clock, on a shared machine
    after = sum(p.double().sum().item() for p in model.parameters())

    failures = []
    if not all(math.isfinite(v) for v in losses):
        failures.append("non-finite loss")
    failures += [f"no gradient for {n}" for n, p in model.named_parameters() if p.grad is None]
    if not (math.isfinite(after) and after != before):
        failures.append("SGD did not move the parameters")
    return losses, step_s, elapsed, cpu_s, failures


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    model = nin()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    x, y = synthetic_batch(args.batch, args.resize)
    losses, step_s, elapsed, cpu_s, failures = run_steps(model, opt, x, y, args)
    step_s.sort()
    result = {"bench": "compute_bound", "impl": "pytorch", "torch": torch.__version__, "batch": args.batch,
              "resize": args.resize, "threads": torch.get_num_threads(), "grads": args.grads, "warmup_steps": args.warmup,
              "steps": args.steps, "elapsed_s": round(elapsed, 3),
              "images_per_s": round(args.batch * args.steps / elapsed, 2),
              "cpu_s": round(cpu_s, 3), "images_per_cpu_s": round(args.batch * args.steps / cpu_s, 2),
              "step_s_median": round(step_s[len(step_s) // 2], 4), "step_s_min": round(step_s[0], 4),
              "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
              "checks": "; ".join(failures) or "ok"}
    print(json.dumps(result), flush=True)
    if failures:
        print("compute_bound.py: FAILED: " + "; ".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
