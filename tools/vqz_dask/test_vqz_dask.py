"""The Dask map step on a real local cluster (distributed's LocalCluster, worker processes).

50 images go through `vqz encode` on 3 workers; one worker process is killed with SIGKILL while
the job runs; the job still completes, every output is present, and every output is byte-identical
to a single-machine `vqz encode --files-from` run. Then the tokens path, with the manifest.

Run: make test-scale (VQZ_BIN: the vqz executable, default .build/debug/vqz; the tiny test models
from Tests/Fixtures/models/codecs).
"""

import json
import os
import signal
import sys
import tempfile
import time
import unittest
import zlib
import struct

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from distributed import Client, LocalCluster, as_completed  # noqa: E402

from vqz_dask import chunks, run_batch, run_chunk, write_manifest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VQZ = os.environ.get("VQZ_BIN", os.path.join(REPO, ".build/debug/vqz"))
ENV = {"VQZ_CODECS": os.path.join(REPO, "Tests/Fixtures/models/codecs")}


def write_png(path, width, height, seed):
    """A small RGB PNG with smooth gradients and a little seeded noise (no numpy needed)."""
    state = seed * 2654435761 % 2**32 or 1
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            state = (state * 1664525 + 1013904223) % 2**32
            noise = state >> 29
            row += bytes(((x * 4 + seed * 7 + noise) % 256, (y * 5 + seed * 3) % 256, ((x + y) * 3 + noise) % 256))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


class DaskMapStepTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(VQZ, os.X_OK):
            raise AssertionError(f"no vqz executable at {VQZ}: run swift build first, or set VQZ_BIN")
        cls.tmp = tempfile.TemporaryDirectory(prefix="vqz-dask-")
        cls.root = cls.tmp.name
        os.makedirs(os.path.join(cls.root, "photos", "set1"))
        os.makedirs(os.path.join(cls.root, "photos", "set2"))
        cls.paths = []
        for i in range(50):
            rel = f"photos/set{1 + i % 2}/img{i:03d}.png"
            write_png(os.path.join(cls.root, rel), 48 + 8 * (i % 3), 40, i)
            cls.paths.append(rel)
        # The single-machine reference.
        with open(os.path.join(cls.root, "list.txt"), "w") as f:
            f.write("".join(p + "\n" for p in cls.paths))
        import subprocess
        r = subprocess.run([VQZ, "encode", "--files-from", "list.txt", "-o", "reference", "-q", "2", "-s", "-j", "1"],
                           cwd=cls.root, env=dict(os.environ, **ENV), capture_output=True)
        assert r.returncode == 0, r.stderr.decode()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def same_as_reference(self, folder):
        for rel in self.paths:
            out = os.path.splitext(rel)[0] + ".vqz"
            with open(os.path.join(self.root, "reference", out), "rb") as a, open(os.path.join(self.root, folder, out), "rb") as b:
                self.assertEqual(a.read(), b.read(), f"{out} differs from the single-machine run")

    def test_chunks(self):
        self.assertEqual(chunks(list("abcde"), 2), [["a", "b"], ["c", "d"], ["e"]])
        with self.assertRaises(ValueError):
            chunks(["a"], 0)

    def test_a_killed_worker_does_not_lose_or_change_outputs(self):
        cluster = LocalCluster(n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        try:
            pids = client.run(os.getpid)  # worker address -> process id
            futures = client.map(run_chunk, chunks(self.paths, 1), output="cluster", vqz=VQZ, args=["-q", "2"],
                                 root=self.root, env=ENV, retries=3, pure=False)
            finished = 0
            killed = None
            for _ in as_completed(futures):
                finished += 1
                if finished == 8:
                    # Kill the worker that holds the most unfinished tasks, mid-run.
                    processing = client.processing()
                    victim = max(processing, key=lambda w: len(processing[w]))
                    in_flight = len(processing[victim])
                    os.kill(pids[victim], signal.SIGKILL)
                    killed = (victim, in_flight)
                    break
            self.assertIsNotNone(killed)
            self.assertGreater(killed[1], 0, "the killed worker had work in flight")
            records = [r for part in client.gather(futures) for r in part]
        finally:
            client.close()
            cluster.close()
        self.assertLess(finished, len(self.paths), "the kill happened before the job was done")
        self.assertEqual([r["input"] for r in records], self.paths)
        self.assertTrue(all(r["status"] in ("done", "skipped") for r in records), [r for r in records if r["status"] == "failed"])
        self.same_as_reference("cluster")

    def test_tokens_with_a_manifest(self):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        try:
            with Client(cluster) as client:
                records = run_batch(client, self.paths[:10], "tokens", chunk=4, vqz=VQZ, command="tokens",
                                    args=["-q", "2", "-m", "tiny-vq"], root=self.root, env=ENV)
        finally:
            cluster.close()
        manifest = os.path.join(self.root, "tokens.jsonl")
        write_manifest(records, manifest)
        with open(manifest) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual([r["input"] for r in lines], self.paths[:10])
        self.assertTrue(all(r["status"] == "done" and r["bytes"] > 0 for r in lines))
        for r in lines:
            self.assertTrue(os.path.exists(os.path.join(self.root, r["output"])))
            with open(os.path.join(self.root, r["output"]), "rb") as f:
                self.assertEqual(f.read(6), b"\x93NUMPY")


if __name__ == "__main__":
    unittest.main(verbosity=2)
