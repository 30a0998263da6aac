"""vqz as the map step of a Dask cluster.

    from distributed import Client
    from vqz_dask import run_batch
    records = run_batch(Client("tcp://scheduler:8786"), ["a.png", "b/c.png"], "out/",
                        command="encode", args=["-q", "6"], root="/data/photos")

Each task runs `vqz COMMAND --files-from - -o OUT --json` on a chunk of the list, from `root`, and
returns vqz's JSON-lines records. vqz makes a task safe to run twice: its outputs are written
atomically, the same input and model give the same bytes, and an output that already exists and is
complete is skipped. So when a worker dies, Dask re-runs its tasks elsewhere and the result is the
one a single machine would give. A file vqz cannot read is a record with status "failed", not a
task failure; a task fails (and Dask retries it) only when vqz itself cannot run.
"""

from .batch import chunks, run_batch, run_chunk, write_manifest

__all__ = ["chunks", "run_batch", "run_chunk", "write_manifest"]
