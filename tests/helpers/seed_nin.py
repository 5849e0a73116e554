"""The seed's NiN (d2l, "Network in Network") in plain PyTorch, for interoperability tests.

Same layout and state-dict keys as the notebook (net.0.0.weight, ...), with nn.Conv2d in
place of nn.LazyConv2d: the input channels are known, so the model is built eagerly.
"""
import gzip

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530  # FashionMNIST train set, as nin-dist's data.normalize


def nin_block(in_channels, out_channels, kernel_size, strides, padding):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())


class NiN(nn.Module):
    def __init__(self, num_classes=10, in_channels=1, dropout=0.5):
        super().__init__()
        self.net = nn.Sequential(
            nin_block(in_channels, 96, kernel_size=11, strides=4, padding=0),
            nn.MaxPool2d(3, stride=2),
            nin_block(96, 256, kernel_size=5, strides=1, padding=2),
            nn.MaxPool2d(3, stride=2),
            nin_block(256, 384, kernel_size=3, strides=1, padding=1),
            nn.MaxPool2d(3, stride=2),
            nn.Dropout(dropout),
            nin_block(384, num_classes, kernel_size=3, strides=1, padding=1),
            nn.AdaptiveAvgPool2d(output_size=(1, 1)),
            nn.Flatten())

    def forward(self, x):
        return self.net(x)


def read_idx_images(path, begin, end):
    """Images [begin, end) of an IDX3 file (optionally gzipped) as a uint8 array [N, H, W]."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    magic, count, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    assert magic == 0x00000803, f"{path}: not an IDX3 uint8 file"
    assert 0 <= begin < end <= count, f"range {begin}:{end} outside 0:{count}"
    pixels = np.frombuffer(raw[16:], dtype=np.uint8).reshape(count, rows, cols)
    return pixels[begin:end].copy()


def preprocess(images, resize, normalize):
    """nin-dist's make_batch: x/255, optional (x-mean)/std, bilinear resize (align_corners=False).

    Normalising before the resize is what nin-dist does (bilinear weights sum to one, so the
    order does not change the result beyond rounding); we follow it to compare at 1e-5.
    """
    x = torch.from_numpy(images).to(torch.float32).div_(255.0).unsqueeze(1)
    if normalize:
        x = x.sub_(MEAN).div_(STD)
    if x.shape[2] != resize or x.shape[3] != resize:
        x = F.interpolate(x, size=(resize, resize), mode="bilinear", align_corners=False)
    return x


def parse_logits(text):
    """Logit rows from `nin-dist predict --logits` output: lines `LABEL: logits v0 v1 ...`."""
    rows = []
    for line in text.splitlines():
        if ": logits " in line:
            rows.append([float(v) for v in line.split(": logits ", 1)[1].split()])
    return torch.tensor(rows, dtype=torch.float64)


def relative_error(got, want):
    """max |got - want| over the batch, relative to the largest |want| of the same image."""
    scale = want.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
    return float(((got - want).abs() / scale).max())
