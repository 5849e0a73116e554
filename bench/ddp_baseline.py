#!/usr/bin/python3
"""PyTorch DDP baseline for nin-dist: the seed's NiN and input pipeline, gloo over loopback.

Runs N processes on this machine (torch.multiprocessing, no torchrun), each with
cores // N intra-op threads, trains the seed's NiN on FashionMNIST (torchvision reading
the local IDX files, Resize per image + ToTensor, DistributedSampler) and measures
images/s over --steps steps after --warmup steps, plus peak RSS per rank. Prints one
JSON line; exits nonzero when a check fails: world size, identical replicas after the last
step, a finite loss that does not rise by more than --loss-tol from the first quarter of
the steps to the last (at the seed's lr 0.05 NiN sits near ln 10 = 2.3026 for its first
hundreds of steps, so a strict fall over a few dozen steps is luck, not a check).

Needs Debian's /usr/bin/python3 (torch 1.13 + torchvision 0.14), not the pyenv one.
Usage: /usr/bin/python3 bench/ddp_baseline.py --ranks 2 --batch 128 --steps 24
"""
import argparse
import gzip
import json
import math
import os
import resource
import shutil
import socket
import sys
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Subset
from torch.utils.data.distributed import DistributedSampler
from torchvision import datasets, transforms

IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


# The seed's model (d2l NiN chapter), with explicit input channels instead of LazyConv2d.
def nin_block(in_channels, out_channels, kernel_size, strides, padding):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())


def nin(num_classes=10, dropout=0.5):
    net = nn.Sequential(
        nin_block(1, 96, kernel_size=11, strides=4, padding=0), nn.MaxPool2d(3, stride=2),
        nin_block(96, 256, kernel_size=5, strides=1, padding=2), nn.MaxPool2d(3, stride=2),
        nin_block(256, 384, kernel_size=3, strides=1, padding=1), nn.MaxPool2d(3, stride=2),
        nn.Dropout(dropout),
        nin_block(384, num_classes, kernel_size=3, strides=1, padding=1),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
    for m in net.modules():  # d2l.init_cnn: Xavier-uniform conv weights, default biases
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
    return net


def prepare_root(data_dir, root):
    """torchvision wants root/FashionMNIST/raw/<file> uncompressed: gunzip the local IDX files."""
    raw = os.path.join(root, "FashionMNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for name in IDX_FILES:
        src = os.path.join(data_dir, name)
        if os.path.exists(src):
            os.symlink(src, os.path.join(raw, name))
        else:
            with gzip.open(src + ".gz", "rb") as fin, open(os.path.join(raw, name), "wb") as fout:
                shutil.copyfileobj(fin, fout)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank, args, root, port, out_path):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", rank=rank, world_size=args.ranks)
    world = dist.get_world_size()
    torch.manual_seed(args.seed)

    tf = transforms.Compose([transforms.Resize(args.resize), transforms.ToTensor()])
    train = datasets.FashionMNIST(root, train=True, transform=tf, download=False)
    if args.train_limit:
        train = Subset(train, range(min(args.train_limit, len(train))))
    sampler = DistributedSampler(train, num_replicas=world, rank=rank, shuffle=True, seed=args.seed,
                                 drop_last=True)
    local_batch = args.batch // world
    loader = DataLoader(train, batch_size=local_batch, sampler=sampler, num_workers=args.workers,
                        drop_last=True, persistent_workers=args.workers > 0)

    model = DDP(nin(dropout=args.dropout))  # broadcasts rank 0's weights
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    total = args.warmup + args.steps
    losses, step, epoch, start = [], 0, 0, None
    while step < total:
        sampler.set_epoch(epoch)
        for x, y in loader:
            if step == args.warmup:
                dist.barrier()
                start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()  # DDP allreduces gradient buckets during backward
            opt.step()
            losses.append(loss.item())
            step += 1
            if step == total:
                break
        epoch += 1
    dist.barrier()
    elapsed = time.perf_counter() - start

    # One gather at the end: mean loss per step over ranks, peak RSS per rank (KiB on Linux).
    mean_losses = torch.tensor(losses, dtype=torch.float64)
    dist.all_reduce(mean_losses)
    mean_losses /= world
    # Replicas must agree bit for bit: DDP averages the same gradients on every rank.
    with torch.no_grad():
        flat = torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])
    mine = torch.stack([flat.sum(), flat.square().sum()])
    sums = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(sums, mine)
    replicas_equal = all(torch.equal(s, sums[0]) for s in sums)
    rss = torch.zeros(world, dtype=torch.float64)
    rss[rank] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    dist.all_reduce(rss)
    if rank == 0:
        with open(out_path, "w") as f:
            json.dump({"world_size": world, "losses": mean_losses.tolist(), "elapsed_s": elapsed,
                       "rss_mb": rss.tolist(), "local_batch": local_batch,
                       "replicas_equal": replicas_equal}, f)
    dist.destroy_process_group()


