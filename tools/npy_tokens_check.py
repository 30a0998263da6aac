#!/usr/bin/env python3
"""The NumPy side of `vqz tokens`: load a token grid written by vqz, check it, and write it back.

    python3 tools/npy_tokens_check.py GRID.npy STAGES HEIGHT WIDTH OUT.npy

Checks that numpy.load reads GRID.npy as uint16 of shape (STAGES, HEIGHT, WIDTH), C order, then
saves the same values as int64 (another dtype vqz decode must accept) to OUT.npy. Prints one line.
Exits 1 with a message when a check fails.
"""
import sys

import numpy as np


def main() -> int:
    path, stages, height, width, out = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
    grid = np.load(path, allow_pickle=False)
    if grid.dtype != np.uint16:
        print(f"dtype is {grid.dtype}, expected uint16")
        return 1
    if grid.shape != (stages, height, width):
        print(f"shape is {grid.shape}, expected {(stages, height, width)}")
        return 1
    if not grid.flags["C_CONTIGUOUS"]:
        print("not C-ordered")
        return 1
    np.save(out, grid.astype(np.int64), allow_pickle=False)
    print(f"ok {grid.shape} {grid.dtype} max {int(grid.max())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
