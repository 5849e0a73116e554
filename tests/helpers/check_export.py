"""Checks that a state dict runs in the seed's PyTorch NiN exactly as nin-dist runs it.

Loads STATE_DICT (torch.load, strict load_state_dict), preprocesses IDX images as nin-dist
does, and compares the eval-mode logits with those `nin-dist predict --logits` printed:

  nin-dist predict --checkpoint C --logits IMAGES.idx.gz --range 0:16 > logits.txt
  /usr/bin/python3 tests/helpers/check_export.py model.pt logits.txt --range 0:16

The preprocessing (data.resize, data.normalize) and the model's shape come from the
`# nin-dist` header line that --logits prints, so the checkpoint's config is used.
Exit 0 when the largest relative error is within --tol, 1 otherwise.
"""
import argparse
import os
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_nin  # noqa: E402


def read_header(text):
    """`# nin-dist resize=67 normalize=1 num_classes=10 in_channels=1` -> dict of ints."""
    for line in text.splitlines():
        if line.startswith("# nin-dist "):
            return {k: int(v) for k, v in (item.split("=") for item in line.split()[2:])}
    sys.exit("check_export: no '# nin-dist' header line in the logits output")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("state_dict", help="file for torch.load (nin-dist export, or torch.save in Python)")
    parser.add_argument("logits", help="output of nin-dist predict --logits")
    parser.add_argument("--images", default=seed_nin.FASHION_MNIST + "/t10k-images-idx3-ubyte.gz")
    parser.add_argument("--range", default="0:16", help="IDX entries BEGIN:END, as given to nin-dist")
    parser.add_argument("--tol", type=float, default=1e-5, help="largest relative error allowed")
    args = parser.parse_args()

    with open(args.logits) as f:
        text = f.read()
    header = read_header(text)
    got = seed_nin.parse_logits(text)

    state = torch.load(args.state_dict, map_location="cpu")
    model = seed_nin.NiN(num_classes=header["num_classes"], in_channels=header["in_channels"])
    model.load_state_dict(state, strict=True)  # raises on a missing, extra or misshapen key
    model.eval()

    begin, end = (int(v) for v in args.range.split(":"))
    images = seed_nin.read_idx_images(args.images, begin, end)
    x = seed_nin.preprocess(images, header["resize"], bool(header["normalize"]))
    torch.set_num_threads(1)
    with torch.no_grad():
        want = model(x).to(torch.float64)

    if got.shape != want.shape:
        sys.exit(f"check_export: nin-dist printed logits of shape {tuple(got.shape)}, "
                 f"PyTorch computed {tuple(want.shape)}")
    if float(want.abs().max()) == 0.0:
        sys.exit("check_export: every logit is zero; the comparison would prove nothing")
    err = seed_nin.relative_error(got, want)
    same_class = bool((got.argmax(1) == want.argmax(1)).all())
    print(f"check_export: {len(want)} images, {len(state)} tensors, max relative error {err:.3g} "
          f"(tolerance {args.tol:g}), same predicted classes: {same_class}")
    return 0 if err <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
