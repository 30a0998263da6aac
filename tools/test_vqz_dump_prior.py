#!/usr/bin/env python3
"""Check tools/vqz_dump.py's prior-coded token decoding (container 1.2) against sample files.

Usage:
    python3 tools/test_vqz_dump_prior.py DIR

DIR holds models `*.vqzm`, priors `*.vqzp`, and prior-coded `NAME.vqz` files, most with their
expected tokens `NAME.npy` (uint16 arrays [levels, Grid_Height, Grid_Width], written by another
implementation). Each .vqz is decoded with the model and the prior whose ids (first 16 bytes of
the SHA-256) are its `Model_ID` and `Prior_ID`. For every pair: the tokens decoded by vqz_dump.py
must equal the .npy exactly; a .vqz without a .npy must decode (its tokens are printed, plane by
plane). Also: a pure-Python, spec-literal decode of the small files (to check the vectorised
arithmetic against the spec's integer semantics on real weights), trimming (the first L streams
decode to the first L planes), the command line (JSON with and without the prior), and damaged
variants with recomputed CRCs (one error line or other tokens, never a traceback).

Without DIR it prints this help and exits 2. Needs NumPy.
"""

import glob
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vqz_dump as V  # noqa: E402

import numpy as np  # noqa: E402

DUMP = os.path.join(HERE, "vqz_dump.py")


def crc32(b):
    return zlib.crc32(b) & 0xFFFFFFFF


def refix(data):
    """Recompute Payload_CRC32 and Header_CRC32 so that only the deeper checks can catch damage."""
    b = bytearray(data)
    hs = struct.unpack_from("<H", b, 10)[0]
    struct.pack_into("<I", b, 64, crc32(bytes(b[hs:])))
    struct.pack_into("<I", b, hs - 4, crc32(bytes(b[:hs - 4])))
    return bytes(b)


def section_layout(data):
    """(header size, token section offset, plane count, stream offsets and sizes)."""
    hs = struct.unpack_from("<H", data, 10)[0]
    planes = data[33]
    sizes = struct.unpack_from(f"<{planes}I", data, hs + 16)
    pos = hs + 16 + 4 * planes
    streams = []
    for s in sizes:
        streams.append((pos, s))
        pos += s
    return hs, planes, streams


def trimmable(data):
    """Whether trim() handles this file: one alphabet, no alpha, no metadata, a 1.1 header."""
    hs = struct.unpack_from("<H", data, 10)[0]
    return (data[34] == 1 and struct.unpack_from("<I", data, 60)[0] == 0 and hs == 80
            and struct.unpack_from("<I", data, 72)[0] == 0)


def trim(data, level):
    """The level-`level` file of a prior-coded file, as FORMAT.md "Trimming" describes."""
    hs, planes, streams = section_layout(data)
    assert trimmable(data)
    section = data[hs:hs + 16] + struct.pack(f"<{level}I", *(s for _, s in streams[:level]))
    section += b"".join(data[o:o + s] for o, s in streams[:level])
    head = bytearray(data[:hs])
    head[32] = head[33] = level
    struct.pack_into("<I", head, 56, len(section))
    return refix(bytes(head) + section)


def reference_decode(data, decoder):
    """Decode every plane with pure Python integers and prior_freq_reference (slow, literal)."""
    info, _ = V.parse_vqz(data)           # container checks; Planes is None
    hs, planes, streams = section_layout(data)
    w, h = info["Grid_Width"], info["Grid_Height"]
    pr, cbq = decoder._prior, decoder._cbq
    out = []
    for l, (off, size) in enumerate(streams):
        st = data[off:off + size]
        x = int.from_bytes(st[:4], "little")
        assert V.RANS_LOW <= x < V.RANS_HIGH
        pos = 4
        plane = [0] * (w * h)
        out.append(plane)
        for i in range(h):
            for j in range(w):
                freq = V.prior_freq_reference(pr, cbq, out, l, i, j, h, w)
                slot = x & 0xFFFF
                cum = 0
                k = 0
                while cum + freq[k] <= slot:
                    cum += freq[k]
                    k += 1
                x = freq[k] * (x >> 16) + slot - cum
                while x < V.RANS_LOW:
                    x = (x << 8) | st[pos]
                    pos += 1
                plane[i * w + j] = k
        assert x == V.RANS_LOW and pos == size, (x, pos, size)
    return out


