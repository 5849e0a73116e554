"""PyTorch baselines for the GPU benchmark: the seed's NiN and pipeline, timed per epoch.

--pipeline seed: torchvision FashionMNIST + Resize per image in a DataLoader with worker
  processes (d2l's way).
--pipeline gpu-resize: uint8 tensors on the device, each batch gathered and resized there.
Prints one JSON line per epoch: epoch seconds, images/s, test accuracy, and the settings
(pipeline, device, precision, batch, resize) that bench/gpu/report.py puts in its table.
Works with torchvision 0.14 (Debian 12) and 0.26 (PyTorch 2.11); --device cpu with
--train-limit/--test-limit checks it on a machine without a GPU.
"""
import argparse, contextlib, gzip, json, os, tempfile, time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
GZIP_MAGIC = b"\x1f\x8b"


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
        src = idx_path(data, name)
        with open(os.path.join(raw, name), "wb") as out:
            out.write(idx_bytes(src))
    return root


def seed_loader(root, train, batch, resize, workers, limit, pin):
    import torchvision
    from torchvision import transforms
    ds = torchvision.datasets.FashionMNIST(root, train=train, download=False,
                                           transform=transforms.Compose([transforms.Resize(resize),
                                                                         transforms.ToTensor()]))
    if limit:
        ds = torch.utils.data.Subset(ds, range(min(limit, len(ds))))
    return torch.utils.data.DataLoader(ds, batch, shuffle=train, num_workers=workers,
                                       pin_memory=pin, persistent_workers=workers > 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipeline", choices=["seed", "gpu-resize"], default="seed")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--resize", type=int, default=224)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=8, help="DataLoader workers (seed pipeline)")
    ap.add_argument("--bf16", action="store_true", help="autocast to bfloat16")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--data", default=os.environ.get("NIN_DATA", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--train-limit", type=int, default=0, help="first N training images; 0 = all")
    ap.add_argument("--test-limit", type=int, default=0, help="first N test images; 0 = all")
    a = ap.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    torch.manual_seed(42)
    torch.backends.cudnn.benchmark = True
    model = seed_nin().to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    with contextlib.ExitStack() as stack:
        if a.pipeline == "seed":
            root = torchvision_root(a.data, stack.enter_context(tempfile.TemporaryDirectory()))
            train = seed_loader(root, True, a.batch, a.resize, a.workers, a.train_limit, cuda)
            test = seed_loader(root, False, 256, a.resize, a.workers, a.test_limit, cuda)
            epoch_batches, test_batches = (lambda: train), (lambda: test)
        else:
            def split(prefix, limit):
                x = idx(a.data, f"{prefix}-images-idx3-ubyte")
                y = idx(a.data, f"{prefix}-labels-idx1-ubyte").long()
                n = min(limit, len(y)) if limit else len(y)
                return x[:n].to(dev), y[:n].to(dev)
            tx, ty = split("train", a.train_limit)
            vx, vy = split("t10k", a.test_limit)

            def batches(x, y, bs, shuffle):
                order = torch.randperm(len(y), device=dev) if shuffle else torch.arange(len(y), device=dev)
                for i in range(0, len(y), bs):
                    j = order[i:i + bs]
                    xb = F.interpolate(x[j].unsqueeze(1).float() / 255, size=(a.resize, a.resize),
                                       mode="bilinear", align_corners=False)
                    yield xb, y[j]
            epoch_batches = lambda: batches(tx, ty, a.batch, True)  # noqa: E731
            test_batches = lambda: batches(vx, vy, 256, False)  # noqa: E731
        for epoch in range(1, a.epochs + 1):
            model.train()
            sync()
            start, seen = time.time(), 0
            for x, y in epoch_batches():
                x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.bf16):
                    loss = F.cross_entropy(model(x).float(), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                seen += len(y)
            sync()
            secs = time.time() - start  # training only, evaluation excluded as in nin-dist
            model.eval()
            correct = total = 0
            with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.bf16):
                for x, y in test_batches():
                    x, y = x.to(dev), y.to(dev)
                    correct += (model(x).argmax(1) == y).sum().item()
                    total += len(y)
            print(json.dumps({"pipeline": a.pipeline, "device": str(dev), "bf16": a.bf16,
                              "precision": "bf16" if a.bf16 else "fp32", "batch": a.batch,
                              "resize": a.resize, "workers": a.workers if a.pipeline == "seed" else 0,
                              "epoch": epoch, "images": seen, "epoch_s": secs,
                              "images_per_s": seen / secs, "test_acc": correct / total,
                              "loss": loss.item(), "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
