#!/usr/bin/env python3
"""Choose the encoder's token-choice λ per level of a VQ model from a `vqz bench` run.

Run `vqz bench --images <held-out training images> --models <model exported with λ = 0>
--lambdas 0.02,0.05,0.1 --against none -o DIR`, then `tools/pick_lambdas.py DIR/rd.csv MODEL-KEY`.
For each level, every λ curve's point is compared with the λ = 0 curve *at the same rate*
(PSNR of the λ = 0 curve interpolated linearly in bpp); the λ whose point lies highest above
it wins, λ = 0 when none is above. The top level keeps λ = 0 unless told otherwise
(`--top-lambda`): it is there for the highest quality, not the best slope.

Prints the comma-separated list for `vqz train --resume … --lambdas` and a table of the gains.
Never run it on Kodak: λ is chosen on held-out training images (docs/design/rd.md).
"""
import csv
import sys
from collections import defaultdict


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: pick_lambdas.py RD_CSV MODEL_KEY [--top-lambda]", file=sys.stderr)
        return 1
    path, key = argv[1], argv[2]
    top_lambda = "--top-lambda" in argv[3:]
    curves = defaultdict(dict)  # curve key -> level -> (bpp, psnr)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            c = row["codec"]
            if c == key or c.startswith(key + "-lambda"):  # keys: vqz-<model>[-lambda<λ>]
                lam = 0.0 if c == key else float(c[len(key) + len("-lambda"):])
                curves[lam][int(row["setting"].split()[-1])] = (float(row["bpp"]), float(row["psnr"]))
    if 0.0 not in curves:
        print(f"{path}: no curve named {key}", file=sys.stderr)
        return 1
    base = sorted(curves[0.0].values())

    def base_psnr(bpp):
        if bpp <= base[0][0]:
            (b0, p0), (b1, p1) = base[0], base[1]
        elif bpp >= base[-1][0]:
            (b0, p0), (b1, p1) = base[-2], base[-1]
        else:
            i = next(i for i in range(1, len(base)) if base[i][0] >= bpp)
            (b0, p0), (b1, p1) = base[i - 1], base[i]
        return p0 + (p1 - p0) * (bpp - b0) / (b1 - b0)

    levels = sorted(curves[0.0])
    chosen = []
    print("level  λ      bpp     PSNR    gain at equal rate (dB)")
    for level in levels:
        best, gain = 0.0, 0.0
        if level != levels[-1] or top_lambda:
            for lam, pts in sorted(curves.items()):
                if lam == 0.0 or level not in pts:
                    continue
                bpp, psnr = pts[level]
                g = psnr - base_psnr(bpp)
                if g > gain:
                    best, gain = lam, g
        bpp, psnr = curves[best][level]
        print(f"{level:5d}  {best:<5g}  {bpp:.4f}  {psnr:.2f}   {gain:+.3f}")
        chosen.append(best)
    print(",".join(f"{x:g}" for x in chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