def main():
    cores = len(os.sched_getaffinity(0))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--batch", type=int, default=128, help="global batch, split over the ranks")
    p.add_argument("--resize", type=int, default=96, help="pixels, square")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--warmup", type=int, default=4, help="steps before the clock starts")
    p.add_argument("--steps", type=int, default=24, help="timed steps")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes per rank")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads per rank; 0 = cores // ranks")
    p.add_argument("--train-limit", type=int, default=0, help="first N training images; 0 = all")
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--loss-tol", type=float, default=0.02,
                   help="largest allowed rise of the mean loss from the first to the last quarter")
    p.add_argument("--no-check-loss", action="store_true", help="skip the loss-trend check (tiny runs)")
    args = p.parse_args()
    if args.batch % args.ranks:
        sys.exit(f"ddp_baseline: --batch {args.batch} does not split over {args.ranks} ranks")
    args.threads = args.threads or max(1, cores // args.ranks)

    with tempfile.TemporaryDirectory(prefix="ddp-baseline-") as root:
        prepare_root(args.data_dir, root)
        out_path = os.path.join(root, "result.json")
        mp.spawn(worker, args=(args, root, free_port(), out_path), nprocs=args.ranks, join=True)
        with open(out_path) as f:
            r = json.load(f)

    losses = r["losses"]
    k = max(1, len(losses) // 4)  # compare the first and last quarter: single steps are noisy
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    result = {
        "bench": "ddp_baseline", "trainer": "pytorch-ddp-gloo", "torch": torch.__version__,
        "world_size": r["world_size"], "threads_per_rank": args.threads, "workers": args.workers,
        "global_batch": args.batch, "local_batch": r["local_batch"], "resize": args.resize,
        "warmup_steps": args.warmup, "steps": args.steps, "elapsed_s": round(r["elapsed_s"], 3),
        "images_per_s": round(args.steps * args.batch / r["elapsed_s"], 2),
        "loss_first": round(first, 4), "loss_last": round(last, 4), "loss_falls": last < first,
        "replicas_equal": r["replicas_equal"],
        "rss_mb_per_rank": [round(v, 1) for v in r["rss_mb"]], "rss_mb_max": round(max(r["rss_mb"]), 1),
    }
    failures = []
    if r["world_size"] != args.ranks:
        failures.append(f"world size {r['world_size']}, asked for {args.ranks}")
    if not r["replicas_equal"]:
        failures.append("replicas differ after training (parameter checksums)")
    if not all(math.isfinite(v) for v in losses):
        failures.append("non-finite loss")
    elif not args.no_check_loss and last > first + args.loss_tol:
        failures.append(f"loss rose: first-quarter mean {first:.4f}, last-quarter mean {last:.4f}")
    result["checks"] = "ok" if not failures else "; ".join(failures)
    print(json.dumps(result), flush=True)
    if failures:
        print("ddp_baseline: FAILED: " + "; ".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
