#!/usr/bin/env python3
"""Held-out selection for the quality work: the images `vqz train` holds out, and BD-rates between
two `vqz bench` runs on them.

Every architecture, λ and stage-count choice is made on the training images that `vqz train` keeps
for validation (every 25th file by sorted name, starting with the first: `ImageDataset.load`,
`holdOutEvery: 25`), never on Kodak.

    python3 tools/heldout_rd.py link ../shared/data/train /tmp/heldout      # symlinks, 10 images
    vqz bench --images /tmp/heldout --models BASE --against none --priors none -o /tmp/hb
    vqz bench --images /tmp/heldout --models NEW  --against none --priors none -o /tmp/hn
    python3 tools/heldout_rd.py bd /tmp/hb/per-image.csv /tmp/hn/per-image.csv

`bd` prints, for each codec of the second file against the first file's (or `--base CODEC`), the
Bjontegaard delta rate (PSNR, cubic fit of log-rate against PSNR, integrated over the common PSNR
range): the mean over images of each image's BD-rate, and the BD-rate of the pooled curves (mean
bpp and mean PSNR per setting, as `rd.csv` reports). Negative: fewer bits at equal PSNR. Pure
Python, no NumPy.
"""

import argparse
import csv
import math
import os
import sys
from collections import defaultdict

HOLD_OUT_EVERY = 25


def held_out_names(directory):
    """The file names `vqz train` validates on: every 25th PNG by sorted name, from the first."""
    names = sorted(n for n in os.listdir(directory) if n.lower().endswith(".png"))
    return [n for i, n in enumerate(names) if i % HOLD_OUT_EVERY == 0]


def _solve(a, b):
    """Solves the small dense system a·x = b (Gaussian elimination with partial pivoting)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        if abs(m[p][c]) < 1e-300:
            raise ValueError("singular fit (repeated PSNR values?)")
        m[c], m[p] = m[p], m[c]
        for r in range(c + 1, n):
            f = m[r][c] / m[c][c]
            for k in range(c, n + 1):
                m[r][k] -= f * m[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][k] * x[k] for k in range(r + 1, n))) / m[r][r]
    return x


def _polyfit(xs, ys, degree):
    """Least-squares polynomial coefficients, lowest power first."""
    n = degree + 1
    a = [[sum(x ** (i + j) for x in xs) for j in range(n)] for i in range(n)]
    b = [sum(y * x ** i for x, y in zip(xs, ys)) for i in range(n)]
    return _solve(a, b)


def _integral(coefficients, lo, hi):
    return sum(c / (i + 1) * (hi ** (i + 1) - lo ** (i + 1)) for i, c in enumerate(coefficients))


def bd_rate(anchor, test):
    """Bjontegaard delta rate in percent of `test` against `anchor`, each a list of (bpp, psnr)
    points; None when the PSNR ranges do not overlap or a curve has fewer than 4 points (the
    cubic needs 4; with fewer, a fit of degree points − 1)."""
    if len(anchor) < 2 or len(test) < 2:
        return None
    pa, ra = [p for _, p in anchor], [math.log(r) for r, _ in anchor]
    pt, rt = [p for _, p in test], [math.log(r) for r, _ in test]
    lo, hi = max(min(pa), min(pt)), min(max(pa), max(pt))
    if hi <= lo:
        return None
    # The PSNR axis is centred to keep the normal equations well conditioned.
    centre = (lo + hi) / 2
    fa = _polyfit([p - centre for p in pa], ra, min(3, len(anchor) - 1))
    ft = _polyfit([p - centre for p in pt], rt, min(3, len(test) - 1))
    mean = (_integral(ft, lo - centre, hi - centre) - _integral(fa, lo - centre, hi - centre)) / (hi - lo)
    return (math.exp(mean) - 1) * 100


def read_per_image(path):
    """{codec: {image: [(bpp, psnr), …]}} from a `vqz bench` per-image.csv, plus the settings order."""
    curves = defaultdict(lambda: defaultdict(list))
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            curves[row["codec"]][row["image"]].append((float(row["bpp"]), float(row["psnr"]), row["setting"]))
    return curves


def pooled(per_image):
    """Mean bpp and mean PSNR per setting over the images that have it (as rd.csv)."""
    by_setting = defaultdict(list)
    for points in per_image.values():
        for bpp, psnr, setting in points:
            by_setting[setting].append((bpp, psnr))
    return [(sum(b for b, _ in v) / len(v), sum(p for _, p in v) / len(v)) for v in by_setting.values()]


def compare(base, other):
    """(mean of per-image BD-rates, pooled BD-rate, images compared)."""
    values = []
    for image, points in base.items():
        if image in other:
            v = bd_rate([(b, p) for b, p, _ in points], [(b, p) for b, p, _ in other[image]])
            if v is not None:
                values.append(v)
    mean = sum(values) / len(values) if values else None
    return mean, bd_rate(pooled(base), pooled(other)), len(values)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    link = sub.add_parser("link", help="symlink the held-out training images into a folder")
    link.add_argument("train")
    link.add_argument("folder")
    bd = sub.add_parser("bd", help="BD-rates of the codecs in OTHER against BASE (vqz bench per-image.csv files)")
    bd.add_argument("base")
    bd.add_argument("other")
    bd.add_argument("--base-codec", help="the anchor codec in BASE (default: its only or first codec)")
    args = parser.parse_args(argv)

    if args.command == "link":
        os.makedirs(args.folder, exist_ok=True)
        for name in held_out_names(args.train):
            target = os.path.join(args.folder, name)
            if not os.path.lexists(target):
                os.symlink(os.path.abspath(os.path.join(args.train, name)), target)
            print(target)
        return 0

    base_curves, other_curves = read_per_image(args.base), read_per_image(args.other)
    if not base_curves:
        print(f"{args.base}: no rows", file=sys.stderr)
        return 1
    anchor = args.base_codec or next(iter(base_curves))
    if anchor not in base_curves:
        print(f"{args.base}: no codec {anchor}", file=sys.stderr)
        return 1
    print(f"anchor: {anchor} ({args.base})")
    for codec, per_image in other_curves.items():
        if codec == anchor and args.base == args.other:
            continue
        mean, pool, n = compare(base_curves[anchor], per_image)
        fmt = lambda v: "n/a" if v is None else f"{v:+.2f} %"
        print(f"{codec}: per-image mean {fmt(mean)} over {n} images, pooled {fmt(pool)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
