#!/usr/bin/env python3
"""Check tools/vqz_dump.py's prior-coded token decoding (container 1.2) against sample files.

Usage:
    python3 tools/test_vqz_dump_prior.py DIR

DIR holds models `*.vqzm`, priors `*.vqzp`, and prior-coded `NAME.vqz` files, most with their
expected tokens `NAME.npy` (uint16 arrays [levels, Grid_Height, Grid_Width], written by another
implementation). A trimmed file `NAME-trimL.vqz` without its own .npy is expected to hold the
first L planes of `NAME.npy`, with the Coded_Level of `NAME.vqz` (trimming keeps it). Each .vqz
is decoded with the model and the prior whose ids (first 16 bytes of the SHA-256) are its
`Model_ID` and `Prior_ID`. For every pair: the tokens decoded by vqz_dump.py must equal the .npy
exactly; a .vqz without an expected array must decode (its tokens are printed, plane by plane).
Also: Coded_Level (= Plane_Count in an untrimmed file), a pure-Python, spec-literal decode of the
small files (to check the vectorised arithmetic against the spec's integer semantics on real
weights), trimming (the first L streams, Coded_Level kept, decode to the first L planes), the
command line (JSON with and without the prior, Coded_Level reported), and damaged variants with
recomputed CRCs (one error line or other tokens, never a traceback; Coded_Level out of range
named), and the prior's embeddings (MODEL-FORMAT.md: `prior.<l>.emb` of i16 values v,
`prior.<l>.emb_shift` s_l, emb = v * 2^s_l within +-2^26): the weights the decoder uses are
v * 2^s_l of the stored bytes, and rewritten priors with emb_shift missing or out of range, an
emb value out of range, or the previous i32 layout are rejected naming the key or tensor.

Without DIR it prints this help and exits 2. Needs NumPy.
"""

import glob
import hashlib
import json
import os
import re
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
    """(header size, plane count, stream offsets and sizes). The section: Prior_ID (16 bytes),
    Coded_Level (u8), the Stream_Size table (u32 per plane), the streams."""
    hs = struct.unpack_from("<H", data, 10)[0]
    planes = data[33]
    sizes = struct.unpack_from(f"<{planes}I", data, hs + 17)
    pos = hs + 17 + 4 * planes
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


def trim(data, level, coded_level=None):
    """The level-`level` file of a prior-coded file, as FORMAT.md "Trimming" describes: Prior_ID
    and Coded_Level unchanged (`coded_level` replaces the latter, to test that it matters)."""
    hs, planes, streams = section_layout(data)
    assert trimmable(data)
    cl = data[hs + 16] if coded_level is None else coded_level
    section = data[hs:hs + 16] + bytes([cl])
    section += struct.pack(f"<{level}I", *(s for _, s in streams[:level]))
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
    coded_level = info["Coded_Level"]
    assert data[hs + 16] == coded_level
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
                freq = V.prior_freq_reference(pr, cbq, out, l, i, j, h, w, coded_level)
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


def trim_base(name):
    """(base name, L) for a trimmed sample NAME-trimL, else (None, None)."""
    m = re.fullmatch(r"(.+)-trim(\d+)", name)
    return (m.group(1), int(m.group(2))) if m else (None, None)


