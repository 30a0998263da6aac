#!/usr/bin/env python3
"""Whole-process encode time with and without the encoder's refinement sweep.

usage: python3 tools/time_refine.py MODEL LEVEL IMAGE.png [N]

Runs `vqz encode IMAGE -m MODEL -q LEVEL --refine 0` and `--refine 1` alternately N times (default 7)
and prints each one's median and minimum wall time and file size. The binary is $VQZ_BIN or
.build/release/vqz; OPENBLAS_CORETYPE is unset for the runs (see docs/design/rd.md). Time nothing
else on the machine while it runs.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main(argv):
    if len(argv) not in (4, 5):
        sys.exit(__doc__.strip().splitlines()[2])
    model, level, image = argv[1], argv[2], argv[3]
    n = int(argv[4]) if len(argv) == 5 else 7
    vqz = os.environ.get("VQZ_BIN", ".build/release/vqz")
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    times = {0: [], 1: []}
    with tempfile.TemporaryDirectory() as tmp:
        out = {r: os.path.join(tmp, f"refine{r}.vqz") for r in times}
        for _ in range(n):
            for r in times:
                start = time.perf_counter()
                subprocess.run([vqz, "encode", image, "-m", model, "-q", level, "--refine", str(r),
                                "-o", out[r], "-f", "-s"], env=env, check=True)
                times[r].append(time.perf_counter() - start)
        for r, t in times.items():
            print(f"{model} level {level} --refine {r}: median {statistics.median(t) * 1000:.0f} ms, "
                  f"min {min(t) * 1000:.0f} ms, {os.path.getsize(out[r])} bytes")


if __name__ == "__main__":
    main(sys.argv)
