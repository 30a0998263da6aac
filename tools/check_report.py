#!/usr/bin/env python3
"""Renders `vqz bench`'s HTML report in a real headless browser (Chromium) and checks that the plot
and the crops are there: `make check-report`.

It writes 3 small PNG images, runs `vqz bench` on them with the tiny test model (JPEG and WebP when
installed), loads report.html in Chromium, and asserts from the DOM after the load event that the
inline plot has its curves and every crop image decoded (naturalWidth > 0); it also saves a
screenshot (report.png beside the report) and checks it is a real, non-blank PNG.

Usage: tools/check_report.py [VQZ] [OUTDIR]   (VQZ default .build/debug/vqz)
"""

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_png(path, width, height, seed):
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            row += bytes(((x * 4 + seed * 40) % 256, (y * 3 + x // 3) % 256, ((x * y) // 7 + seed * 13) % 256))
        rows.append(bytes(row))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def png_size_and_blankness(path):
    """(width, height, distinct byte values in a sample of the decompressed rows) of a PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    idat, i = b"", 8
    while i < len(data):
        n = struct.unpack(">I", data[i:i + 4])[0]
        if data[i + 4:i + 8] == b"IDAT":
            idat += data[i + 8:i + 8 + n]
        i += 12 + n
    raw = zlib.decompress(idat)
    return width, height, len(set(raw[::97]))


def main():
    vqz = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, ".build/debug/vqz")
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        sys.exit("check_report: no Chromium found (apt install chromium)")
    work = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="vqz-report-")
    photos = os.path.join(work, "photos")
    os.makedirs(photos, exist_ok=True)
    for i, (w, h) in enumerate([(96, 64), (64, 96), (80, 80)]):
        write_png(os.path.join(photos, f"p{i}.png"), w, h, i)
    out = os.path.join(work, "bench")
    env = dict(os.environ, VQZ_CODECS=os.path.join(REPO, "Tests/Fixtures/models/codecs"))
    subprocess.run([vqz, "bench", "--images", photos, "-o", out, "--models", "tiny-vq", "--crops", "3", "--crop-size", "48",
                    "--jpeg-qualities", "20,50,80", "--webp-qualities", "20,50,80", "-s"], check=True, env=env)
    report = os.path.join(out, "report.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run([browser, *flags, "--dump-dom", "file://" + report], capture_output=True, text=True, timeout=120).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body, "Chromium rendered no <body>"
    attrs = dict(re.findall(r'data-([a-z-]+)="(\d+)"', body.group(1)))
    images, loaded = int(attrs.get("images", -1)), int(attrs.get("images-loaded", -1))
    plots, curves = int(attrs.get("plots", 0)), int(attrs.get("plot-curves", 0))
    anchors = sum(shutil.which(t) is not None for t in ("cjpeg", "cwebp"))
    expected_images = 3 * (2 + anchors)  # original and vqz, plus each installed anchor
    assert images == expected_images, f"{images} crop images in the page, expected {expected_images}"
    assert loaded == images, f"only {loaded} of {images} crop images decoded in the browser"
    assert plots == 1 and curves >= 1, f"the plot did not render ({plots} svg, {curves} curves)"
    shot = os.path.join(out, "report.png")
    subprocess.run([browser, *flags, "--window-size=1400,1800", f"--screenshot={shot}", "file://" + report],
                   capture_output=True, timeout=120, check=True)
    width, height, distinct = png_size_and_blankness(shot)
    assert (width, height) == (1400, 1800), f"screenshot is {width}x{height}"
    assert distinct > 8, "the screenshot is blank"
    print(f"check_report: ok — {loaded}/{images} crops decoded, plot with {curves} curves, screenshot {shot}")


if __name__ == "__main__":
    main()
