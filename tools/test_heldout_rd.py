#!/usr/bin/env python3
"""tools/heldout_rd.py: its cubic BD-rate against the NumPy reference values in
Tests/Fixtures/reference/metrics.json (the same cases the Swift `Metrics.bdRate` is tested on),
exact shifts, per-image/pooled comparison of `vqz bench` CSVs, and the held-out file rule."""

import csv
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import heldout_rd  # noqa: E402


class BDRate(unittest.TestCase):
    def test_matches_the_numpy_fixture(self):
        with open(os.path.join(HERE, "..", "Tests", "Fixtures", "reference", "metrics.json")) as f:
            cases = json.load(f)["bdrate"]
        self.assertEqual(len(cases), 3)
        for c in cases:
            anchor = list(zip(c["anchor"]["rate"], c["anchor"]["psnr"]))
            test = list(zip(c["test"]["rate"], c["test"]["psnr"]))
            self.assertAlmostEqual(heldout_rd.bd_rate(anchor, test), c["cubic"], places=6, msg=c["name"])

    def test_a_constant_rate_factor_is_exact(self):
        curve = [(0.1, 25.0), (0.3, 28.5), (0.7, 31.0), (1.5, 34.2), (2.0, 35.0)]
        self.assertAlmostEqual(heldout_rd.bd_rate(curve, curve), 0.0, places=9)
        self.assertAlmostEqual(heldout_rd.bd_rate(curve, [(r * 0.9, p) for r, p in curve]), -10.0, places=6)
        self.assertIsNone(heldout_rd.bd_rate(curve, [(r, p + 20) for r, p in curve]))

    def test_per_image_and_pooled_from_bench_csvs(self):
        with tempfile.TemporaryDirectory() as d:
            def write(name, codec, factor):
                path = os.path.join(d, name)
                with open(path, "w", newline="") as f:
                    w = csv.writer(f)
                    w.writerow(["image", "codec", "setting", "bytes", "bpp", "psnr", "ms_ssim", "encoding_time_s", "decoding_time_s"])
                    for image, scale in (("a.png", 1.0), ("b.png", 2.0)):
                        for level, (bpp, psnr) in enumerate([(0.1, 25), (0.3, 28), (0.7, 31), (1.5, 34)], 1):
                            w.writerow([image, codec, f"level {level}", 0, bpp * scale * factor, psnr + scale, 0.9, 0.1, 0.1])
                return path
            base = heldout_rd.read_per_image(write("base.csv", "vqz-old", 1.0))
            other = heldout_rd.read_per_image(write("new.csv", "vqz-new", 0.8))
            mean, pool, n = heldout_rd.compare(base["vqz-old"], other["vqz-new"])
            self.assertEqual(n, 2)
            self.assertAlmostEqual(mean, -20.0, places=6)
            self.assertAlmostEqual(pool, -20.0, places=6)

    def test_held_out_names_are_every_25th_by_sorted_name(self):
        with tempfile.TemporaryDirectory() as d:
            for i in reversed(range(60)):
                open(os.path.join(d, f"img{i:03d}.png"), "w").close()
            open(os.path.join(d, "notes.txt"), "w").close()
            self.assertEqual(heldout_rd.held_out_names(d), ["img000.png", "img025.png", "img050.png"])


if __name__ == "__main__":
    unittest.main()
