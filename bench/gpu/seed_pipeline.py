"""PyTorch baselines for the GPU benchmark: the seed's NiN and pipeline, timed per epoch.

--pipeline seed: torchvision Resize per image in a DataLoader with worker processes (d2l's way).
--pipeline gpu-resize: uint8 tensors on the GPU, batch gathered and resized there.
Prints one JSON line per epoch: epoch time, images/s, test accuracy.
"""
import argparse, gzip, json, os, tempfile, time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"


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


def idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return torch.from_numpy(np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims).copy())


def seed_loader(train, batch, resize, workers):
    import torchvision
    from torchvision import transforms
    root = tempfile.mkdtemp()
    raw = os.path.join(root, "FashionMNIST", "raw")
    os.makedirs(raw)
    for f in os.listdir(DATA):
        os.symlink(os.path.join(DATA, f), os.path.join(raw, f))
        os.symlink(os.path.join(DATA, f), os.path.join(raw, f[:-3]))  # torchvision reads the raw names
    ds = torchvision.datasets.FashionMNIST(root, train=train, download=False,
                                           transform=transforms.Compose([transforms.Resize(resize),
                                                                         transforms.ToTensor()]))
    return torch.utils.data.DataLoader(ds, batch, shuffle=train, num_workers=workers,
                                       pin_memory=True, persistent_workers=workers > 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipeline", choices=["seed", "gpu-resize"], default="seed")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--resize", type=int, default=224)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    dev = torch.device("cuda")
    torch.manual_seed(42)
    torch.backends.cudnn.benchmark = True
    model = seed_nin().to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    if a.pipeline == "seed":
        train, test = seed_loader(True, a.batch, a.resize, a.workers), seed_loader(False, 256, a.resize, a.workers)
    else:
        tx, ty = idx("train-images-idx3-ubyte.gz").to(dev), idx("train-labels-idx1-ubyte.gz").long().to(dev)
        vx, vy = idx("t10k-images-idx3-ubyte.gz").to(dev), idx("t10k-labels-idx1-ubyte.gz").long().to(dev)

        def batches(x, y, bs, shuffle):
            order = torch.randperm(len(y), device=dev) if shuffle else torch.arange(len(y), device=dev)
            for i in range(0, len(y), bs):
                j = order[i:i + bs]
                xb = F.interpolate(x[j].unsqueeze(1).float() / 255, size=(a.resize, a.resize),
                                   mode="bilinear", align_corners=False)
                yield xb, y[j]
        train = lambda: batches(tx, ty, a.batch, True)  # noqa: E731
        test = lambda: batches(vx, vy, 256, False)  # noqa: E731
    for epoch in range(1, a.epochs + 1):
        model.train()
        torch.cuda.synchronize()
        start, seen = time.time(), 0
        for x, y in (train if a.pipeline == "seed" else train()):
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.bf16):
                loss = F.cross_entropy(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(y)
        torch.cuda.synchronize()
        secs = time.time() - start
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in (test if a.pipeline == "seed" else test()):
                x, y = x.to(dev), y.to(dev)
                correct += (model(x).argmax(1) == y).sum().item()
                total += len(y)
        print(json.dumps({"pipeline": a.pipeline, "bf16": a.bf16, "epoch": epoch, "epoch_s": secs,
                          "images_per_s": seen / secs, "test_acc": correct / total,
                          "loss": loss.item()}), flush=True)


if __name__ == "__main__":
    main()
