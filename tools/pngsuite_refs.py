#!/usr/bin/env python3
"""Copy the PNG suite into Tests/Fixtures/pngsuite and turn its JSON references into raw RGBA files.

The JSON references (../shared/testdata/pngsuite/json, from lunapaint/pngsuite) are flat
[r,g,b,a,...] arrays of 8-bit values (for 16-bit images the `*_to8.json` variant). They are stored
here as `ref/NAME.rgba`: width*height*4 bytes, row-major, no header (`ref/NAME.rgba16`, u16 little-endian,
for the few 16-bit images that have no 8-bit reference), so the Swift tests read them
without a JSON parser. Run from the repository root: python3 tools/pngsuite_refs.py [SUITE_DIR]
"""
import json
import os
import shutil
import sys

suite = sys.argv[1] if len(sys.argv) > 1 else os.path.join("..", "shared", "testdata", "pngsuite")
out = os.path.join("Tests", "Fixtures", "pngsuite")
os.makedirs(os.path.join(out, "png"), exist_ok=True)
os.makedirs(os.path.join(out, "ref"), exist_ok=True)
for name in ("LICENSE", "PngSuite.README"):
    shutil.copy(os.path.join(suite, name), os.path.join(out, name))
count = 0
for fn in sorted(os.listdir(os.path.join(suite, "png"))):
    if not fn.endswith(".png"):
        continue
    shutil.copy(os.path.join(suite, "png", fn), os.path.join(out, "png", fn))
    stem = fn[:-4]
    src = os.path.join(suite, "json", stem + "_to8.json")
    if not os.path.exists(src):
        src = os.path.join(suite, "json", stem + ".json")
    if not os.path.exists(src):
        continue
    values = json.load(open(src))
    if max(values) <= 255 and (src.endswith("_to8.json") or "16" not in stem[-2:]):
        with open(os.path.join(out, "ref", stem + ".rgba"), "wb") as f:
            f.write(bytes(values))
    else:  # a 16-bit reference with no 8-bit variant: keep 16 bits, little-endian
        with open(os.path.join(out, "ref", stem + ".rgba16"), "wb") as f:
            f.write(b"".join(v.to_bytes(2, "little") for v in values))
    count += 1
print(f"copied the suite, wrote {count} references")
