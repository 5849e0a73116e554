"""Saves a seed NiN with random weights the ways a PyTorch user would, for `nin-dist import`.

  /usr/bin/python3 tests/helpers/make_state_dict.py OUT_DIR [--num-classes 10] [--seed 0]

writes OUT_DIR/ordered.pt  torch.save(model.state_dict(), p)        (OrderedDict + _metadata)
       OUT_DIR/plain.pt    torch.save(dict(model.state_dict()), p)  (a plain dict)
       OUT_DIR/legacy.pt   the same dict in the pre-1.6 (non-zip) format
"""
import argparse
import os
import sys

import torch
from torch import nn

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_nin  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    model = seed_nin.NiN(num_classes=args.num_classes)
    for m in model.modules():  # d2l.init_cnn: Xavier-uniform conv weights
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
    os.makedirs(args.out_dir, exist_ok=True)
    state = model.state_dict()
    torch.save(state, os.path.join(args.out_dir, "ordered.pt"))
    torch.save(dict(state), os.path.join(args.out_dir, "plain.pt"))
    torch.save(dict(state), os.path.join(args.out_dir, "legacy.pt"), _use_new_zipfile_serialization=False)
    print(f"make_state_dict: {len(state)} tensors, num_classes {args.num_classes}, in {args.out_dir}")


if __name__ == "__main__":
    main()