def expected_tokens(d, name):
    """(array, where from) for NAME: NAME.npy; for NAME-trimL without one, the first L planes of
    NAME.npy; else (None, None)."""
    own = os.path.join(d, name + ".npy")
    if os.path.exists(own):
        return np.load(own), f"{name}.npy"
    base, level = trim_base(name)
    if base is not None and os.path.exists(os.path.join(d, base + ".npy")):
        return np.load(os.path.join(d, base + ".npy"))[:level], f"the first {level} planes of {base}.npy"
    return None, None


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
    expected = {n: expected_tokens(d, n) for n in paths}
    samples = sorted(n for n in paths if expected[n][0] is not None)
    unchecked = sorted(n for n in paths if n not in samples)
    if not paths:
        print(f"no prior-coded NAME.vqz with its model and prior in {d}")
        return 2

    def decoder_of(name):
        return decoders[paths[name]]

    # 0. The priors' embeddings: i16 values v, emb = v * 2^s_l (|emb| <= 2^26), as loaded.
    for (mp, pp), dec in sorted(decoders.items()):
        mf = V.parse_model_file(open(pp, "rb").read(), "prior file")
        pr = V.load_token_prior(mf)
        shifts, vmax, emax, ok = [], 0, 0, True
        for l, st in enumerate(pr.stages):
            t, s_l = mf.metadata.get(f"prior.{l}.emb_shift", (None, None))
            dtype, dims, raw = mf.tensors[f"prior.{l}.emb"]
            n = st.slots * (pr.K + 1) * pr.H
            v = np.frombuffer(raw, dtype="<i2").astype(np.int64)
            ok &= (t == V.VALUE_I64 and 0 <= s_l <= 16 and len(raw) == 2 * n and dtype == V.DTYPE_U8
                   and np.array_equal(np.array(st.emb, dtype=np.int64), v << s_l))
            shifts.append(s_l)
            vmax = max(vmax, int(np.abs(v).max()))
            emax = max(emax, int(np.abs(v << s_l).max()))
        check(ok and emax <= 1 << 26, f"{os.path.basename(pp)}: emb = v * 2^emb_shift from i16 bytes")
        print(f"{os.path.basename(pp)}: {pr.S} stages, K {pr.K}, D {pr.D}, H {pr.H}, F {pr.F}; "
              f"emb_shift per stage {shifts}; max |v| {vmax}, max |emb| {emax} "
              f"(2^{np.log2(max(emax, 1)):.2f}); i16 emb loaded as v * 2^s: {'yes' if ok else 'NO'}")

    # 1. Every sample decodes to its expected tokens exactly; the others decode, and are printed.
    # Coded_Level: Plane_Count in an untrimmed sample, the original's in a trimmed one.
    decoded = {}
    coded = {}
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
        coded[name] = info["Coded_Level"]
        tb, tl = trim_base(name)
        if tb is None:
            check(info["Coded_Level"] == info["Plane_Count"],
                  f"{name}: Coded_Level {info['Coded_Level']}, expected Plane_Count "
                  f"{info['Plane_Count']} (an encoder writes Coded_Level = Plane_Count)")
        cl = f"Coded_Level {info['Coded_Level']}"
        if name in unchecked:
            decoded[name] = (data, got)
            print(f"{name}: {shape[0]} planes of {shape[1]} x {shape[2]} ({mname}, {pname}), {cl}, "
                  f"no expected tokens: decoded in {dt:.2f} s, tokens:")
            for p_, plane in enumerate(got):
                print(f"  plane {p_}: " + " / ".join(" ".join(map(str, row)) for row in plane))
            continue
        want, source = expected[name]
        ok = got.shape == want.shape and bool((got == want).all())
        check(ok, f"{name}: tokens differ from {source}"
              + (f" at {int((got != want).sum())} positions" if got.shape == want.shape else
                 f" (shape {got.shape}, expected {want.shape})"))
        decoded[name] = (data, want)
        print(f"{name}: {want.shape[0]} planes of {want.shape[1]} x {want.shape[2]} ({mname}, "
              f"{pname}), {cl}, tokens match {source}: {'yes' if ok else 'NO'}, decode {dt:.2f} s")
    # A trimmed sample: the original's Coded_Level and its first L planes; and the bytes that
    # FORMAT.md "Trimming" describes (when this script's trim() handles the original).
    for name in sorted(decoded):
        tb, tl = trim_base(name)
        if tb is None or tb not in decoded:
            continue
        data, _ = decoded[name]
        odata, owant = decoded[tb]
        check(coded[name] == coded[tb] and data[33] == tl,
              f"{name}: Coded_Level {coded[name]} and {data[33]} planes, expected the original's "
              f"Coded_Level {coded[tb]} (trimming keeps it) and {tl} planes")
        if expected[name][0] is not None and expected[tb][0] is not None:
            check(np.array_equal(expected[name][0], expected[tb][0][:tl]),
                  f"{name}: expected tokens are not the first {tl} planes of {tb}'s")
        if trimmable(odata):
            mine = trim(odata, tl)
            same = mine == data
            check(same, f"{name}: differs from trim({tb}.vqz, {tl}) as FORMAT.md describes it "
                  f"({len(data)} vs {len(mine)} bytes, first difference at byte "
                  f"{next((i for i, (a, b) in enumerate(zip(data, mine)) if a != b), min(len(data), len(mine)))})")
            print(f"{name}: Coded_Level {coded[name]} = {tb}'s; byte-identical to this script's "
                  f"trim of {tb}.vqz to level {tl}: {'yes' if same else 'NO'}")

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

    # 3. Trimming: the first L streams, Coded_Level kept, are a level-L file of the first L
    # planes. The same streams with Coded_Level = L (not what trimming writes) are printed.
    for name, (data, want) in sorted(decoded.items()):
        if want.shape[0] < 2 or want.size > 20000 or not trimmable(data):
            continue
        other = {}
        for level in sorted({1, want.shape[0] // 2}):
            info = V.parse_vqz(trim(data, level), prior_decoder=decoder_of(name))[0]
            check(np.array_equal(np.array(info["Planes"]).reshape(level, *want.shape[1:]),
                                 want[:level]) and info["Coded_Level"] == coded[name],
                  f"{name} trimmed to {level}")
            try:
                got = V.parse_vqz(trim(data, level, coded_level=level),
                                  prior_decoder=decoder_of(name))[0]["Planes"]
                same = np.array_equal(np.array(got).reshape(level, *want.shape[1:]), want[:level])
                other[level] = "same tokens" if same else "other tokens"
            except V.Reject as e:
                other[level] = f"rejected ({e.field})"
        print(f"{name}: trimmed files (Coded_Level {coded[name]} kept) decode to the first planes; "
              f"with Coded_Level = L instead: {other}")

    # 4. The command line (files without expected tokens: their tokens as decoded above).
    samples = sorted(decoded)
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
          and obj.get("Coded_Level") == coded[name]
          and list(obj).index("Coded_Level") == list(obj).index("Prior_ID") + 1
          and isinstance(obj.get("Stream_Size"), list), f"CLI {name} --json without the prior")
    r = run_cli(path, "--json", "--model", model_path, "--prior", prior_path)
    obj = json.loads(r.stdout) if r.returncode == 0 else {}
    check(r.returncode == 0 and np.array_equal(np.array(obj.get("Planes")).reshape(want.shape), want),
          f"CLI {name} --json --model --prior: {r.returncode} {r.stderr!r}")
    r = run_cli(path, "--model", model_path, "--prior", prior_path)
    check(r.returncode == 0 and "Flags: 8 (Token_Prior)" in r.stdout and "plane 0: min" in r.stdout
          and f"\n  Coded_Level: {coded[name]}\n" in r.stdout, "CLI human mode with the prior")
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
               key=lambda n: (decoded[n][1].size, n in expected and expected[n][0] is not None),
               default=min(samples, key=lambda n: decoded[n][1].size))
    dname = name
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
    struct.pack_into("<I", b, hs + 17, streams[0][1] + 1)
    expect_error(refix(bytes(b)), "Stream_Size[0] + 1", "Stream_Size")
    # Coded_Level: below Plane_Count (container), above prior.stages (decoder), another level.
    stages = decoder_of(name)._prior.S
    cl0 = data[hs + 16]
    for cl, field in ((planes - 1, "Coded_Level"), (0, "Coded_Level"), (stages + 1, "Coded_Level"),
                      (255, "Coded_Level")):
        if 0 <= cl <= 255 and (cl < planes or cl > stages):
            b = bytearray(data)
            b[hs + 16] = cl
            expect_error(refix(bytes(b)), f"Coded_Level {cl} (Plane_Count {planes}, stages "
                         f"{stages})", field)
    moved = {}
    for cl in sorted({planes, cl0 - 1, cl0 + 1, stages} - {cl0}):
        if planes <= cl <= stages:
            b = bytearray(data)
            b[hs + 16] = cl
            res = expect_error(refix(bytes(b)), f"Coded_Level {cl0} -> {cl}")
            check(res == "other tokens" or "token stream" in res,
                  f"Coded_Level {cl0} -> {cl}: {res}")
            moved[cl] = res if res == "other tokens" else "rejected (token stream)"
    print(f"{name}: Coded_Level {cl0} changed to another level within Plane_Count {planes} .. "
          f"stages {stages}: {moved or 'no such level'}")
    expect_error(data, "model and prior swapped", "Model_ID", model=prior_path, prior=model_path)
    for other in sorted(set(priors.values()) - {prior_path}):
        expect_error(data, f"the prior {os.path.basename(other)}", "Prior_ID", prior=other)
    for other in sorted(set(models.values()) - {model_path}):
        expect_error(data, f"the model {os.path.basename(other)}", "Model_ID", model=other)
    # A stream one byte short, the sizes and Token_Section_Size adjusted.
    off, size = streams[-1]
    b = bytearray(data[:off + size - 1])
    struct.pack_into("<I", b, hs + 17 + 4 * (planes - 1), size - 1)
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

    # 6. Rewritten priors (the damage sample's; its Prior_ID set to the new file's id): emb_shift
    # missing or out of range, an emb value v with v * 2^s out of +-2^26, the previous i32
    # layout: rejected naming the key or tensor. Within range: decoded (tokens or a stream error).
    name = dname
    model_path, prior_path = paths[name]
    data, want = decoded[name]
    hs = struct.unpack_from("<H", data, 10)[0]
    pmf = V.parse_model_file(open(prior_path, "rb").read(), "prior file")

    def rewrite(meta_edit=None, tensor_edit=None):
        meta = [(k, v) for k, (t, v) in pmf.metadata.items()]
        if meta_edit:
            meta = meta_edit(meta)
        tensors = [(n, dt, list(dims), raw) for n, (dt, dims, raw) in pmf.tensors.items()]
        if tensor_edit:
            tensors = [(n, dt, dims, tensor_edit(n, raw)) for n, dt, dims, raw in tensors]
            tensors = [(n, dt, [len(raw)] if dt == V.DTYPE_U8 and len(dims) == 1 else dims, raw)
                       for n, dt, dims, raw in tensors]
        blob = V.write_model_file(meta, tensors)
        b = bytearray(data)
        b[hs:hs + 16] = hashlib.sha256(blob).digest()[:16]
        return refix(bytes(b)), blob

    def set_key(key, val):
        return lambda meta: [(k, val if k == key else v) for k, v in meta if val is not None
                             or k != key]

    def set_emb(l, idx, v):
        def edit(n, raw):
            if n != f"prior.{l}.emb":
                return raw
            a = np.frombuffer(raw, dtype="<i2").copy()
            a[idx] = v
            return a.tobytes()
        return edit

    def with_prior(what, field, meta_edit=None, tensor_edit=None):
        blob_vqz, blob = rewrite(meta_edit, tensor_edit)
        with tempfile.TemporaryDirectory() as tmpdir:
            pth = os.path.join(tmpdir, "rewritten.vqzp")
            with open(pth, "wb") as fh:
                fh.write(blob)
            return expect_error(blob_vqz, what, field, prior=pth)

    res = with_prior("prior rewritten unchanged", None)
    check(res == "SAME", f"prior rewritten unchanged: {res}")
    stages = decoder_of(name)._prior.S
    results = {}
    for key, val, what in ((f"prior.0.emb_shift", None, "missing"),
                           (f"prior.{stages - 1}.emb_shift", None, "missing"),
                           ("prior.0.emb_shift", 17, "17"), ("prior.1.emb_shift", -1, "-1"),
                           ("prior.0.emb_shift", "4", "a string")):
        res = with_prior(f"{key} {what}", f"prior file {key}", meta_edit=set_key(key, val))
        results[f"{key} {what}"] = "rejected" if f"prior file {key}:" in res else res
    # Stage 0 with emb_shift 16: v = 1025 (emb 2^26 + 2^16) rejected; v = +-1024 (+-2^26) accepted.
    for v, field in ((1025, "prior file prior.0.emb"), (-1025, "prior file prior.0.emb"),
                     (32767, "prior file prior.0.emb")):
        res = with_prior(f"emb_shift 16, v = {v}", field, meta_edit=set_key("prior.0.emb_shift", 16),
                         tensor_edit=set_emb(0, 0, v))
        results[f"s 16, v {v}"] = "rejected" if f"{field}:" in res else res

    def clip1024(n, raw):   # every stage-0 v within +-1024, then one at the bound
        if n != "prior.0.emb":
            return raw
        a = np.clip(np.frombuffer(raw, dtype="<i2"), -1024, 1024).astype("<i2")
        a[0], a[-1] = 1024, -1024
        return a.tobytes()
    res = with_prior("emb_shift 16, |v| <= 1024", None, meta_edit=set_key("prior.0.emb_shift", 16),
                     tensor_edit=clip1024)
    check(res in ("other tokens", "SAME") or ": token stream:" in res,
          f"emb_shift 16, |v| <= 1024 (|emb| <= 2^26): {res}")
    results["s 16, |v| <= 1024"] = res if not res.startswith("vqz_dump") else "token stream error"
    s0 = pmf.metadata["prior.0.emb_shift"][1]
    if s0 <= 10:    # every i16 v is within range: the extremes load
        res = with_prior(f"emb_shift {s0}, v = -32768", None, tensor_edit=set_emb(0, 0, -32768))
        check(res in ("other tokens", "SAME") or ": token stream:" in res,
              f"emb_shift {s0}, v = -32768: {res}")
    res = with_prior("emb as i32 (the previous layout)", "prior file prior.0.emb",
                     tensor_edit=lambda n, raw: (np.frombuffer(raw, "<i2").astype("<i4").tobytes()
                                                 if n.endswith(".emb") else raw))
    results["i32 emb"] = "rejected" if "prior file prior.0.emb:" in res else res
    res = with_prior("previous layout: i32 emb, no emb_shift", "prior file prior.0.emb_shift",
                     meta_edit=lambda meta: [(k, v) for k, v in meta if not k.endswith(".emb_shift")],
                     tensor_edit=lambda n, raw: (np.frombuffer(raw, "<i2").astype("<i4").tobytes()
                                                 if n.endswith(".emb") else raw))
    results["no emb_shift, i32 emb"] = "rejected" if "emb_shift:" in res else res
    print(f"{name}: rewritten priors: {results}")

    if failures:
        print(f"test_vqz_dump_prior: {len(failures)} of {checks} checks FAILED")
        return 1
    print(f"test_vqz_dump_prior: all {checks} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
