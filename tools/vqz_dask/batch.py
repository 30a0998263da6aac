"""The map step: chunks of a file list, one `vqz` process per chunk, records back."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from typing import Iterable, Sequence


def chunks(paths: Sequence[str], size: int) -> list[list[str]]:
    """The list cut into consecutive chunks of `size` paths (the last may be shorter)."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    return [list(paths[i:i + size]) for i in range(0, len(paths), size)]


def run_chunk(paths: Sequence[str], output: str, *, vqz: str = "vqz", command: str = "encode",
              args: Sequence[str] = (), root: str | None = None, env: dict | None = None,
              threads: int = 1) -> list[dict]:
    """Runs `vqz COMMAND --files-from - -o OUTPUT --json` on `paths` (relative to `root`).

    Returns one record per path (input, output, status, bytes, bpp, level, seconds, error). Raises
    RuntimeError when vqz did not run as a batch (a usage error, a crash): the scheduler retries.
    """
    cmd = [vqz, command, "--files-from", "-", "-o", output, "--json", "-s", "--threads", str(threads), *args]
    full_env = dict(os.environ, **(env or {}))
    done = subprocess.run(cmd, input="".join(p + "\n" for p in paths).encode(), cwd=root,
                          env=full_env, capture_output=True, timeout=3600)
    # Exit 0: all done or skipped; 1: some files failed (named in the records). Anything else is
    # not a per-file outcome.
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} exited with {done.returncode}: {done.stderr.decode(errors='replace').strip()}")
    records = [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]
    if len(records) != len(paths):
        raise RuntimeError(f"vqz returned {len(records)} records for {len(paths)} files: "
                           f"{done.stderr.decode(errors='replace').strip()}")
    return records


def run_batch(client, paths: Sequence[str], output: str, *, chunk: int = 1, retries: int = 3, **kwargs) -> list[dict]:
    """Maps `run_chunk` over `paths` on a Dask `client`; records in list order.

    `output` (and `root`, when given) must name the same folder on every worker (a shared file
    system or, on one machine, a local folder).
    """
    parts = chunks(paths, chunk)
    futures = client.map(run_chunk, parts, output=output, retries=retries, pure=False, **kwargs)
    results = client.gather(futures)
    return [record for part in results for record in part]


def write_manifest(records: Iterable[dict], path: str) -> None:
    """The records as JSON lines, written to a temporary file and renamed into place."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".manifest-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            for record in records:
                f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
