#!/usr/bin/env python3
"""Writes a synthetic photo-like RGB PNG of any size (default 6000×4000) for the memory benchmark.

Smooth colour fields, edges and fine noise, from a fixed seed: the content matters little for peak
memory, but it should not be flat (zstd would make the token stream trivially small).

    python3 tools/make_large_png.py OUT.png [--width 6000 --height 4000]
"""
import argparse
import struct
import zlib

import numpy as np


def png_bytes(rgb: np.ndarray) -> bytes:
    h, w, _ = rgb.shape
    raw = np.zeros((h, 1 + 3 * w), dtype=np.uint8)  # filter byte 0 (None) per row
    raw[:, 1:] = rgb.reshape(h, 3 * w)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b"")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--width", type=int, default=6000)
    p.add_argument("--height", type=int, default=4000)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    y, x = np.mgrid[0:a.height, 0:a.width].astype(np.float32)
    img = np.empty((a.height, a.width, 3), dtype=np.float32)
    for c in range(3):
        f = rng.uniform(0.002, 0.02, size=4)
        ph = rng.uniform(0, 6.28, size=4)
        img[..., c] = 128 + 40 * np.sin(x * f[0] + ph[0]) * np.cos(y * f[1] + ph[1]) + 30 * np.sin((x + y) * f[2] + ph[2])
        img[..., c] += 40 * (np.sin(x * f[3] + y * f[3] * 0.7 + ph[3]) > 0.6)  # hard edges
    img += rng.normal(0, 6, size=img.shape).astype(np.float32)
    with open(a.out, "wb") as fh:
        fh.write(png_bytes(np.clip(img, 0, 255).astype(np.uint8)))


if __name__ == "__main__":
    main()
