"""python3 -m vqz_dask: run vqz over a file list on a Dask cluster.

    python3 -m vqz_dask --local 4 --files-from list.txt -o out/ --manifest out.jsonl -- -q 6
    python3 -m vqz_dask --scheduler tcp://head:8786 --files-from list.txt -o /shared/out --root /shared/photos

Exit status 0 when every file was done or skipped, 1 when some failed (the manifest names them).
"""

import argparse
import sys

from .batch import run_batch, write_manifest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m vqz_dask", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--scheduler", help="address of a running Dask scheduler")
    where.add_argument("--local", type=int, metavar="N", help="start a local cluster of N single-threaded workers")
    p.add_argument("--files-from", required=True, help="the file list, one path a line (relative to --root)")
    p.add_argument("-o", "--output", required=True, help="the output folder (the same path on every worker)")
    p.add_argument("--root", default=None, help="the folder list entries are relative to (default: the current one)")
    p.add_argument("--command", default="encode", choices=["encode", "decode", "tokens"])
    p.add_argument("--vqz", default="vqz", help="the vqz executable on the workers")
    p.add_argument("--chunk", type=int, default=16, help="files per task (default 16)")
    p.add_argument("--manifest", help="write every record as JSON lines here")
    p.add_argument("args", nargs="*", help="extra vqz arguments (after --)")
    a = p.parse_args(argv)

    from distributed import Client, LocalCluster

    with open(a.files_from if a.files_from != "-" else "/dev/stdin") as f:
        paths = [line.rstrip("\r\n") for line in f if line.strip()]
    cluster = LocalCluster(n_workers=a.local, threads_per_worker=1, dashboard_address=None) if a.local else None
    with Client(cluster if cluster else a.scheduler) as client:
        records = run_batch(client, paths, a.output, chunk=a.chunk, vqz=a.vqz, command=a.command,
                            args=a.args, root=a.root)
    if cluster:
        cluster.close()
    if a.manifest:
        write_manifest(records, a.manifest)
    failed = [r for r in records if r.get("status") == "failed"]
    for r in failed:
        print(f"vqz_dask: {r.get('error')}", file=sys.stderr)
    done = sum(r.get("status") == "done" for r in records)
    print(f"vqz_dask: {len(records)} files: {done} done, {len(records) - done - len(failed)} skipped, {len(failed)} failed",
          file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
