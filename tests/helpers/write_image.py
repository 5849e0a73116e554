"""Writes one FashionMNIST test image as PGM or PNG, for `nin-dist predict` tests.

  /usr/bin/python3 tests/helpers/write_image.py INDEX OUT.pgm|OUT.png [--mode gray|rgb|rgba|gray16|palette]
      [--scale K] [--images IDX]

PNGs are encoded here with zlib (no imaging library): every mode stores the same gray
levels (RGB with R = G = B, 16-bit as v * 257, a 256-entry gray palette), so a reader that
converts to 8-bit gray exactly recovers the original pixels. --scale K repeats each pixel
K x K times (a larger image, which nin-dist resizes like any other).
"""
import argparse
import os
import struct
import sys
import zlib

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_nin  # noqa: E402


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(gray, mode):
    """PNG bytes of a uint8 [H, W] image stored in `mode`."""
    h, w = gray.shape
    plte = b""
    if mode == "gray":
        depth, color, pixels = 8, 0, gray
    elif mode == "gray16":
        depth, color, pixels = 16, 0, (gray.astype(">u2") * 257)
    elif mode == "rgb":
        depth, color, pixels = 8, 2, np.repeat(gray[:, :, None], 3, axis=2)
    elif mode == "rgba":
        depth, color, pixels = 8, 6, np.concatenate([np.repeat(gray[:, :, None], 3, axis=2),
                                                     np.full((h, w, 1), 255, np.uint8)], axis=2)
    elif mode == "palette":
        depth, color, pixels = 8, 3, gray
        plte = png_chunk(b"PLTE", bytes(np.repeat(np.arange(256, dtype=np.uint8), 3)))
    else:
        raise ValueError(mode)
    rows = pixels.reshape(h, -1).view(np.uint8).reshape(h, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + plte +
            png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index", type=int)
    parser.add_argument("out")
    parser.add_argument("--mode", default="gray", choices=["gray", "rgb", "rgba", "gray16", "palette"])
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--images", default=seed_nin.FASHION_MNIST + "/t10k-images-idx3-ubyte.gz")
    args = parser.parse_args()

    gray = seed_nin.read_idx_images(args.images, args.index, args.index + 1)[0]
    gray = np.kron(gray, np.ones((args.scale, args.scale), np.uint8))
    with open(args.out, "wb") as f:
        if args.out.endswith(".pgm"):
            f.write(b"P5\n# FashionMNIST test image %d\n%d %d\n255\n" % (args.index, gray.shape[1], gray.shape[0]))
            f.write(gray.tobytes())
        else:
            f.write(encode_png(gray, args.mode))


if __name__ == "__main__":
    main()