def run_cli(*args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, DUMP, *args], capture_output=True, text=True, env=env)


def main(argv):
    if len(argv) != 1:
        print(__doc__)
        return 2
    d = argv[0]
    failures = []
    checks = 0

    def check(cond, what):
        nonlocal checks
        checks += 1
        if not cond:
            failures.append(what)
            print(f"FAIL: {what}")

    def file_id(path):
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).digest()[:16].hex()

    models = {file_id(p): p for p in glob.glob(os.path.join(d, "*.vqzm"))}
    priors = {file_id(p): p for p in glob.glob(os.path.join(d, "*.vqzp"))}
    if not models or not priors:
        print(f"expected .vqzm and .vqzp files in {d}, found {sorted(models.values())} "
              f"{sorted(priors.values())}")
        return 2
    decoders = {}           # (model path, prior path) -> PriorDecoder, shared by its files
    paths = {}              # sample name -> (model path, prior path)
    for p in sorted(glob.glob(os.path.join(d, "*.vqz"))):
        name = os.path.basename(p)[:-4]
        info, _ = V.parse_vqz(open(p, "rb").read())
        mp, pp = models.get(info["Model_ID"]), priors.get(info.get("Prior_ID"))
        if not info["Token_Prior"] or mp is None or pp is None:
            print(f"{name}: skipped (Token_Prior {info['Token_Prior']}, model "
                  f"{info['Model_ID']} {'found' if mp else 'not in DIR'}, prior "
                  f"{info.get('Prior_ID')} {'found' if pp else 'not in DIR'})")
            continue
        paths[name] = (mp, pp)
        if (mp, pp) not in decoders:
            decoders[(mp, pp)] = V.PriorDecoder(open(mp, "rb").read(), open(pp, "rb").read())
    samples = sorted(n for n in paths if os.path.exists(os.path.join(d, n + ".npy")))
    unchecked = sorted(n for n in paths if n not in samples)
    if not samples:
        print(f"no prior-coded NAME.vqz with NAME.npy in {d}")
        return 2

    def decoder_of(name):
        return decoders[paths[name]]

    # 1. Every sample decodes to its .npy exactly; the others decode, and are printed.
    decoded = {}
    for name in samples + unchecked:
        base = os.path.join(d, name)
        data = open(base + ".vqz", "rb").read()
        t0 = time.perf_counter()
        try:
            info, _ = V.parse_vqz(data, prior_decoder=decoder_of(name))
        except V.Reject as e:
            check(False, f"{name}: rejected: {e}")
            continue
        dt = time.perf_counter() - t0
        shape = (info["Plane_Count"], info["Grid_Height"], info["Grid_Width"])
        got = np.array(info["Planes"], dtype=np.int64).reshape(shape)
        mname, pname = (os.path.basename(x) for x in paths[name])
        if name in unchecked:
            decoded[name] = (data, got)
            print(f"{name}: {shape[0]} planes of {shape[1]} x {shape[2]} ({mname}, {pname}), "
                  f"no {name}.npy: decoded in {dt:.2f} s, tokens:")
            for p_, plane in enumerate(got):
                print(f"  plane {p_}: " + " / ".join(" ".join(map(str, row)) for row in plane))
            continue
        want = np.load(base + ".npy")
        ok = got.shape == want.shape and bool((got == want).all())
        check(ok, f"{name}: tokens differ from {name}.npy"
              + (f" at {int((got != want).sum())} positions" if got.shape == want.shape else
                 f" (shape {got.shape}, .npy {want.shape})"))
        decoded[name] = (data, want)
        print(f"{name}: {want.shape[0]} planes of {want.shape[1]} x {want.shape[2]} ({mname}, "
              f"{pname}), tokens match: {'yes' if ok else 'NO'}, decode {dt:.2f} s")

    # 2. The vectorised decoder against the spec-literal pure-Python decoder: for each model
    # and prior, the deepest file of at most 200 positions (all its planes).
    deepest = {}
    for name, (data, want) in decoded.items():
        if want.shape[1] * want.shape[2] <= 200:
            cur = deepest.get(paths[name])
            if cur is None or want.shape[0] > decoded[cur][1].shape[0]:
                deepest[paths[name]] = name
    for name in sorted(deepest.values()):
        data, want = decoded[name]
        t0 = time.perf_counter()
        ref = reference_decode(data, decoder_of(name))
        check(np.array_equal(np.array(ref).reshape(want.shape), want),
              f"{name}: spec-literal pure-Python decode differs")
        print(f"{name}: spec-literal pure-Python decode of all {want.shape[0]} planes agrees "
              f"({time.perf_counter() - t0:.1f} s)")

    # 3. Trimming: the first L streams are a level-L file of the first L planes.
    for name, (data, want) in decoded.items():
        if want.shape[0] < 2 or want.size > 20000 or not trimmable(data):
            continue
        for level in sorted({1, want.shape[0] // 2}):
            got = V.parse_vqz(trim(data, level), prior_decoder=decoder_of(name))[0]["Planes"]
            check(np.array_equal(np.array(got).reshape(level, *want.shape[1:]), want[:level]),
                  f"{name} trimmed to {level}")
        print(f"{name}: trimmed files decode to the first planes")

    # 4. The command line.
    samples = [n for n in samples if n in decoded]
    if not samples:
        print(f"test_vqz_dump_prior: {len(failures)} of {checks} checks FAILED")
        return 1
    name = min(samples, key=lambda n: decoded[n][1].size)
    model_path, prior_path = paths[name]
    path = os.path.join(d, name + ".vqz")
    want = decoded[name][1]
    r = run_cli(path, "--json")
    obj = json.loads(r.stdout) if r.returncode == 0 else {}
    check(r.returncode == 0 and r.stderr == "" and obj.get("Planes", 0) is None
          and obj.get("Token_Prior") is True and len(obj.get("Prior_ID", "")) == 32
          and isinstance(obj.get("Stream_Size"), list), f"CLI {name} --json without the prior")
    r = run_cli(path, "--json", "--model", model_path, "--prior", prior_path)
    obj = json.loads(r.stdout) if r.returncode == 0 else {}
    check(r.returncode == 0 and np.array_equal(np.array(obj.get("Planes")).reshape(want.shape), want),
          f"CLI {name} --json --model --prior: {r.returncode} {r.stderr!r}")
    r = run_cli(path, "--model", model_path, "--prior", prior_path)
    check(r.returncode == 0 and "Flags: 8 (Token_Prior)" in r.stdout and "plane 0: min" in r.stdout,
          "CLI human mode with the prior")
    biggest = max(samples, key=lambda n: decoded[n][1].size)
    t0 = time.perf_counter()
    r = run_cli(os.path.join(d, biggest + ".vqz"), "--json", "--model", paths[biggest][0],
                "--prior", paths[biggest][1])
    dt = time.perf_counter() - t0
    obj = json.loads(r.stdout) if r.returncode == 0 else {}
    bw = decoded[biggest][1]
    check(r.returncode == 0 and np.array_equal(np.array(obj.get("Planes")).reshape(bw.shape), bw),
          f"CLI {biggest}")
    print(f"CLI {biggest} --json --model --prior: rc {r.returncode}, {dt:.2f} s wall (whole process)")

    # 5. Damage, CRCs recomputed: one error line, or (rarely) other tokens; never a traceback.
    def expect_error(blob, what, field=None, model=None, prior=None):
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = os.path.join(tmpdir, "damaged.vqz")
            with open(tmp, "wb") as fh:
                fh.write(blob)
            r = run_cli(tmp, "--json", "--model", model or model_path, "--prior",
                        prior or prior_path)
        lines = r.stderr.splitlines()
        if r.returncode == 0:
            got = np.array(json.loads(r.stdout)["Planes"])
            return "other tokens" if not np.array_equal(got.ravel(), want.ravel()) else "SAME"
        ok = (r.returncode == 1 and r.stdout == "" and len(lines) == 1
              and lines[0].startswith("vqz_dump: error: ") and "Traceback" not in r.stderr)
        check(ok, f"{what}: rc {r.returncode}, stderr {r.stderr!r}")
        if field is not None:
            check(lines and lines[0].startswith(f"vqz_dump: error: {field}:"),
                  f"{what}: expected field {field}, got {r.stderr!r}")
        return lines[0] if lines else ""

    name = max((n for n in samples if decoded[n][1].size <= 2000),
               key=lambda n: decoded[n][1].size)
    model_path, prior_path = paths[name]
    data, want = decoded[name]
    hs, planes, streams = section_layout(data)
    outcomes = {}
    for p, (off, size) in enumerate(streams):
        for rel in sorted({0, 3, 4, size // 2, size - 1}):
            for mask in (0x01, 0x80):
                b = bytearray(data)
                b[off + rel] ^= mask
                res = expect_error(refix(bytes(b)), f"{name} stream {p} byte {rel} ^ 0x{mask:02X}")
                check(res != "SAME", f"{name} stream {p} byte {rel}: same tokens")
                key = res.split(":")[2].strip() if res.startswith("vqz_dump") else res
                outcomes[key] = outcomes.get(key, 0) + 1
    print(f"{name}: damaged streams (CRCs recomputed): {outcomes}")
    b = bytearray(data)
    b[hs] ^= 1
    expect_error(refix(bytes(b)), "Prior_ID changed", "Prior_ID")
    b = bytearray(data)
    struct.pack_into("<I", b, hs + 16, streams[0][1] + 1)
    expect_error(refix(bytes(b)), "Stream_Size[0] + 1", "Stream_Size")
    expect_error(data, "model and prior swapped", "Model_ID", model=prior_path, prior=model_path)
    for other in sorted(set(priors.values()) - {prior_path}):
        expect_error(data, f"the prior {os.path.basename(other)}", "Prior_ID", prior=other)
    for other in sorted(set(models.values()) - {model_path}):
        expect_error(data, f"the model {os.path.basename(other)}", "Model_ID", model=other)
    # A stream one byte short, the sizes and Token_Section_Size adjusted.
    off, size = streams[-1]
    b = bytearray(data[:off + size - 1])
    struct.pack_into("<I", b, hs + 16 + 4 * (planes - 1), size - 1)
    struct.pack_into("<I", b, 56, struct.unpack_from("<I", b, 56)[0] - 1)
    expect_error(refix(bytes(b)), "last stream one byte short", "token stream")
    # The largest sample: one damaged stream, decoded in-process.
    data, want = decoded[biggest]
    hs, planes, streams = section_layout(data)
    off, size = streams[planes // 2]
    b = bytearray(data)
    b[off + size // 2] ^= 0x10
    t0 = time.perf_counter()
    try:
        got = V.parse_vqz(refix(bytes(b)), prior_decoder=decoder_of(biggest))[0]["Planes"]
        res = "other tokens" if not np.array_equal(np.array(got).ravel(), want.ravel()) else "SAME"
        check(res != "SAME", f"{biggest}: damaged stream decoded to the same tokens")
    except V.Reject as e:
        res = f"rejected: {e}"
    print(f"{biggest}: stream {planes // 2} damaged: {res} ({time.perf_counter() - t0:.2f} s)")

    if failures:
        print(f"test_vqz_dump_prior: {len(failures)} of {checks} checks FAILED")
        return 1
    print(f"test_vqz_dump_prior: all {checks} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
