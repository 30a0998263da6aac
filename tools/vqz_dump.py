#!/usr/bin/env python3
"""Independent reader (and validator) of the `.vqz` container format.

Written from docs/FORMAT.md alone, as the second implementation the format document mentions:
it shares no code with the Swift reader/writer, so that a misunderstanding of the specification
cannot pass both.

Usage:
    python3 tools/vqz_dump.py FILE [--json] [--model MODEL.vqzm --prior PRIOR.vqzp]
    python3 tools/vqz_dump.py --self-test

Plain Python 3 standard library; zstd is reached through ctypes on the system `libzstd.so.1`.
Decoding a prior-coded token section (version 1.2, with `--model` and `--prior`) also needs NumPy,
used only for exact integer arithmetic (int64 arrays, explicit 32-bit wrapping, never floats).

Human mode prints one `Field_Name: value` line per header field, in the specification's order,
then a summary of the sections. `--json` prints one JSON object (header fields under their exact
specification names, the flag booleans, the decoded planes / values / alpha samples, and the
metadata entries).

Version 1.1 (read by this reader; every 1.0 file is a valid 1.1 file) adds `Metadata_Section_Size`
after the `Alphabet_Size` table and the metadata section (PNG ancillary chunks, one zstd frame).
A 1.0 file has no such field: it is reported as 0, and `Metadata` as an empty list.

Version 1.2 (read by this reader; every 1.1 file is a valid 1.2 file) adds Flags bit 3
`Token_Prior`: the token section is `Prior_ID`, `Coded_Level`, the `Stream_Size` table and one
rANS stream per plane, driven by a learned integer-only token prior (a `.vqzp` file, in the
model-file container of docs/MODEL-FORMAT.md) whose last input slot is the level slot
Λ = `Coded_Level` − 1. Such a file reports `Prior_ID`, `Coded_Level` and `Stream_Size`; without `--model` and
`--prior` the whole container is checked but the token values are not decoded (`Planes` is null);
with them the streams are decoded exactly as docs/FORMAT.md and docs/MODEL-FORMAT.md specify.

Every rule the specification states as a MUST for a reader is checked, in the order of the
specification. A violation prints exactly one line

    vqz_dump: error: <field or check>: <what was found vs expected>

on stderr, nothing on stdout, and exits with status 1.
"""

import ctypes
import ctypes.util
import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import zlib

# ---------------------------------------------------------------------------------------------
# Constants from docs/FORMAT.md
# ---------------------------------------------------------------------------------------------

SIGNATURE = b"\x89VQZ\r\n\x1a\n"
KNOWN_VERSION_MAJOR = 1
READER_VERSION_MINOR = 2          # this reader implements version 1.2
HEADER_SIZE_MIN = 76
HEADER_SIZE_MAX = 4096
FIXED_HEADER_BYTES = 72           # Header_Size = 72 + 4 * Alphabet_Count in version 1.0
FIXED_HEADER_BYTES_1_1 = 76       # Header_Size = 76 + 4 * Alphabet_Count in version 1.1
MAX_METADATA_BYTES = 1 << 24      # 16 777 216: decompressed metadata section
METADATA_CONTENT_MIN = 8          # one entry head
METADATA_ENTRY_HEAD = 8           # Entry_Type (4) + Entry_Length (4)
ALPHABET_TABLE_OFFSET = 68
MAX_SIDE = 1_048_576
MAX_PIXELS_DEFAULT = 1 << 28      # 268 435 456
MAX_TOKEN_BYTES_DEFAULT = 1 << 30  # 1 073 741 824
DOWNSAMPLE_MAX = 64
ALPHABET_MIN = 2
ALPHABET_MAX = 65_536
SOURCE_BIT_DEPTHS = (1, 2, 4, 8, 16)

FLAG_ALPHA_PRESENT = 0x01
FLAG_GRAY = 0x02
FLAG_TOKEN_DICTIONARY = 0x04
FLAG_TOKEN_PRIOR = 0x08           # version 1.2
FLAGS_RESERVED = 0xF0
TOKEN_PRIOR_MIN_MINOR = 2         # a writer MUST write Version_Minor 2 with Token_Prior

# Prior-coded token section (version 1.2).
PRIOR_ID_BYTES = 16
CODED_LEVEL_OFFSET = 16           # Coded_Level (u8) right after Prior_ID
PRIOR_HEAD_BYTES = 17             # Prior_ID + Coded_Level, before the Stream_Size table
CODED_LEVEL_MAX = 255
STREAM_SIZE_MIN = 4               # the 4-byte final coder state
RANS_LOW = 1 << 23                # state x in [2^23, 2^31)
RANS_HIGH = 1 << 31
RANS_PROB_BITS = 16               # probabilities in units of 2^-16

ZSTD_FRAME_MAGIC = 0xFD2FB528
ZSTD_CONTENTSIZE_UNKNOWN = (1 << 64) - 1
ZSTD_CONTENTSIZE_ERROR = (1 << 64) - 2
ZSTD_c_contentSizeFlag = 200      # values from /usr/include/zstd.h (ZSTD_cParameter)
ZSTD_c_checksumFlag = 201
ZSTD_c_dictIDFlag = 202
ZSTD_c_compressionLevel = 100

# Header field names in specification order (the order of the header table).
HEADER_FIELDS = (
    "Signature", "Version_Major", "Version_Minor", "Header_Size", "Payload_Kind", "Flags",
    "Source_Bit_Depth", "Downsample_Factor", "Image_Width", "Image_Height", "Grid_Width",
    "Grid_Height", "Level", "Plane_Count", "Alphabet_Count", "Symbol_Layout", "Quant_Step",
    "Model_ID", "Token_Section_Size", "Alpha_Section_Size", "Payload_CRC32", "Alphabet_Size",
    "Metadata_Section_Size", "Header_CRC32",
)

# Offsets 0 .. 68: Signature .. Payload_CRC32 (Quant_Step read as its raw u32 bit pattern).
FIXED_STRUCT = struct.Struct("<8sBBHBBBBIIIIBBBBI16sIII")
assert FIXED_STRUCT.size == ALPHABET_TABLE_OFFSET


class Reject(Exception):
    """A violation of the format: `field` names the field or check, `detail` says found/expected."""

    def __init__(self, field, detail):
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


def ceil_div(a, b):
    return -(-a // b)


def crc32(data):
    """CRC-32/ISO-HDLC (zlib's), as the spec requires."""
    return zlib.crc32(data) & 0xFFFFFFFF


def zstd_compress_bound(n):
    """ZSTD_COMPRESSBOUND from zstd.h (the formula, so the limit does not depend on the library)."""
    if n >= 0xFF00FF00FF00FF00:
        return 0
    margin = ((128 << 10) - n) >> 11 if n < (128 << 10) else 0
    return n + (n >> 8) + margin


def hex_bytes(b):
    return " ".join(f"{x:02X}" for x in b)


def quant_float(bits):
    return struct.unpack("<f", struct.pack("<I", bits))[0]


# ---------------------------------------------------------------------------------------------
# zstd through ctypes
# ---------------------------------------------------------------------------------------------

class Zstd:
    _lib = None

    @classmethod
    def lib(cls):
        if cls._lib is not None:
            return cls._lib
        names = []
        found = ctypes.util.find_library("zstd")
        if found:
            names.append(found)
        names += ["libzstd.so.1", "libzstd.so", "libzstd.dylib", "libzstd.1.dylib"]
        last = None
        lib = None
        for name in names:
            try:
                lib = ctypes.CDLL(name)
                break
            except OSError as e:
                last = e
        if lib is None:
            raise Reject("zstd", f"cannot load the zstd library ({last}), expected libzstd.so.1")
        sz, vp, cp = ctypes.c_size_t, ctypes.c_void_p, ctypes.c_char_p
        lib.ZSTD_getFrameContentSize.argtypes = [cp, sz]
        lib.ZSTD_getFrameContentSize.restype = ctypes.c_ulonglong
        lib.ZSTD_findFrameCompressedSize.argtypes = [cp, sz]
        lib.ZSTD_findFrameCompressedSize.restype = sz
        lib.ZSTD_getDictID_fromFrame.argtypes = [cp, sz]
        lib.ZSTD_getDictID_fromFrame.restype = ctypes.c_uint
        lib.ZSTD_decompress.argtypes = [vp, sz, cp, sz]
        lib.ZSTD_decompress.restype = sz
        lib.ZSTD_isError.argtypes = [sz]
        lib.ZSTD_isError.restype = ctypes.c_uint
        lib.ZSTD_getErrorName.argtypes = [sz]
        lib.ZSTD_getErrorName.restype = cp
        lib.ZSTD_compressBound.argtypes = [sz]
        lib.ZSTD_compressBound.restype = sz
        lib.ZSTD_versionString.argtypes = []
        lib.ZSTD_versionString.restype = cp
        # Writer side (self-test only).
        lib.ZSTD_createCCtx.argtypes = []
        lib.ZSTD_createCCtx.restype = vp
        lib.ZSTD_freeCCtx.argtypes = [vp]
        lib.ZSTD_freeCCtx.restype = sz
        lib.ZSTD_CCtx_setParameter.argtypes = [vp, ctypes.c_int, ctypes.c_int]
        lib.ZSTD_CCtx_setParameter.restype = sz
        lib.ZSTD_compress2.argtypes = [vp, vp, sz, cp, sz]
        lib.ZSTD_compress2.restype = sz
        cls._lib = lib
        return lib

    @classmethod
    def error_name(cls, code):
        name = cls.lib().ZSTD_getErrorName(code)
        return name.decode("ascii", "replace") if name else f"error {code}"

    @classmethod
    def is_error(cls, code):
        return bool(cls.lib().ZSTD_isError(code))

    @classmethod
    def frame_content_size(cls, src):
        return cls.lib().ZSTD_getFrameContentSize(src, len(src))

    @classmethod
    def find_frame_compressed_size(cls, src):
        return cls.lib().ZSTD_findFrameCompressedSize(src, len(src))

    @classmethod
    def dict_id(cls, src):
        return cls.lib().ZSTD_getDictID_fromFrame(src, len(src))

    @classmethod
    def decompress(cls, src, size, field):
        buf = ctypes.create_string_buffer(max(size, 1))
        got = cls.lib().ZSTD_decompress(buf, size, src, len(src))
        if cls.is_error(got):
            raise Reject(field, f"zstd decompression failed: {cls.error_name(got)}")
        if got != size:
            raise Reject(field, f"decompressed {got} bytes, expected {size}")
        return buf.raw[:size]

    @classmethod
    def compress(cls, data, level=19, checksum=True, content_size=True):
        """Compress one frame with the given frame-header options (writer, self-test only)."""
        lib = cls.lib()
        cctx = lib.ZSTD_createCCtx()
        if not cctx:
            raise RuntimeError("ZSTD_createCCtx failed")
        try:
            for param, value in ((ZSTD_c_compressionLevel, level),
                                 (ZSTD_c_checksumFlag, 1 if checksum else 0),
                                 (ZSTD_c_contentSizeFlag, 1 if content_size else 0)):
                r = lib.ZSTD_CCtx_setParameter(cctx, param, value)
                if lib.ZSTD_isError(r):
                    raise RuntimeError(f"ZSTD_CCtx_setParameter: {cls.error_name(r)}")
            cap = lib.ZSTD_compressBound(len(data))
            buf = ctypes.create_string_buffer(cap)
            n = lib.ZSTD_compress2(cctx, buf, cap, data, len(data))
            if lib.ZSTD_isError(n):
                raise RuntimeError(f"ZSTD_compress2: {cls.error_name(n)}")
            return buf.raw[:n]
        finally:
            lib.ZSTD_freeCCtx(cctx)


# ---------------------------------------------------------------------------------------------
# Reader
# ---------------------------------------------------------------------------------------------

def check_frame(section, name, size_field, expected_size, want_dictionary, decompress=True,
                size_range=None):
    """Apply the zstd frame rules of the spec to one section; return its content (or None).

    Order: one zstd frame (magic); declared Frame_Content_Size equal to the expected size (or,
    with `size_range` = (lo, hi, text), within lo .. hi: the metadata section, whose size the
    header does not give); Content_Checksum_Flag set; the frame fills the section exactly (these
    three before any allocation); dictionary iff wanted; then decompression (zstd verifies the
    XXH64 checksum).
    """
    field = f"{name} section"
    if len(section) < 4:
        raise Reject(f"{field} zstd frame", f"section is {len(section)} bytes, "
                     f"too short for the 4-byte zstd frame magic")
    magic = struct.unpack_from("<I", section, 0)[0]
    if magic != ZSTD_FRAME_MAGIC:
        raise Reject(f"{field} zstd frame magic",
                     f"found 0x{magic:08X}, expected 0x{ZSTD_FRAME_MAGIC:08X} (one zstd frame)")
    if len(section) < 5:
        raise Reject(f"{field} zstd frame header", "section ends before Frame_Header_Descriptor")
    fhd = section[4]
    fcs = Zstd.frame_content_size(section)
    if fcs == ZSTD_CONTENTSIZE_ERROR:
        raise Reject(f"{field} zstd frame header", "invalid or truncated zstd frame header")
    if size_range is not None:
        lo, hi, range_text = size_range
        if fcs == ZSTD_CONTENTSIZE_UNKNOWN:
            raise Reject(f"{field} Frame_Content_Size",
                         f"not declared in the frame header, expected {range_text}")
        if not lo <= fcs <= hi:
            raise Reject(f"{field} Frame_Content_Size",
                         f"frame declares {fcs} bytes, expected {range_text}")
        expected_size = fcs
    if fcs == ZSTD_CONTENTSIZE_UNKNOWN:
        raise Reject(f"{field} Frame_Content_Size",
                     f"not declared in the frame header, expected {expected_size}")
    if fcs != expected_size:
        raise Reject(f"{field} Frame_Content_Size",
                     f"frame declares {fcs} bytes, expected {expected_size} (computed from the header)")
    if not (fhd >> 2) & 1:
        raise Reject(f"{field} Content_Checksum_Flag",
                     f"found 0 (Frame_Header_Descriptor 0x{fhd:02X}), expected 1")
    csize = Zstd.find_frame_compressed_size(section)
    if Zstd.is_error(csize):
        raise Reject(f"{field} zstd frame",
                     f"cannot find the frame's end: {Zstd.error_name(csize)} "
                     f"(frame must fill the {len(section)}-byte section exactly)")
    if csize != len(section):
        raise Reject(f"{field} zstd frame",
                     f"compressed frame size {csize} bytes, expected {size_field} = {len(section)} "
                     f"(the frame must fill the section exactly)")
    did = Zstd.dict_id(section)
    if want_dictionary and did == 0:
        raise Reject(f"{field} Dictionary_ID",
                     "frame declares no dictionary, expected one (Token_Dictionary is set)")
    if not want_dictionary and did != 0:
        expected = ("none (Token_Dictionary is 0)" if name == "token"
                    else f"none ({name} never uses one)")
        raise Reject(f"{field} Dictionary_ID", f"frame uses dictionary {did}, expected {expected}")
    if not decompress:
        return None
    return Zstd.decompress(section, expected_size, f"{field} zstd frame")


def split_prior_section(section, plane_count, grid_w, grid_h):
    """Split a prior-coded token section (Token_Prior, version 1.2) into Prior_ID, Coded_Level,
    the Stream_Size table and the streams. Order (the table's field order): the section holds
    Prior_ID, Coded_Level and the whole table; Coded_Level in Plane_Count .. 255; each Stream_Size
    in 4 .. 4 + 2 * Grid_Width * Grid_Height, plane 0 first; then the sizes add up to
    Token_Section_Size exactly. The streams are not decoded here, and Coded_Level is compared
    with the prior's stage count only by the decoder."""
    table_end = PRIOR_HEAD_BYTES + 4 * plane_count
    if len(section) < table_end:
        raise Reject("Stream_Size", f"Token_Section_Size = {len(section)} bytes, too short for "
                     f"Prior_ID, Coded_Level and the Stream_Size table: expected >= 17 + 4 * "
                     f"Plane_Count = {table_end}")
    prior_id = section[:PRIOR_ID_BYTES]
    coded_level = section[CODED_LEVEL_OFFSET]
    if not plane_count <= coded_level <= CODED_LEVEL_MAX:
        raise Reject("Coded_Level", f"found {coded_level}, expected Plane_Count = {plane_count} "
                     f".. {CODED_LEVEL_MAX} (the level the streams were coded for)")
    sizes = list(struct.unpack_from(f"<{plane_count}I", section, PRIOR_HEAD_BYTES))
    hi = STREAM_SIZE_MIN + 2 * grid_w * grid_h
    for p, size in enumerate(sizes):
        if not STREAM_SIZE_MIN <= size <= hi:
            raise Reject("Stream_Size", f"plane {p}: found {size}, expected {STREAM_SIZE_MIN} .. "
                         f"4 + 2 * Grid_Width * Grid_Height = {hi}")
    total = table_end + sum(sizes)
    if total != len(section):
        raise Reject("Stream_Size", f"17 + 4 * Plane_Count + sum(Stream_Size) = {table_end} + "
                     f"{sum(sizes)} = {total}, expected Token_Section_Size = {len(section)}")
    streams = []
    pos = table_end
    for size in sizes:
        streams.append(section[pos:pos + size])
        pos += size
    return prior_id, coded_level, sizes, streams


# ---------------------------------------------------------------------------------------------
# Model-file container (docs/MODEL-FORMAT.md): the .vqzm model and the .vqzp token prior
# ---------------------------------------------------------------------------------------------

MODEL_SIGNATURE = b"\x89VQM\r\n\x1a\n"
MODEL_KNOWN_VERSION_MAJOR = 1
MODEL_HEADER_STRUCT = struct.Struct("<8sBBHIIIQQQQII")
MODEL_HEADER_BYTES = 64
assert MODEL_HEADER_STRUCT.size == MODEL_HEADER_BYTES
MODEL_METADATA_COUNT_MAX = 4096
MODEL_TENSOR_COUNT_MAX = 65_536
MODEL_FILE_SIZE_MAX = 1 << 32
MODEL_NAME_MAX = 255
MODEL_STRING_MAX = 65_536
MODEL_RANK_MAX = 8
MODEL_DIM_MAX = (1 << 31) - 1
MODEL_ELEMENTS_MAX = (1 << 31) - 1
DTYPE_F32, DTYPE_F16, DTYPE_U8 = 0, 1, 2
MODEL_DTYPES = {DTYPE_F32: ("f32", 4), DTYPE_F16: ("f16", 2), DTYPE_U8: ("u8", 1)}
VALUE_STRING, VALUE_I64, VALUE_F64 = 1, 2, 3
VALUE_TYPE_NAMES = {VALUE_STRING: "string", VALUE_I64: "i64", VALUE_F64: "f64"}
NAME_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_.")


def ceil64(a):
    return (a + 63) // 64 * 64


def name_problem(name):
    """None if `name` (bytes) is a valid metadata key / tensor name, else what is wrong."""
    if not 1 <= len(name) <= MODEL_NAME_MAX:
        return f"length {len(name)}, expected 1 .. {MODEL_NAME_MAX}"
    if any(b not in NAME_CHARS for b in name):
        return "has a byte outside [a-z0-9_.]"
    if name[:1] == b"." or name[-1:] == b".":
        return "starts or ends with '.'"
    if b".." in name:
        return "contains '..'"
    return None


class ModelFile:
    """A parsed model-file container: ordered metadata and named tensors (raw bytes)."""

    def __init__(self, role, metadata, tensors):
        self.role = role              # "model file" or "prior file", prefixes every error field
        self.metadata = metadata      # key -> (Value_Type, value), in file order
        self.tensors = tensors        # name -> (DType, dims tuple, raw bytes), in file order


def parse_model_file(data, role):
    """Validate a model-file container (docs/MODEL-FORMAT.md) in the order the spec gives and
    return a ModelFile; raise Reject (field prefixed by `role`) on the first rule broken."""
    data = bytes(data)
    n = len(data)

    def rej(field, detail):
        return Reject(f"{role} {field}", detail)

    # (1) at least 64 bytes; (2) Signature; (3) Version_Major; (4) Header_CRC32.
    if n < MODEL_HEADER_BYTES:
        raise rej("file length", f"found {n} bytes, expected at least {MODEL_HEADER_BYTES} "
                  f"(the header) (truncated)")
    (sig, vmaj, vmin, flags, meta_count, tensor_count, reserved1, table_off, data_off, data_size,
     file_size, reserved2, hcrc_stored) = MODEL_HEADER_STRUCT.unpack_from(data, 0)
    if sig != MODEL_SIGNATURE:
        raise rej("Signature", f"found {hex_bytes(sig)}, expected {hex_bytes(MODEL_SIGNATURE)}")
    if vmaj != MODEL_KNOWN_VERSION_MAJOR:
        raise rej("Version_Major", f"found {vmaj}, expected {MODEL_KNOWN_VERSION_MAJOR}")
    hcrc = crc32(data[:60])
    if hcrc != hcrc_stored:
        raise rej("Header_CRC32", f"found 0x{hcrc_stored:08X}, expected 0x{hcrc:08X} "
                  f"(CRC-32 of bytes 0 .. 59)")
    # (5) Flags and the reserved fields.
    if flags != 0:
        raise rej("Flags", f"found 0x{flags:04X}, expected 0 (all bits reserved)")
    if reserved1 != 0:
        raise rej("Reserved_1", f"found {reserved1}, expected 0")
    if reserved2 != 0:
        raise rej("Reserved_2", f"found {reserved2}, expected 0")
    # (6) counts and File_Size against the limits.
    if not 1 <= meta_count <= MODEL_METADATA_COUNT_MAX:
        raise rej("Metadata_Count", f"found {meta_count}, expected 1 .. {MODEL_METADATA_COUNT_MAX}")
    if tensor_count > MODEL_TENSOR_COUNT_MAX:
        raise rej("Tensor_Count", f"found {tensor_count}, expected 0 .. {MODEL_TENSOR_COUNT_MAX}")
    if not MODEL_HEADER_BYTES + 4 <= file_size <= MODEL_FILE_SIZE_MAX:
        raise rej("File_Size", f"found {file_size}, expected {MODEL_HEADER_BYTES + 4} .. "
                  f"{MODEL_FILE_SIZE_MAX} (header + File_CRC32 .. 4 GiB)")
    # (7) the file's length; (8) File_CRC32.
    if n != file_size:
        kind = "truncated" if n < file_size else "trailing bytes"
        raise rej("file length", f"found {n} bytes, expected File_Size = {file_size} ({kind})")
    fcrc_stored = struct.unpack_from("<I", data, file_size - 4)[0]
    fcrc = crc32(data[:file_size - 4])
    if fcrc != fcrc_stored:
        raise rej("File_CRC32", f"found 0x{fcrc_stored:08X}, expected 0x{fcrc:08X} "
                  f"(CRC-32 of bytes 0 .. {file_size - 5})")

    # (9) the metadata, then the tensor table, each field when it is read.
    end = file_size - 4
    pos = MODEL_HEADER_BYTES

    def need(count, what):
        if pos + count > end:
            raise rej(what, f"needs {count} bytes at offset {pos}, only {max(end - pos, 0)} "
                      f"before File_CRC32 (runs past the end)")

    def read_name(where, field):
        """A u16-length-prefixed name (a metadata key or a tensor name), checked and decoded."""
        nonlocal pos
        need(2, f"{where} {field}_Length")
        length = struct.unpack_from("<H", data, pos)[0]
        if not 1 <= length <= MODEL_NAME_MAX:
            raise rej(f"{where} {field}_Length", f"found {length}, expected 1 .. {MODEL_NAME_MAX}")
        pos += 2
        need(length, f"{where} {field}")
        raw = data[pos:pos + length]
        pos += length
        problem = name_problem(raw)
        if problem:
            raise rej(f"{where} {field}", f"{raw!r}: {problem} (not a valid name)")
        return raw.decode("ascii")

    metadata = {}
    for i in range(meta_count):
        key = read_name(f"metadata entry {i}", "Key")
        if key in metadata:
            raise rej(f"metadata {key}", "duplicate key, expected keys unique within the file")
        need(1, f"metadata {key} Value_Type")
        vtype = data[pos]
        pos += 1
        if vtype == VALUE_STRING:
            need(4, f"metadata {key} value")
            slen = struct.unpack_from("<I", data, pos)[0]
            pos += 4
            if slen > MODEL_STRING_MAX:
                raise rej(f"metadata {key} value", f"string length {slen}, expected 0 .. "
                          f"{MODEL_STRING_MAX}")
            need(slen, f"metadata {key} value")
            try:
                value = data[pos:pos + slen].decode("utf-8", "strict")
            except UnicodeDecodeError as e:
                raise rej(f"metadata {key} value", f"string is not valid UTF-8 ({e.reason} at "
                          f"byte {e.start})") from None
            pos += slen
        elif vtype == VALUE_I64:
            need(8, f"metadata {key} value")
            value = struct.unpack_from("<q", data, pos)[0]
            pos += 8
        elif vtype == VALUE_F64:
            need(8, f"metadata {key} value")
            value = struct.unpack_from("<d", data, pos)[0]
            pos += 8
            if value != value or value in (float("inf"), float("-inf")):
                raise rej(f"metadata {key} value", f"found {value!r}, expected a finite f64")
        else:
            raise rej(f"metadata {key} Value_Type", f"found {vtype}, expected 1 (string), 2 (i64) "
                      f"or 3 (f64)")
        metadata[key] = (vtype, value)
    meta_end = pos
    if "architecture" not in metadata:
        raise rej("metadata architecture", "missing, expected a string naming the network")
    if metadata["architecture"][0] != VALUE_STRING:
        raise rej("metadata architecture", f"found a {VALUE_TYPE_NAMES[metadata['architecture'][0]]}"
                  f" value, expected a string")

    tensors = {}
    layout = []                      # (section offset, byte length) per tensor, in table order
    next_off = 0
    for i in range(tensor_count):
        name = read_name(f"tensor entry {i}", "Name")
        if name in tensors:
            raise rej(f"tensor {name}", "duplicate name, expected names unique within the file")
        need(2, f"tensor {name} DType")
        dtype, rank = data[pos], data[pos + 1]
        pos += 2
        if dtype not in MODEL_DTYPES:
            raise rej(f"tensor {name} DType", f"found {dtype}, expected 0 (f32), 1 (f16) or 2 (u8)")
        if rank > MODEL_RANK_MAX:
            raise rej(f"tensor {name} Rank", f"found {rank}, expected 0 .. {MODEL_RANK_MAX}")
        need(4 * rank, f"tensor {name} Dims")
        dims = struct.unpack_from(f"<{rank}I", data, pos)
        pos += 4 * rank
        count = 1
        for d in dims:
            if not 1 <= d <= MODEL_DIM_MAX:
                raise rej(f"tensor {name} Dims", f"dimension {d} in {list(dims)}, expected each "
                          f"1 .. {MODEL_DIM_MAX}")
            count *= d
        if count > MODEL_ELEMENTS_MAX:
            raise rej(f"tensor {name} Dims", f"{list(dims)} has {count} elements, expected <= "
                      f"{MODEL_ELEMENTS_MAX}")
        need(8, f"tensor {name} Data_Offset_In_Section")
        off = struct.unpack_from("<Q", data, pos)[0]
        pos += 8
        if off != next_off:
            why = ("0 for the first tensor" if i == 0
                   else "the end of the previous tensor, rounded up to 64")
            raise rej(f"tensor {name} Data_Offset_In_Section",
                      f"found {off}, expected {next_off} ({why})")
        nbytes = count * MODEL_DTYPES[dtype][1]
        layout.append((off, nbytes))
        tensors[name] = (dtype, tuple(dims), None)
        next_off = ceil64(off + nbytes)
    table_end = pos

    # (10) Tensor_Table_Offset, Data_Offset, Data_Size (and File_Size, derived from them).
    if table_off != meta_end:
        raise rej("Tensor_Table_Offset", f"found {table_off}, expected 64 + the metadata entries' "
                  f"size = {meta_end}")
    want = ceil64(table_end)
    if data_off != want:
        raise rej("Data_Offset", f"found {data_off}, expected ceil64(Tensor_Table_Offset + the "
                  f"tensor entries' size) = ceil64({table_end}) = {want}")
    want = ceil64(layout[-1][0] + layout[-1][1]) if layout else 0
    if data_size != want:
        raise rej("Data_Size", f"found {data_size}, expected ceil64(end of the last tensor's data) "
                  f"= {want}")
    want = data_off + data_size + 4
    if file_size != want:
        raise rej("File_Size", f"found {file_size}, expected Data_Offset + Data_Size + 4 = {want}")

    # (11) the padding bytes: after the tensor table, between and after the tensors' data.
    if data[table_end:data_off] != bytes(data_off - table_end):
        raise rej("padding", f"nonzero byte in the padding after the tensor table "
                  f"(offsets {table_end} .. {data_off - 1}), expected 0")
    cursor = 0
    for (off, nbytes), name in zip(layout, tensors):
        if data[data_off + cursor:data_off + off] != bytes(off - cursor):
            raise rej("padding", f"nonzero byte in the padding before tensor {name}, expected 0")
        cursor = off + nbytes
    if data[data_off + cursor:data_off + data_size] != bytes(data_size - cursor):
        raise rej("padding", "nonzero byte in the padding after the last tensor, expected 0")
    for (off, nbytes), name in zip(layout, list(tensors)):
        dtype, dims, _ = tensors[name]
        tensors[name] = (dtype, dims, data[data_off + off:data_off + off + nbytes])
    return ModelFile(role, metadata, tensors)


# ---------------------------------------------------------------------------------------------
# Token prior (docs/MODEL-FORMAT.md, "Token prior files") and the rANS decoder (docs/FORMAT.md,
# "Prior-coded token section")
# ---------------------------------------------------------------------------------------------

PRIOR_ARCHITECTURE = "vqz-token-prior-v1"
PRIOR_STAGES_MAX = 255
PRIOR_HIDDEN_MAX = 1024
PRIOR_INPUT_SHIFT_MAX = 24
PRIOR_WEIGHT_MAX = 2047           # wp, w2 (i16)
PRIOR_DENSE_MAX = 2047            # clamp of the partial reconstruction r_d
PRIOR_CBQ_MAX = 1 << 30           # clamp of cbq_m[k][d], each within +-2^30
PRIOR_K_MIN, PRIOR_K_MAX = 2, 65_536   # prior.codebook_size
PRIOR_D_MAX = 1024                # prior.latent_channels, 1 .. 1024
PRIOR_SLOTS_FIRST = 7             # stage 0: L, U, UL, UR, LL, UU, and last the level slot
PRIOR_SLOTS_LATER = 10            # stages >= 1: L .. UU, P, PR, PD, and last the level slot
PRIOR_SLOT_NAMES = ("L", "U", "UL", "UR", "LL", "UU", "P", "PR", "PD")   # then the level slot
PRIOR_B1_MAX = 1 << 26            # b1 (i32); emb = v * 2^s_l, each within +-2^26
PRIOR_EMB_SHIFT_MAX = 16          # prior.<l>.emb_shift s_l, 0 .. 16
PRIOR_I16_MIN, PRIOR_I16_MAX = -(1 << 15), (1 << 15) - 1   # the stored emb values v (i16)
PRIOR_B2_MAX = 1 << 28            # b2 (i32)
PRIOR_MULT_MAX = 1 << 31          # mult (i64), 0 .. 2^31
PRIOR_LOGIT_SCALE_MAX = (1 << 31) - 1
PRIOR_HIDDEN_CLAMP = 4095
PRIOR_U_MAX = 8191
PRIOR_TOTAL = 1 << RANS_PROB_BITS  # every table sums to 2^16


def wrap32(v):
    """A Python int reduced to 32-bit two's complement (the spec's wrapping 32-bit sums)."""
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def iroot(n, k):
    """floor(n ** (1/k)) for integers n >= 0, k >= 1, exactly."""
    lo, hi = 0, 1 << (n.bit_length() // k + 1)
    while lo < hi:           # largest m with m^k <= n
        mid = (lo + hi + 1) // 2
        if mid ** k <= n:
            lo = mid
        else:
            hi = mid - 1
    return lo


def exp_table():
    """EXP[n] = round(2^24 * 2^(-n/256)), n = 0 .. 255, with integers only: 2x = 2^(25 - n/256)
    is the 256th root of 2^(6400 - n), and round(x) = floor((floor(2x) + 1) / 2)."""
    return [(iroot(1 << (6400 - n), 256) + 1) >> 1 for n in range(256)]


EXP_TABLE = exp_table()
assert EXP_TABLE[0] == 16_777_216 and EXP_TABLE[1] == 16_731_851 and EXP_TABLE[255] == 8_411_352
# e = EXP[u AND 255] >> (u >> 8) for every u = 0 .. 8191 (a lookup of the same integers).
EXP_FULL = [EXP_TABLE[u & 255] >> (u >> 8) for u in range(PRIOR_U_MAX + 1)]


# IEEE-754 binary16 / binary32: (exponent bits, fraction bits, bias).
FLOAT_FORMATS = {DTYPE_F16: (5, 10, 15), DTYPE_F32: (8, 23, 127)}


def float_scaled_round(bits, dtype, shift):
    """The f16 or f32 value with bit pattern `bits`, times 2^shift, rounded to the nearest
    integer with ties away from zero, exactly (integers only: value = mag * 2^e2). None for
    infinities and NaN. (An f16 widened to f32 is the same real number, so one routine serves.)"""
    ebits, fbits, bias = FLOAT_FORMATS[dtype]
    sign = -1 if (bits >> (ebits + fbits)) & 1 else 1
    exp = (bits >> fbits) & ((1 << ebits) - 1)
    man = bits & ((1 << fbits) - 1)
    if exp == (1 << ebits) - 1:
        return None
    if exp == 0:
        mag, e2 = man, 1 - bias - fbits                    # subnormal
    else:
        mag, e2 = man | (1 << fbits), exp - bias - fbits   # normal: (2^fbits + man) * 2^e2
    s = e2 + shift
    if s >= 0:
        q = mag << s
    else:
        q = (mag + (1 << (-s - 1))) >> -s   # round half up on the magnitude = away from zero
    return sign * q


class PriorStage:
    pass


def prior_slots(l):
    """Number of slot tokens of stage `l`: 7 at stage 0, 10 at later stages (the last one the
    level slot Λ = Coded_Level - 1)."""
    return PRIOR_SLOTS_FIRST if l == 0 else PRIOR_SLOTS_LATER


def prior_dense_size(l, D):
    """G, the dense input's length: 0 at stage 0, 2*D (r and the neighbour mean n) after."""
    return 0 if l == 0 else 2 * D


class TokenPrior:
    """The validated integer weights of a .vqzp file (lists of Python ints, flat)."""
    pass


def load_token_prior(mf):
    """Check a parsed prior file against MODEL-FORMAT.md "Token prior files" and return its
    weights. Rejects, naming the key or tensor: a missing key, a value of the wrong type or out
    of range, a tensor that is not a rank-1 u8 tensor of the listed byte length, a weight out of
    range."""
    role = mf.role

    def rej(field, detail):
        return Reject(f"{role} {field}", detail)

    def get(key, vtype):
        if key not in mf.metadata:
            raise rej(key, f"missing, expected an {VALUE_TYPE_NAMES[vtype]} value")
        t, v = mf.metadata[key]
        if t != vtype:
            raise rej(key, f"found a {VALUE_TYPE_NAMES[t]} value, expected {VALUE_TYPE_NAMES[vtype]}")
        return v

    def get_int(key, lo, hi, note=""):
        v = get(key, VALUE_I64)
        if not lo <= v <= hi:
            raise rej(key, f"found {v}, expected {lo} .. {hi}{note}")
        return v

    arch = get("architecture", VALUE_STRING)
    if arch != PRIOR_ARCHITECTURE:
        raise rej("architecture", f"found {arch!r}, expected {PRIOR_ARCHITECTURE!r}")
    mid = get("prior.model_id", VALUE_STRING)
    if len(mid) != 32 or any(c not in "0123456789abcdefABCDEF" for c in mid):
        raise rej("prior.model_id", f"found {mid!r}, expected 32 hex digits")
    get("prior.model_name", VALUE_STRING)
    pr = TokenPrior()
    pr.model_id = bytes.fromhex(mid)
    pr.S = get_int("prior.stages", 1, PRIOR_STAGES_MAX)
    pr.K = get_int("prior.codebook_size", PRIOR_K_MIN, PRIOR_K_MAX)
    if pr.S > pr.K + 1:
        raise rej("prior.stages", f"found {pr.S}, expected at most K + 1 = {pr.K + 1} "
                  f"(prior.codebook_size K = {pr.K}: the level slot's token Λ = Coded_Level - 1 "
                  f"<= S - 1 must be <= K)")
    pr.D = get_int("prior.latent_channels", 1, PRIOR_D_MAX)
    pr.H = get_int("prior.hidden", 1, PRIOR_HIDDEN_MAX)
    pr.F = get_int("prior.input_shift", -PRIOR_INPUT_SHIFT_MAX, PRIOR_INPUT_SHIFT_MAX)
    K, D, H = pr.K, pr.D, pr.H

    def tensor(name, width, count, lo, hi, what, note=""):
        if name not in mf.tensors:
            raise rej(name, f"missing, expected a rank-1 u8 tensor of {count} {what} values")
        dtype, dims, raw = mf.tensors[name]
        if dtype != DTYPE_U8 or len(dims) != 1:
            raise rej(name, f"found {MODEL_DTYPES[dtype][0]} {list(dims)}, expected a rank-1 u8 "
                      f"tensor ({count} little-endian {what} values)")
        if len(raw) != count * width:
            raise rej(name, f"found {len(raw)} bytes, expected {count} {what} values = "
                      f"{count * width} bytes")
        code = {2: "h", 4: "i", 8: "q"}[width]
        vals = struct.unpack(f"<{count}{code}", raw)
        if min(vals) < lo or max(vals) > hi:
            i = next(i for i, v in enumerate(vals) if not lo <= v <= hi)
            raise rej(name, f"element {i}: found {vals[i]}, expected {lo} .. {hi}{note}")
        return vals

    pr.stages = []
    for l in range(pr.S):
        st = PriorStage()
        st.c = get_int(f"prior.{l}.logit_scale", 1, PRIOR_LOGIT_SCALE_MAX)
        st.emb_shift = s = get_int(f"prior.{l}.emb_shift", 0, PRIOR_EMB_SHIFT_MAX)
        st.slots = prior_slots(l)
        st.G = prior_dense_size(l, D)
        st.wp = (tensor(f"prior.{l}.wp", 2, H * st.G, -PRIOR_WEIGHT_MAX, PRIOR_WEIGHT_MAX, "i16")
                 if l >= 1 else None)
        st.b1 = tensor(f"prior.{l}.b1", 4, H, -PRIOR_B1_MAX, PRIOR_B1_MAX, "i32")
        # emb: i16 values v, the arithmetic's emb = v * 2^s_l within +-2^26 (inclusive), i.e.
        # |v| <= 2^(26 - s_l) (2^26 is a multiple of 2^s_l, s_l <= 16); the i16 range too.
        vmax = min(PRIOR_I16_MAX, PRIOR_B1_MAX >> s)
        vmin = max(PRIOR_I16_MIN, -(PRIOR_B1_MAX >> s))
        st.emb_v = tensor(f"prior.{l}.emb", 2, st.slots * (K + 1) * H, vmin, vmax, "i16",
                          f" (emb_shift s_{l} = {s}: v * 2^{s} must be within +-2^26)")
        st.emb = [v << s for v in st.emb_v] if s else list(st.emb_v)
        st.mult = tensor(f"prior.{l}.mult", 8, H, 0, PRIOR_MULT_MAX, "i64")
        st.w2 = tensor(f"prior.{l}.w2", 2, K * H, -PRIOR_WEIGHT_MAX, PRIOR_WEIGHT_MAX, "i16")
        st.b2 = tensor(f"prior.{l}.b2", 4, K, -PRIOR_B2_MAX, PRIOR_B2_MAX, "i32")
        pr.stages.append(st)
    return pr


def quantized_codebook(mf, m, K, D, F):
    """cbq_m[k][d]: codebook `vq.codebook.<m>` ([K, D], f16 widened to f32, or f32: the same
    real number either way) times 2^F, rounded to the nearest integer with ties away from zero
    (exactly), then clamped to -2^30 .. 2^30; a flat list of K*D ints."""
    name = f"vq.codebook.{m}"
    if name not in mf.tensors:
        raise Reject(f"{mf.role} {name}", f"missing, expected an f16 or f32 [{K}, {D}] codebook "
                     f"(the file has stage {m + 1})")
    dtype, dims, raw = mf.tensors[name]
    if dtype not in FLOAT_FORMATS or list(dims) != [K, D]:
        raise Reject(f"{mf.role} {name}", f"found {MODEL_DTYPES[dtype][0]} {list(dims)}, expected "
                     f"f16 or f32 [{K}, {D}] (the prior's codebook_size, latent_channels)")
    memo = {}
    out = []
    code = "H" if dtype == DTYPE_F16 else "I"
    for i, bits in enumerate(struct.unpack(f"<{K * D}{code}", raw)):
        q = memo.get(bits)
        if q is None:
            q = float_scaled_round(bits, dtype, F)
            if q is None:
                tname, width = MODEL_DTYPES[dtype]
                raise Reject(f"{mf.role} {name}", f"element {i} (row {i // D}, column {i % D}) is "
                             f"not finite ({tname} bits 0x{bits:0{2 * width}X})")
            q = max(-PRIOR_CBQ_MAX, min(PRIOR_CBQ_MAX, q))
            memo[bits] = q
        out.append(q)
    return out


def prior_slot_tokens(planes, l, i, j, h, w, K, coded_level):
    """Step 1, literally: the slot tokens of the stage-`l` token at (i, j), in slot order L, U,
    UL, UR, LL, UU (and P, PR, PD for l >= 1), K for a position outside the grid, and last the
    level slot Λ = Coded_Level - 1. `planes[m]` is plane m as a flat raster list (only the
    positions decoded before (i, j) are read)."""
    def t(m, ii, jj):
        return planes[m][ii * w + jj] if 0 <= ii < h and 0 <= jj < w else K

    toks = [t(l, i, j - 1), t(l, i - 1, j), t(l, i - 1, j - 1), t(l, i - 1, j + 1),
            t(l, i, j - 2), t(l, i - 2, j)]
    if l >= 1:
        toks += [t(l - 1, i, j), t(l - 1, i, j + 1), t(l - 1, i + 1, j)]
    toks.append(coded_level - 1)
    return toks


def prior_dense_input(cbq, planes, l, i, j, h, w, D):
    """Step 2, literally: x = (r(i, j)_0 .. r(i, j)_{D-1}, n_0 .. n_{D-1}) for l >= 1 (empty for
    l = 0), r(i, j)_d = clamp(wrap32(sum_{m<l} cbq_m[t_m(i, j)][d]), -2047, 2047) and
    n_d = (r(i, j-1)_d + r(i, j+1)_d + r(i-1, j)_d + r(i+1, j)_d) >> 2, a neighbour outside the
    grid replaced by r(i, j)."""
    if l == 0:
        return []

    def r(ii, jj):
        out = []
        for d in range(D):
            s = 0
            for m in range(l):
                s = wrap32(s + cbq[m][planes[m][ii * w + jj] * D + d])
            out.append(max(-PRIOR_DENSE_MAX, min(PRIOR_DENSE_MAX, s)))
        return out

    here = r(i, j)
    nbrs = [r(ii, jj) if 0 <= ii < h and 0 <= jj < w else here
            for ii, jj in ((i, j - 1), (i, j + 1), (i - 1, j), (i + 1, j))]
    return here + [(nbrs[0][d] + nbrs[1][d] + nbrs[2][d] + nbrs[3][d]) >> 2 for d in range(D)]


def prior_table_from_logits(z, c, K):
    """Steps 5 and 6, literally: the frequency table from the logits z (Python ints)."""
    zmax = max(z)
    kstar = z.index(zmax)              # the smallest k with z_k = z*
    e = []
    for k in range(K):
        u = min(((zmax - z[k]) * c) >> 24, PRIOR_U_MAX)
        e.append(EXP_TABLE[u & 255] >> (u >> 8))
    total = sum(e)
    r = ((PRIOR_TOTAL - K) << 32) // total
    freq = [1 + ((ek * r) >> 32) for ek in e]
    freq[kstar] += PRIOR_TOTAL - sum(freq)
    return freq


def prior_freq_reference(pr, cbq, planes, l, i, j, h, w, coded_level):
    """The frequency table of the stage-`l` token at (i, j) of a file with `coded_level`,
    literally as MODEL-FORMAT.md states it, with Python integers (exact) and an explicit 32-bit
    wrap after each 32-bit sum. Slow: the self-test uses it to check the vectorised decoder
    (`planes[m]` is a flat raster list)."""
    z = prior_logits_reference(pr, cbq, planes, l, i, j, h, w, coded_level)
    return prior_table_from_logits(z, pr.stages[l].c, pr.K)


def prior_logits_reference(pr, cbq, planes, l, i, j, h, w, coded_level):
    """Steps 1 to 4, literally: the logits z_0 .. z_{K-1}."""
    K, D, H = pr.K, pr.D, pr.H
    st = pr.stages[l]
    slot_tokens = prior_slot_tokens(planes, l, i, j, h, w, K, coded_level)
    x = prior_dense_input(cbq, planes, l, i, j, h, w, D)
    G = len(x)
    assert len(slot_tokens) == st.slots and G == prior_dense_size(l, D)
    hidden = []
    for jj in range(H):
        a = st.b1[jj]
        for g in range(G):
            a = wrap32(a + st.wp[jj * G + g] * x[g])
        for slot, t in enumerate(slot_tokens):
            a = wrap32(a + st.emb[(slot * (K + 1) + t) * H + jj])
        hidden.append(max(0, min(PRIOR_HIDDEN_CLAMP, (a * st.mult[jj] + (1 << 23)) >> 24)))
    z = []
    for k in range(K):
        s = st.b2[k]
        for jj in range(H):
            s = wrap32(s + st.w2[k * H + jj] * hidden[jj])
        z.append(s)
    return z


class PriorDecoder:
    """Decodes prior-coded token sections with one model (.vqzm) and one prior (.vqzp), given as
    bytes. Both files are parsed and checked on first use, so that the .vqz container's own
    errors come first (its sections are checked in file order)."""

    def __init__(self, model_bytes, prior_bytes):
        self.model_bytes = bytes(model_bytes)
        self.prior_bytes = bytes(prior_bytes)
        self.model_id = hashlib.sha256(self.model_bytes).digest()[:16]
        self.prior_id = hashlib.sha256(self.prior_bytes).digest()[:16]
        self._model = None
        self._prior = None
        self._np = None
        self._arrays = {}
        self._cbq = {}

    def _numpy(self):
        if self._np is None:
            try:
                import numpy
            except ImportError:
                raise Reject("numpy", "cannot import numpy, needed to decode a prior-coded token "
                             "section (python3-numpy)") from None
            self._np = numpy
        return self._np

    def decode(self, model_id, prior_id, coded_level, streams, grid_w, grid_h, alphabet):
        """Return the planes (lists of ints, raster order) of a prior-coded token section."""
        np = self._numpy()
        plane_count = len(streams)
        if self.model_id != model_id:
            raise Reject("Model_ID", f"the file needs model {model_id.hex()}, the --model file has "
                         f"id {self.model_id.hex()} (first 16 bytes of its SHA-256)")
        if self.prior_id != prior_id:
            raise Reject("Prior_ID", f"the file needs prior {prior_id.hex()}, the --prior file has "
                         f"id {self.prior_id.hex()} (first 16 bytes of its SHA-256)")
        if self._prior is None:
            self._prior = load_token_prior(parse_model_file(self.prior_bytes, "prior file"))
        pr = self._prior
        if pr.model_id != model_id:
            raise Reject("prior.model_id", f"the prior belongs to model {pr.model_id.hex()}, "
                         f"expected the file's Model_ID {model_id.hex()}")
        if self._model is None:
            self._model = parse_model_file(self.model_bytes, "model file")
        if plane_count > pr.S:
            raise Reject("prior.stages", f"found {pr.S}, expected >= Plane_Count = {plane_count} "
                         f"(the prior codes planes 0 .. {pr.S - 1})")
        if coded_level > pr.S:
            raise Reject("Coded_Level", f"found {coded_level}, expected <= the prior's stages "
                         f"S = {pr.S} (the level slot Λ = Coded_Level - 1 <= S - 1)")
        for p in range(plane_count):
            a = alphabet[p] if len(alphabet) > 1 else alphabet[0]
            if a != pr.K:
                raise Reject("Alphabet_Size", f"plane {p}: found {a}, expected the prior's "
                             f"codebook_size K = {pr.K}")
        for m in range(plane_count):   # the model has the file's level: codebooks 0 .. L-1
            if m not in self._cbq:
                self._cbq[m] = quantized_codebook(self._model, m, pr.K, pr.D, pr.F)
        planes = []
        arrays = []
        for p, stream in enumerate(streams):
            arr = self._decode_plane(np, p, stream, arrays, grid_h, grid_w, coded_level)
            arrays.append(arr)
            planes.append([int(t) for t in arr.ravel()])
        return planes

    def _stage_arrays(self, np, l):
        """Stage `l`'s weights as int64 arrays (exact: every value fits in 32 bits)."""
        if l not in self._arrays:
            pr = self._prior
            st = pr.stages[l]
            i64 = np.int64
            d = {
                "b1": np.array(st.b1, dtype=i64),
                "emb": np.array(st.emb, dtype=i64).reshape(st.slots, pr.K + 1, pr.H),
                "mult": np.array(st.mult, dtype=i64),
                "w2": np.array(st.w2, dtype=i64).reshape(pr.K, pr.H),
                "b2": np.array(st.b2, dtype=i64),
                "wp": (np.array(st.wp, dtype=i64).reshape(pr.H, st.G) if l >= 1 else None),
            }
            self._arrays[l] = d
        return self._arrays[l]

    def _dense_input(self, np, l, prev, h, w):
        """x for every position of plane `l` (l >= 1), as an int64 array [h*w, 2*D]: the partial
        reconstruction r (sum of l quantized codebook rows, wrapped to 32 bits, clamped to
        +-2047) and n, the arithmetic-shifted sum of its four neighbours; a neighbour outside the
        grid is r at the position itself, which is what edge-replicating padding gives (a
        neighbour is outside only at that edge of the grid)."""
        D = self._prior.D
        r = np.zeros((h, w, D), dtype=np.int64)
        for m in range(l):
            r += self._cbq_array(np, m)[prev[m]]     # |cbq| <= 2^30, l <= 254 terms: exact
        r = np.clip(((r + (1 << 31)) & 0xFFFFFFFF) - (1 << 31), -PRIOR_DENSE_MAX, PRIOR_DENSE_MAX)
        rp = np.pad(r, ((1, 1), (1, 1), (0, 0)), mode="edge")
        n = (rp[1:-1, :-2] + rp[1:-1, 2:] + rp[:-2, 1:-1] + rp[2:, 1:-1]) >> 2
        return np.concatenate((r, n), axis=2).reshape(h * w, 2 * D)

    def _decode_plane(self, np, l, stream, prev, h, w, coded_level):
        """rANS-decode plane `l` (FORMAT.md), computing each token's table as MODEL-FORMAT.md
        states. Integer semantics: int64 numpy arrays throughout; every 32-bit sum is computed
        exactly in 64 bits (it cannot overflow there: see the bounds below) and then reduced
        modulo 2^32 to two's complement, which is what a wrapping 32-bit sum gives (the
        reduction commutes with the additions, so their order does not matter); products are
        exact (|a * mult| <= 2^62, |(z* - z_k) * c| < 2^63); >> on int64 is arithmetic."""
        pr = self._prior
        K, H = pr.K, pr.H
        st = pr.stages[l]
        arr = self._stage_arrays(np, l)
        i64 = np.int64
        npos = h * w

        def wrap(v):
            return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)

        emb = arr["emb"]
        # Everything that does not depend on plane l's own tokens, for all positions at once:
        # b1 + sum_g wp[j][g] * x_g + emb[P][.] + emb[PR][.] + emb[PD][.] + emb[Λ][.], the level
        # slot Λ = Coded_Level - 1 last (slot 6 at stage 0, slot 9 after). Bounds: |b1| <= 2^26,
        # |sum_g| <= 2048 * 2047 * 2047 < 2^34, so the int64 sums are exact.
        lam = coded_level - 1
        assert 0 <= lam <= K and emb.shape[0] == st.slots
        base = np.broadcast_to(arr["b1"] + emb[st.slots - 1][lam], (npos, H)).astype(i64)
        if l >= 1:
            base += self._dense_input(np, l, prev, h, w) @ arr["wp"].T   # integer matmul, exact
            q = prev[l - 1]
            q_right = np.full((h, w), K, dtype=i64)
            q_right[:, :-1] = q[:, 1:]
            q_down = np.full((h, w), K, dtype=i64)
            q_down[:-1, :] = q[1:, :]
            base += (emb[6][q] + emb[7][q_right] + emb[8][q_down]).reshape(npos, H)
        e_l, e_u, e_ul, e_ur, e_ll, e_uu = emb[0], emb[1], emb[2], emb[3], emb[4], emb[5]
        mult, w2, b2 = arr["mult"], arr["w2"], arr["b2"]
        c = st.c
        exp_full = self._exp_full(np)
        spare = PRIOR_TOTAL - K
        out = np.empty((h, w), dtype=i64)
        outside = np.full(w, K, dtype=i64)

        n = len(stream)
        xs = int.from_bytes(stream[:4], "little")
        if not RANS_LOW <= xs < RANS_HIGH:
            raise Reject("token stream", f"plane {l}: initial state {xs} (0x{xs:08X}), expected "
                         f"2^23 .. 2^31 - 1")
        pos = 4
        for i in range(h):
            up = out[i - 1] if i >= 1 else outside
            uu = out[i - 2] if i >= 2 else outside
            ul = np.concatenate(([K], up[:-1]))
            ur = np.concatenate((up[1:], [K]))
            # The slots U, UL, UR, UU: the rows above, known for the whole row.
            rowbase = base[i * w:(i + 1) * w] + e_u[up] + e_ul[ul] + e_ur[ur] + e_uu[uu]
            left = left2 = K
            for j in range(w):
                # a_j (32-bit wrapping): |b1 + dense + 10 emb| < 2^35, exact in int64, then wrapped.
                a = wrap(rowbase[j] + e_l[left] + e_ll[left2])
                hid = np.clip((a * mult + (1 << 23)) >> 24, 0, PRIOR_HIDDEN_CLAMP)
                # z_k (32-bit wrapping): |b2 + sum_j w2 * h| <= 2^28 + 1024 * 2047 * 4095 < 2^34.
                z = wrap(b2 + w2.dot(hid))
                kstar = int(z.argmax())          # the smallest k with z_k = z*
                zmax = int(z[kstar])
                # (z* - z_k) < 2^32 and c < 2^31: the 64-bit product is exact.
                u = np.minimum(((zmax - z) * c) >> 24, PRIOR_U_MAX)
                e = exp_full[u]
                total = int(e.sum())             # >= EXP[0] = 2^24 (k*), <= 65536 * 2^24
                r = (spare << 32) // total       # <= 2^24
                freq = 1 + ((e * r) >> 32)       # e * r <= 2^48
                freq[kstar] += PRIOR_TOTAL - int(freq.sum())
                cum = np.cumsum(freq)            # cum[k] + freq[k], inclusive
                slot = xs & 0xFFFF
                k = int(np.searchsorted(cum, slot, side="right"))
                f = int(freq[k])
                xs = f * (xs >> 16) + slot - (int(cum[k]) - f)
                while xs < RANS_LOW:
                    if pos >= n:
                        raise Reject("token stream", f"plane {l}, row {i}, column {j}: the stream "
                                     f"has no byte left (Stream_Size = {n}), expected one to "
                                     f"renormalise the state")
                    xs = (xs << 8) | stream[pos]
                    pos += 1
                out[i, j] = k
                left2, left = left, k
        if xs != RANS_LOW:
            raise Reject("token stream", f"plane {l}: final state {xs} (0x{xs:08X}), expected "
                         f"exactly 2^23 = {RANS_LOW}")
        if pos != n:
            raise Reject("token stream", f"plane {l}: {pos} of the {n} bytes read after the last "
                         f"token, expected every byte (Stream_Size = {n})")
        return out

    def _cbq_array(self, np, m):
        key = ("cbq", m)
        if key not in self._arrays:
            pr = self._prior
            self._arrays[key] = np.array(self._cbq[m], dtype=np.int64).reshape(pr.K, pr.D)
        return self._arrays[key]

    def _exp_full(self, np):
        if "exp" not in self._arrays:
            self._arrays["exp"] = np.array(EXP_FULL, dtype=np.int64)
        return self._arrays["exp"]


def parse_vqz(data, max_pixels=MAX_PIXELS_DEFAULT, max_token_bytes=MAX_TOKEN_BYTES_DEFAULT,
              prior_decoder=None):
    """Validate and decode a whole .vqz file. Returns a dict; raises Reject on any violation.

    `prior_decoder` (a PriorDecoder: the model and the prior) decodes a prior-coded token
    section (Token_Prior); without it such a file is fully checked but `Planes` is None."""
    data = bytes(data)
    n = len(data)

    # --- Signature, Version_Major, Header_Size: the fields read before Header_CRC32 ----------
    if data[:8] != SIGNATURE:
        what = f"found {hex_bytes(data[:8]) or 'nothing'}"
        if n == 0:
            what = "file is empty"
        elif n < 8 and data == SIGNATURE[:n]:
            what = f"file is {n} bytes, ends inside the signature"
        raise Reject("Signature", f"{what}, expected {hex_bytes(SIGNATURE)}")
    if n < 9:
        raise Reject("Version_Major", f"file is {n} bytes, ends before Version_Major (offset 8)")
    version_major = data[8]
    if version_major != KNOWN_VERSION_MAJOR:
        raise Reject("Version_Major", f"found {version_major}, expected {KNOWN_VERSION_MAJOR}")
    if n < 12:
        raise Reject("Header_Size", f"file is {n} bytes, ends before Header_Size (offsets 10-11)")
    header_size = struct.unpack_from("<H", data, 10)[0]
    if not HEADER_SIZE_MIN <= header_size <= HEADER_SIZE_MAX:
        raise Reject("Header_Size",
                     f"found {header_size}, expected {HEADER_SIZE_MIN} .. {HEADER_SIZE_MAX}")
    if n < header_size:
        raise Reject("file length",
                     f"file is {n} bytes, shorter than Header_Size = {header_size} (truncated)")

    # --- Header_CRC32, before interpreting any field after Header_Size ------------------------
    header_crc_stored = struct.unpack_from("<I", data, header_size - 4)[0]
    header_crc = crc32(data[:header_size - 4])
    if header_crc != header_crc_stored:
        raise Reject("Header_CRC32",
                     f"found 0x{header_crc_stored:08X}, expected 0x{header_crc:08X} "
                     f"(CRC-32 of bytes [0, {header_size - 4}))")

    (signature, _vmaj, version_minor, _hsize, payload_kind, flags, source_bit_depth,
     downsample, image_w, image_h, grid_w, grid_h, level, plane_count, alphabet_count,
     symbol_layout, quant_bits, model_id, token_section_size, alpha_section_size,
     payload_crc_stored) = FIXED_STRUCT.unpack_from(data, 0)

    # --- Fixed fields, in table order -------------------------------------------------------
    if payload_kind not in (0, 1):
        raise Reject("Payload_Kind",
                     f"found {payload_kind}, expected 0 (VQ token indices) or 1 (Gaussian latents)")
    if flags & FLAGS_RESERVED:
        raise Reject("Flags", f"found 0x{flags:02X}: reserved bits 4-7 set "
                     f"(0x{flags & FLAGS_RESERVED:02X}), expected them 0")
    alpha_present = bool(flags & FLAG_ALPHA_PRESENT)
    gray = bool(flags & FLAG_GRAY)
    token_dictionary = bool(flags & FLAG_TOKEN_DICTIONARY)
    token_prior = bool(flags & FLAG_TOKEN_PRIOR)
    if token_prior and payload_kind != 0:
        raise Reject("Flags", f"found 0x{flags:02X}: Token_Prior with Payload_Kind {payload_kind}, "
                     f"expected Token_Prior only with Payload_Kind 0 (VQ token indices)")
    if token_prior and token_dictionary:
        raise Reject("Flags", f"found 0x{flags:02X}: Token_Prior and Token_Dictionary both set, "
                     f"expected at most one of them")
    if token_prior and version_minor < TOKEN_PRIOR_MIN_MINOR:
        raise Reject("Flags", f"found 0x{flags:02X}: Token_Prior with Version_Minor {version_minor}, "
                     f"expected Version_Minor >= {TOKEN_PRIOR_MIN_MINOR} (bit 3 is reserved before 1.2)")
    if source_bit_depth not in SOURCE_BIT_DEPTHS:
        raise Reject("Source_Bit_Depth", f"found {source_bit_depth}, expected 1, 2, 4, 8 or 16")
    if not 1 <= downsample <= DOWNSAMPLE_MAX:
        raise Reject("Downsample_Factor", f"found {downsample}, expected 1 .. {DOWNSAMPLE_MAX}")
    if not 1 <= image_w <= MAX_SIDE:
        raise Reject("Image_Width", f"found {image_w}, expected 1 .. {MAX_SIDE}")
    if not 1 <= image_h <= MAX_SIDE:
        raise Reject("Image_Height", f"found {image_h}, expected 1 .. {MAX_SIDE}")
    pixels = image_w * image_h
    if pixels > max_pixels:
        raise Reject("Max_Pixels", f"Image_Width * Image_Height = {image_w} * {image_h} = {pixels}, "
                     f"expected <= {max_pixels}")
    want_gw = ceil_div(image_w, downsample)
    want_gh = ceil_div(image_h, downsample)
    if grid_w != want_gw:
        raise Reject("Grid_Width", f"found {grid_w}, expected ceil({image_w} / {downsample}) = {want_gw}")
    if grid_h != want_gh:
        raise Reject("Grid_Height", f"found {grid_h}, expected ceil({image_h} / {downsample}) = {want_gh}")
    if not 1 <= level <= 255:
        raise Reject("Level", f"found {level}, expected 1 .. 255")
    if not 1 <= plane_count <= 255:
        raise Reject("Plane_Count", f"found {plane_count}, expected 1 .. 255")
    if payload_kind == 0 and level != plane_count:
        raise Reject("Level", f"found {level}, expected Plane_Count = {plane_count} "
                     f"(VQ: level L codes the first L stages)")
    if alphabet_count != 1 and alphabet_count != plane_count:
        raise Reject("Alphabet_Count", f"found {alphabet_count}, expected 1 or Plane_Count = {plane_count}")
    # Minor 0: exactly 72 + 4A (no Metadata_Section_Size). Minor 1: exactly 76 + 4A. A higher
    # minor: at least 76 + 4A (Metadata_Section_Size read as in 1.1, later bytes ignored).
    if version_minor == 0:
        exact_header = FIXED_HEADER_BYTES + 4 * alphabet_count
        if header_size != exact_header:
            raise Reject("Header_Size", f"found {header_size}, expected exactly 72 + 4 * Alphabet_Count "
                         f"= {exact_header} for Version_Minor 0")
    else:
        exact_header = FIXED_HEADER_BYTES_1_1 + 4 * alphabet_count
        if version_minor == 1 and header_size != exact_header:
            raise Reject("Header_Size", f"found {header_size}, expected exactly 76 + 4 * Alphabet_Count "
                         f"= {exact_header} for Version_Minor 1")
        if header_size < exact_header:
            raise Reject("Header_Size", f"found {header_size}, expected at least 76 + 4 * Alphabet_Count "
                         f"= {exact_header} for Version_Minor {version_minor} (room for the "
                         f"Alphabet_Size table, Metadata_Section_Size and Header_CRC32)")
    if symbol_layout > 1:
        raise Reject("Symbol_Layout", f"found {symbol_layout}, expected 0 (interleaved) or 1 (byte planes)")
    quant_step = quant_float(quant_bits)
    if payload_kind == 0:
        if quant_bits != 0:
            raise Reject("Quant_Step", f"found {quant_step!r} (bits 0x{quant_bits:08X}), "
                         f"expected +0.0 (bits 0x00000000) for Payload_Kind 0")
    else:
        if not 0 < quant_bits < 0x7F800000:  # sign 0, not zero, exponent not all ones
            raise Reject("Quant_Step", f"found {quant_step!r} (bits 0x{quant_bits:08X}), "
                         f"expected finite and > 0 for Payload_Kind 1")
    if token_section_size < 1:
        raise Reject("Token_Section_Size", f"found {token_section_size}, expected >= 1")
    if not alpha_present and alpha_section_size != 0:
        raise Reject("Alpha_Section_Size",
                     f"found {alpha_section_size}, expected 0 (Alpha_Present is 0)")
    if alpha_present and alpha_section_size < 1:
        raise Reject("Alpha_Section_Size", f"found 0, expected >= 1 (Alpha_Present is 1)")
    alphabet = list(struct.unpack_from(f"<{alphabet_count}I", data, ALPHABET_TABLE_OFFSET))
    for i, a in enumerate(alphabet):
        if not ALPHABET_MIN <= a <= ALPHABET_MAX:
            raise Reject("Alphabet_Size", f"entry {i}: found {a}, expected {ALPHABET_MIN} .. {ALPHABET_MAX}")
    # Version 1.1: Metadata_Section_Size right after the Alphabet_Size table (1.0: none, read as 0).
    has_metadata_field = version_minor >= 1
    metadata_section_size = 0
    if has_metadata_field:
        metadata_section_size = struct.unpack_from(
            "<I", data, ALPHABET_TABLE_OFFSET + 4 * alphabet_count)[0]

    # --- Derived sizes and limits (before any allocation) ------------------------------------
    symbol_bytes = 1 if all(a <= 256 for a in alphabet) else 2
    if symbol_layout == 1 and symbol_bytes == 1:
        raise Reject("Symbol_Layout", "found 1 (byte planes) with one-byte symbols "
                     "(every Alphabet_Size <= 256), expected 0")
    plane_symbols = grid_w * grid_h
    token_bytes = plane_symbols * plane_count * symbol_bytes
    if token_bytes > max_token_bytes:
        raise Reject("Max_Token_Bytes", f"decompressed token section Grid_Width * Grid_Height * "
                     f"Plane_Count * Symbol_Bytes = {token_bytes}, expected <= {max_token_bytes}")
    if token_prior:
        # Prior_ID, Coded_Level + the Stream_Size table + streams of at most 4 + 2 bytes per
        # token each.
        token_bound = PRIOR_HEAD_BYTES + plane_count * (8 + 2 * plane_symbols)
        if token_section_size > token_bound:
            raise Reject("Token_Section_Size", f"found {token_section_size}, expected <= 17 + "
                         f"Plane_Count * (8 + 2 * Grid_Width * Grid_Height) = 17 + {plane_count} * "
                         f"(8 + 2 * {plane_symbols}) = {token_bound} (prior-coded token section)")
    else:
        token_bound = zstd_compress_bound(token_bytes)
        if token_section_size > token_bound:
            raise Reject("Token_Section_Size", f"found {token_section_size}, expected <= "
                         f"ZSTD_compressBound({token_bytes}) = {token_bound}")
    alpha_bytes = pixels if alpha_present else 0
    if alpha_present:
        alpha_bound = zstd_compress_bound(alpha_bytes)
        if alpha_section_size > alpha_bound:
            raise Reject("Alpha_Section_Size", f"found {alpha_section_size}, expected <= "
                         f"ZSTD_compressBound({alpha_bytes}) = {alpha_bound}")
    metadata_bound = zstd_compress_bound(MAX_METADATA_BYTES)
    if metadata_section_size > metadata_bound:
        raise Reject("Metadata_Section_Size", f"found {metadata_section_size}, expected 0 .. "
                     f"bound(Max_Metadata_Bytes) = ZSTD_compressBound({MAX_METADATA_BYTES}) = "
                     f"{metadata_bound}")

    # --- File length, Payload_CRC32 ----------------------------------------------------------
    want_len = header_size + token_section_size + alpha_section_size + metadata_section_size
    if n != want_len:
        kind = "truncated" if n < want_len else "trailing bytes"
        if has_metadata_field:
            raise Reject("file length", f"found {n} bytes, expected Header_Size + Token_Section_Size + "
                         f"Alpha_Section_Size + Metadata_Section_Size = {header_size} + "
                         f"{token_section_size} + {alpha_section_size} + {metadata_section_size} "
                         f"= {want_len} ({kind})")
        raise Reject("file length", f"found {n} bytes, expected Header_Size + Token_Section_Size + "
                     f"Alpha_Section_Size = {header_size} + {token_section_size} + "
                     f"{alpha_section_size} = {want_len} ({kind})")
    payload_crc = crc32(data[header_size:])
    if payload_crc != payload_crc_stored:
        raise Reject("Payload_CRC32", f"found 0x{payload_crc_stored:08X}, expected 0x{payload_crc:08X} "
                     f"(CRC-32 of the {n - header_size} payload bytes)")

    # --- Token section -----------------------------------------------------------------------
    token_section = data[header_size:header_size + token_section_size]
    alpha_start = header_size + token_section_size
    alpha_section = data[alpha_start:alpha_start + alpha_section_size]
    metadata_section = data[alpha_start + alpha_section_size:]
    planes = None
    values = None
    prior_id = None
    coded_level = None
    stream_sizes = None
    token_data = None
    if token_prior:
        prior_id, coded_level, stream_sizes, streams = split_prior_section(
            token_section, plane_count, grid_w, grid_h)
        if prior_decoder is not None:
            planes = prior_decoder.decode(model_id, prior_id, coded_level, streams, grid_w, grid_h,
                                          alphabet)
    else:
        token_data = check_frame(token_section, "token", "Token_Section_Size", token_bytes,
                                 token_dictionary, decompress=not token_dictionary)
    if token_data is not None:
        planes = decode_planes(token_data, plane_count, grid_w, grid_h, symbol_bytes,
                               symbol_layout, alphabet)
        if payload_kind == 1:
            values = [[(s >> 1) ^ -(s & 1) for s in plane] for plane in planes]

    # --- Alpha section -----------------------------------------------------------------------
    alpha = None
    if alpha_present:
        alpha = list(check_frame(alpha_section, "alpha", "Alpha_Section_Size", alpha_bytes, False))

    # --- Metadata section (version 1.1) ------------------------------------------------------
    metadata = []
    metadata_bytes = 0
    if metadata_section_size > 0:
        content = check_frame(metadata_section, "metadata", "Metadata_Section_Size", None, False,
                              size_range=(METADATA_CONTENT_MIN, MAX_METADATA_BYTES,
                                          f"{METADATA_CONTENT_MIN} .. Max_Metadata_Bytes = "
                                          f"{MAX_METADATA_BYTES}"))
        metadata_bytes = len(content)
        metadata = parse_metadata_entries(content)

    info = {
        "Signature": signature.hex(),
        "Version_Major": version_major,
        "Version_Minor": version_minor,
        "Header_Size": header_size,
        "Payload_Kind": payload_kind,
        "Flags": flags,
        "Source_Bit_Depth": source_bit_depth,
        "Downsample_Factor": downsample,
        "Image_Width": image_w,
        "Image_Height": image_h,
        "Grid_Width": grid_w,
        "Grid_Height": grid_h,
        "Level": level,
        "Plane_Count": plane_count,
        "Alphabet_Count": alphabet_count,
        "Symbol_Layout": symbol_layout,
        "Quant_Step": quant_step,
        "Model_ID": model_id.hex(),
        "Token_Section_Size": token_section_size,
        "Alpha_Section_Size": alpha_section_size,
        "Payload_CRC32": payload_crc_stored,
        "Alphabet_Size": alphabet,
        "Metadata_Section_Size": metadata_section_size,
        "Header_CRC32": header_crc_stored,
        "Alpha_Present": alpha_present,
        "Gray": gray,
        "Token_Dictionary": token_dictionary,
        "Token_Prior": token_prior,
    }
    if token_prior:
        info["Prior_ID"] = prior_id.hex()
        info["Coded_Level"] = coded_level
        info["Stream_Size"] = stream_sizes
    info["Planes"] = planes
    if payload_kind == 1:
        info["Values"] = values
    info["Alpha"] = alpha
    info["Metadata"] = [{"Entry_Type": t.decode("ascii"), "Entry_Data": d.hex()} for t, d in metadata]
    # Extra facts for the human summary (not part of the JSON contract).
    extra = {
        "symbol_bytes": symbol_bytes,
        "token_bytes": token_bytes,
        "alpha_bytes": alpha_bytes,
        "extension_bytes": header_size - exact_header,
        "token_dict_id": 0 if token_prior else Zstd.dict_id(token_section),
        "has_metadata_field": has_metadata_field,
        "metadata_bytes": metadata_bytes,
    }
    return info, extra


def _printable_type(t):
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in t)


def parse_metadata_entries(content):
    """Split the decompressed metadata section into (Entry_Type, Entry_Data) pairs.

    The entries must fill the content exactly. Per entry, in this order: the 8-byte head
    (Entry_Type, Entry_Length) is complete; Entry_Length <= the bytes after it; Entry_Type is
    four ASCII letters; it is ancillary (first letter lower case: never IDAT, PLTE, ...); PNG's
    reserved bit is 0 (third letter upper case). Nothing inside Entry_Data is interpreted.
    """
    entries = []
    pos = 0
    end = len(content)
    index = 0
    while pos < end:
        remain = end - pos
        where = f"entry {index} (at byte {pos} of the metadata content)"
        if remain < METADATA_ENTRY_HEAD:
            raise Reject("metadata entry", f"{where}: head cut short: {remain} bytes left, expected "
                         f"{METADATA_ENTRY_HEAD} (Entry_Type + Entry_Length)")
        etype = content[pos:pos + 4]
        elen = struct.unpack_from("<I", content, pos + 4)[0]
        shown = _printable_type(etype)
        where = f"entry {index} '{shown}' (at byte {pos} of the metadata content)"
        left = remain - METADATA_ENTRY_HEAD
        if elen > left:
            raise Reject("metadata Entry_Length", f"{where}: found {elen}, expected <= {left} "
                         f"(the bytes that remain after the field)")
        if not all(0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A for b in etype):
            raise Reject("metadata Entry_Type", f"{where}: found {etype.hex(' ')}, expected "
                         f"4 ASCII letters (a PNG chunk type)")
        if not etype[0] & 0x20:
            raise Reject("metadata Entry_Type", f"{where}: critical chunk type (first letter upper "
                         f"case), expected an ancillary type (first letter lower case)")
        if etype[2] & 0x20:
            raise Reject("metadata Entry_Type", f"{where}: PNG's reserved bit set (third letter "
                         f"lower case), expected the third letter upper case")
        start = pos + METADATA_ENTRY_HEAD
        entries.append((etype, content[start:start + elen]))
        pos = start + elen
        index += 1
    return entries


def decode_planes(raw, plane_count, grid_w, grid_h, symbol_bytes, layout, alphabet):
    """Split the decompressed token section into planes and check every symbol's range."""
    per_plane = grid_w * grid_h
    planes = []
    for p in range(plane_count):
        if symbol_bytes == 1:
            chunk = raw[p * per_plane:(p + 1) * per_plane]
            plane = list(chunk)
        else:
            off = p * per_plane * 2
            chunk = raw[off:off + 2 * per_plane]
            if layout == 0:
                plane = list(struct.unpack(f"<{per_plane}H", chunk))
            else:
                lo, hi = chunk[:per_plane], chunk[per_plane:]
                plane = [l | (h << 8) for l, h in zip(lo, hi)]
        limit = alphabet[p] if len(alphabet) > 1 else alphabet[0]
        if plane and max(plane) >= limit:
            i = next(i for i, s in enumerate(plane) if s >= limit)
            raise Reject("token symbol", f"plane {p}, row {i // grid_w}, column {i % grid_w} "
                         f"(symbol {i} of the plane): found {plane[i]}, expected < "
                         f"Alphabet_Size = {limit}")
        planes.append(plane)
    return planes


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------

def format_human(info, extra):
    lines = []
    for name in HEADER_FIELDS:
        v = info[name]
        if name == "Signature":
            s = hex_bytes(bytes.fromhex(v))
        elif name == "Model_ID":
            s = v
        elif name == "Flags":
            names = [nm for bit, nm in ((FLAG_ALPHA_PRESENT, "Alpha_Present"), (FLAG_GRAY, "Gray"),
                                        (FLAG_TOKEN_DICTIONARY, "Token_Dictionary"),
                                        (FLAG_TOKEN_PRIOR, "Token_Prior")) if v & bit]
            s = f"{v} ({', '.join(names) if names else 'none'})"
        elif name == "Payload_Kind":
            s = f"{v} ({'VQ token indices' if v == 0 else 'quantized Gaussian latents'})"
        elif name == "Symbol_Layout":
            s = f"{v} ({'interleaved' if v == 0 else 'byte planes'})"
        elif name in ("Payload_CRC32", "Header_CRC32"):
            s = f"0x{v:08X}"
        elif name == "Alphabet_Size":
            s = " ".join(str(a) for a in v)
        elif name == "Quant_Step":
            s = repr(v)
        elif name == "Metadata_Section_Size" and not extra["has_metadata_field"]:
            s = f"{v} (no such field in version 1.{info['Version_Minor']}; read as 0)"
        else:
            s = str(v)
        lines.append(f"{name}: {s}")
    lines.append("")
    if extra["extension_bytes"]:
        lines.append(f"Header extension: {extra['extension_bytes']} bytes (ignored)")
    coding = "prior-coded (rANS)" if info["Token_Prior"] else "one zstd frame"
    lines.append(f"Token section: {info['Token_Section_Size']} bytes, {coding} -> "
                 f"{extra['token_bytes']} bytes ({info['Plane_Count']} planes of "
                 f"{info['Grid_Height']} x {info['Grid_Width']} symbols, "
                 f"{extra['symbol_bytes']} byte(s) each)")
    if info["Token_Prior"]:
        lines.append(f"  Prior_ID: {info['Prior_ID']}")
        lines.append(f"  Coded_Level: {info['Coded_Level']}")
        lines.append(f"  Stream_Size: {' '.join(str(v) for v in info['Stream_Size'])}")
    if info["Planes"] is None and info["Token_Prior"]:
        lines.append("  symbols not decoded (needs the model and the prior: "
                     "--model MODEL.vqzm --prior PRIOR.vqzp)")
    elif info["Planes"] is None:
        lines.append(f"  compressed with zstd dictionary {extra['token_dict_id']}: "
                     f"symbols not decoded (needs the model)")
    else:
        for p, plane in enumerate(info["Planes"]):
            shown = plane[:16]
            more = " ..." if len(plane) > 16 else ""
            desc = f"  plane {p}: min {min(plane)} max {max(plane)}: {' '.join(map(str, shown))}{more}"
            lines.append(desc)
            if "Values" in info and info["Values"] is not None:
                vals = info["Values"][p]
                lines.append(f"    values (x Quant_Step): {' '.join(map(str, vals[:16]))}"
                             f"{' ...' if len(vals) > 16 else ''}")
    if info["Alpha"] is None:
        lines.append("Alpha section: absent")
    else:
        a = info["Alpha"]
        lines.append(f"Alpha section: {info['Alpha_Section_Size']} bytes, one zstd frame -> "
                     f"{len(a)} bytes: min {min(a)} max {max(a)}: "
                     f"{' '.join(map(str, a[:16]))}{' ...' if len(a) > 16 else ''}")
    if info["Metadata_Section_Size"] == 0:
        lines.append("Metadata section: absent")
    else:
        entries = info["Metadata"]
        lines.append(f"Metadata section: {info['Metadata_Section_Size']} bytes, one zstd frame -> "
                     f"{extra['metadata_bytes']} bytes, {len(entries)} "
                     f"entr{'y' if len(entries) == 1 else 'ies'}")
        for i, e in enumerate(entries):
            d = bytes.fromhex(e["Entry_Data"])
            lines.append(f"  entry {i}: {e['Entry_Type']}, {len(d)} bytes"
                         + (f": {hex_bytes(d[:16])}{' ...' if len(d) > 16 else ''}" if d else ""))
    return "\n".join(lines) + "\n"


def fail(field, detail):
    # One line, whatever characters the details contain.
    msg = f"vqz_dump: error: {field}: {detail}".replace("\n", " ").replace("\r", " ")
    try:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()
    except Exception:
        pass
    return 1


def dump(path, as_json, model_path=None, prior_path=None):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return fail("file", f"cannot read {path!r}: {e.strerror or e}")
    decoder = None
    if model_path is not None:
        blobs = []
        for what, p in (("model", model_path), ("prior", prior_path)):
            try:
                with open(p, "rb") as f:
                    blobs.append(f.read())
            except OSError as e:
                return fail(what, f"cannot read {p!r}: {e.strerror or e}")
        decoder = PriorDecoder(*blobs)
    info, extra = parse_vqz(data, prior_decoder=decoder)
    if as_json:
        out = json.dumps(info, separators=(",", ":")) + "\n"
    else:
        out = format_human(info, extra)
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0


# ---------------------------------------------------------------------------------------------
# Self-test: a small independent writer, round trips, damage
# ---------------------------------------------------------------------------------------------

def zigzag(v):
    return 2 * v if v >= 0 else -2 * v - 1


def serialize_tokens(planes, symbol_bytes, layout):
    out = bytearray()
    for plane in planes:
        if symbol_bytes == 1:
            out += bytes(plane)
        elif layout == 0:
            out += struct.pack(f"<{len(plane)}H", *plane)
        else:
            out += bytes(s & 0xFF for s in plane) + bytes(s >> 8 for s in plane)
    return bytes(out)


def write_vqz(*, payload_kind=0, flags=0, source_bit_depth=8, downsample=8, width=20, height=12,
              level=None, planes=None, alphabet=(256,), layout=0, quant_step=0.0,
              model_id=None, alpha=None, version_minor=0, extension=b"",
              token_frame=None, alpha_frame=None, token_raw=None, override=None,
              payload_crc=None, header_crc_fix=True, append=b"", metadata=None,
              metadata_frame=None, metadata_size=None):
    """Write a .vqz file from the spec. `override` replaces header fields after they are
    computed (the CRCs are then recomputed unless told otherwise), to build files that a
    buggy writer could produce. `metadata` is a list of (Entry_Type, Entry_Data) pairs (or raw
    content bytes); any metadata makes the file version 1.1 unless `version_minor` is > 1.
    Version_Minor >= 1 writes Metadata_Section_Size (`metadata_size` overrides it)."""
    alphabet = list(alphabet)
    gw, gh = ceil_div(width, downsample), ceil_div(height, downsample)
    if planes is None:
        planes = [[0] * (gw * gh)]
    plane_count = len(planes)
    if level is None:
        level = plane_count
    if model_id is None:
        model_id = hashlib.sha256(b"vqz golden model").digest()[:16]
    symbol_bytes = 1 if all(a <= 256 for a in alphabet) else 2
    if token_frame is None:
        raw = token_raw if token_raw is not None else serialize_tokens(planes, symbol_bytes, layout)
        token_frame = Zstd.compress(raw)
    if alpha is not None:
        flags |= FLAG_ALPHA_PRESENT
        if alpha_frame is None:
            alpha_frame = Zstd.compress(bytes(alpha))
    if alpha_frame is None:
        alpha_frame = b""
    if metadata is not None and metadata_frame is None:
        raw_meta = metadata if isinstance(metadata, (bytes, bytearray)) else b"".join(
            t + struct.pack("<I", len(d)) + d for t, d in metadata)
        metadata_frame = Zstd.compress(bytes(raw_meta))
    if metadata_frame is None:
        metadata_frame = b""
    if metadata_frame and version_minor == 0:
        version_minor = 1
    meta_field = b""
    if version_minor >= 1:
        meta_field = struct.pack("<I", len(metadata_frame) if metadata_size is None else metadata_size)
    quant_bits = struct.unpack("<I", struct.pack("<f", quant_step))[0]
    fields = {
        "Signature": SIGNATURE, "Version_Major": 1, "Version_Minor": version_minor,
        "Header_Size": FIXED_HEADER_BYTES + 4 * len(alphabet) + len(meta_field) + len(extension),
        "Payload_Kind": payload_kind, "Flags": flags, "Source_Bit_Depth": source_bit_depth,
        "Downsample_Factor": downsample, "Image_Width": width, "Image_Height": height,
        "Grid_Width": gw, "Grid_Height": gh, "Level": level, "Plane_Count": plane_count,
        "Alphabet_Count": len(alphabet), "Symbol_Layout": layout, "Quant_Step": quant_bits,
        "Model_ID": model_id, "Token_Section_Size": len(token_frame),
        "Alpha_Section_Size": len(alpha_frame), "Payload_CRC32": None,
    }
    payload = token_frame + alpha_frame + metadata_frame
    fields["Payload_CRC32"] = crc32(payload) if payload_crc is None else payload_crc
    if override:
        fields.update(override)
    head = FIXED_STRUCT.pack(*[fields[k] for k in HEADER_FIELDS[:21]])
    head += struct.pack(f"<{len(alphabet)}I", *alphabet) + meta_field + extension
    hcrc = crc32(head) if header_crc_fix else (crc32(head) ^ 1)
    return head + struct.pack("<I", hcrc) + payload + append


def add_dict_id(frame, dict_id):
    """Rewrite a zstd frame header so that it declares a Dictionary_ID (4-byte field)."""
    fhd = frame[4]
    assert fhd & 3 == 0, "frame already has a Dictionary_ID"
    single_segment = (fhd >> 5) & 1
    pos = 5 + (0 if single_segment else 1)
    return frame[:4] + bytes([fhd | 3]) + frame[5:pos] + struct.pack("<I", dict_id) + frame[pos:]


def write_model_file(metadata, tensors, version_minor=0):
    """Write a model-file container from docs/MODEL-FORMAT.md (self-test only). `metadata`:
    (key, value) pairs, value str (string), int (i64) or float (f64); `tensors`: (name, DType,
    dims, raw bytes). Every offset and size is derived, as the spec requires."""
    meta = bytearray()
    for key, v in metadata:
        kb = key.encode()
        meta += struct.pack("<H", len(kb)) + kb
        if isinstance(v, str):
            vb = v.encode()
            meta += bytes([VALUE_STRING]) + struct.pack("<I", len(vb)) + vb
        elif isinstance(v, int):
            meta += bytes([VALUE_I64]) + struct.pack("<q", v)
        else:
            meta += bytes([VALUE_F64]) + struct.pack("<d", v)
    table = bytearray()
    blob = bytearray()
    for name, dtype, dims, raw in tensors:
        nb = name.encode()
        table += (struct.pack("<H", len(nb)) + nb + bytes([dtype, len(dims)])
                  + struct.pack(f"<{len(dims)}I", *dims) + struct.pack("<Q", len(blob)))
        blob += raw + bytes(ceil64(len(raw)) - len(raw))
    table_off = MODEL_HEADER_BYTES + len(meta)
    data_off = ceil64(table_off + len(table))
    file_size = data_off + len(blob) + 4
    head = struct.pack("<8sBBHIIIQQQQI", MODEL_SIGNATURE, 1, version_minor, 0, len(metadata),
                       len(tensors), 0, table_off, data_off, len(blob), file_size, 0)
    body = head + struct.pack("<I", crc32(head)) + meta + table
    body += bytes(data_off - len(body)) + blob
    return body + struct.pack("<I", crc32(body))


def write_prior_file(pr, model_id, *, drop_key=None, extra_meta=(), meta_override=None,
                     tensor_edit=None):
    """Write a .vqzp (MODEL-FORMAT.md "Token prior files") from a TokenPrior (self-test only).
    `tensor_edit(name, raw) -> raw` may damage a tensor; `drop_key` leaves a key out."""
    meta = [("architecture", PRIOR_ARCHITECTURE), ("prior.model_id", model_id.hex()),
            ("prior.model_name", "self-test"), ("prior.stages", pr.S),
            ("prior.codebook_size", pr.K), ("prior.latent_channels", pr.D),
            ("prior.hidden", pr.H), ("prior.input_shift", pr.F)]
    for l, st in enumerate(pr.stages):
        meta += [(f"prior.{l}.logit_scale", st.c), (f"prior.{l}.emb_shift", st.emb_shift)]
    meta += list(extra_meta)
    meta = [(k, (meta_override or {}).get(k, v)) for k, v in meta if k != drop_key]
    tensors = []
    for l, st in enumerate(pr.stages):
        for field, code in (("wp", "h"), ("b1", "i"), ("emb", "h"), ("mult", "q"), ("w2", "h"),
                            ("b2", "i")):
            vals = getattr(st, field)
            if vals is None:
                continue
            if field == "emb":      # stored as v = emb / 2^s_l (i16); the emb must be a multiple
                s = st.emb_shift
                vals = [e >> s for e in vals]
                assert all(v << s == e for v, e in zip(vals, st.emb)), "emb not a multiple of 2^s"
            name = f"prior.{l}.{field}"
            raw = struct.pack(f"<{len(vals)}{code}", *vals)
            if tensor_edit is not None:
                raw = tensor_edit(name, raw)
            if raw is not None:
                tensors.append((name, DTYPE_U8, [len(raw)], raw))
    return write_model_file(meta, tensors)


def random_emb(rng, n, s, lo, hi):
    """n embedding values emb = v * 2^s (self-test only): v a random i16 with lo <= emb <= hi."""
    vlo = max(PRIOR_I16_MIN, -((-lo) >> s))     # ceil(lo / 2^s)
    vhi = min(PRIOR_I16_MAX, hi >> s)            # floor(hi / 2^s)
    return [rng.randint(vlo, vhi) << s for _ in range(n)]


def random_token_prior(rng, K, D, H, S, F, scale=1.0, extreme=False, dense_heavy=False,
                       spread=False):
    """Random integer weights within the ranges MODEL-FORMAT.md allows (self-test only).
    `dense_heavy`: small b1 and emb, mult ~ 2^12, so that the hidden units (and the tables)
    depend mostly on the dense input x (r and the neighbour mean n). `spread`: saturated hidden
    units and w2 rows of alternating sign near +-2047, so that the logits lie near +-2^31 and
    z* - z_k exceeds 2^31 (a 64-bit difference), with a small logit scale. The embeddings are
    i16 values v times 2^s_l, s_l drawn from 0 .. 16 per stage (extreme: s_l = 16, v near 1024,
    emb near 2^26)."""
    pr = TokenPrior()
    pr.K, pr.D, pr.H, pr.S, pr.F = K, D, H, S, F

    def vals(n, lo, hi):
        if extreme:   # near the limits, one sign: the 32-bit sums wrap
            return [hi - rng.randrange(3) for _ in range(n)]
        return [rng.randint(int(lo * scale), int(hi * scale)) for _ in range(n)]

    pr.stages = []
    for l in range(S):
        st = PriorStage()
        st.slots = prior_slots(l)
        st.G = prior_dense_size(l, D)
        st.c = rng.choice([1, 3000, 20000, PRIOR_LOGIT_SCALE_MAX]) if not extreme else 5000
        st.wp = vals(H * st.G, -PRIOR_WEIGHT_MAX, PRIOR_WEIGHT_MAX) if l >= 1 else None
        small = 1 << 14 if dense_heavy else PRIOR_B1_MAX
        st.b1 = vals(H, -small, small)
        ne = st.slots * (K + 1) * H
        if extreme:
            st.emb_shift = PRIOR_EMB_SHIFT_MAX
            st.emb = [(1024 - rng.randrange(3)) << PRIOR_EMB_SHIFT_MAX for _ in range(ne)]
        else:
            st.emb_shift = rng.choice((0, 3, 8, 11, 12, 16, rng.randint(0, PRIOR_EMB_SHIFT_MAX)))
            st.emb = random_emb(rng, ne, st.emb_shift, int(-small * scale), int(small * scale))
        st.mult = ([PRIOR_MULT_MAX - rng.randrange(2) for _ in range(H)] if extreme
                   else [rng.randint(1 << 11, 1 << 13) for _ in range(H)] if dense_heavy
                   else [rng.randint(0, 1 << 20) for _ in range(H)])
        st.w2 = vals(K * H, -PRIOR_WEIGHT_MAX, PRIOR_WEIGHT_MAX)
        st.b2 = vals(K, -PRIOR_B2_MAX, PRIOR_B2_MAX)
        if spread:
            st.c = rng.randint(1, 3)
            st.b1 = [PRIOR_B1_MAX] * H
            st.emb_shift = rng.choice((11, 12, 16))
            st.emb = random_emb(rng, ne, st.emb_shift, 0, PRIOR_B1_MAX)
            st.mult = [PRIOR_MULT_MAX] * H
            st.w2 = [(1 if (k % 2 == 0) else -1) * rng.randint(1800, PRIOR_WEIGHT_MAX)
                     for k in range(K) for _ in range(H)]
        pr.stages.append(st)
    return pr


def rans_encode(tables, tokens):
    """The encoder FORMAT.md describes (self-test only): from x = 2^23, tokens last first."""
    x = RANS_LOW
    out = bytearray()
    for freq, k in reversed(list(zip(tables, tokens))):
        f = freq[k]
        cum = sum(freq[:k])
        x_max = ((RANS_LOW >> 16) << 8) * f
        while x >= x_max:
            out.append(x & 0xFF)
            x >>= 8
        x = ((x // f) << 16) + (x % f) + cum
    return struct.pack("<I", x) + bytes(reversed(out))


def prior_fixture(rng, *, K=6, D=3, H=5, S=3, F=3, gw=5, gh=4, planes=None, level=None,
                  coded_level=None, codebook_dtype=DTYPE_F16, cb_range=40.0, extreme=False,
                  scale=1.0, dense_heavy=False, spread=False, tune=None):
    """A model with S codebooks, a random prior, tokens and their prior-coded section, encoded
    with the spec-literal tables (prior_freq_reference, pure Python). `level` planes (default S),
    coded for `coded_level` (default: the level, as an encoder writes it; a larger one is what
    trimming a deeper file leaves). `tune(pr)` may change the random weights (within the
    spec's ranges) before the prior file is written. Returns a dict."""
    pr = random_token_prior(rng, K, D, H, S, F, scale=scale, extreme=extreme,
                            dense_heavy=dense_heavy, spread=spread)
    if tune is not None:
        tune(pr)
    cb_tensors = []
    for m in range(S):
        lo = cb_range / 2 if extreme else -cb_range   # extreme: every r_d clamps to +2047
        vals = [rng.uniform(lo, cb_range) for _ in range(K * D)]
        code = "e" if codebook_dtype == DTYPE_F16 else "f"
        cb_tensors.append((f"vq.codebook.{m}", codebook_dtype, [K, D],
                           struct.pack(f"<{K * D}{code}", *vals)))
    model = write_model_file([("architecture", "self-test-rvq"), ("hparams.stages", S)], cb_tensors)
    model_id = hashlib.sha256(model).digest()[:16]
    prior = write_prior_file(pr, model_id)
    prior_id = hashlib.sha256(prior).digest()[:16]
    mf = parse_model_file(model, "model file")
    cbq = [quantized_codebook(mf, m, K, D, F) for m in range(S)]
    L = S if level is None else level
    CL = L if coded_level is None else coded_level
    if planes is None:
        planes = [[rng.randrange(K) for _ in range(gw * gh)] for _ in range(L)]
    streams = []
    for l in range(L):
        tables = [prior_freq_reference(pr, cbq, planes, l, i, j, gh, gw, CL)
                  for i in range(gh) for j in range(gw)]
        for t in tables:
            assert len(t) == K and min(t) >= 1 and sum(t) == PRIOR_TOTAL
        streams.append(rans_encode(tables, planes[l]))
    section = prior_section(prior_id, streams, coded_level=CL)
    return {"pr": pr, "model": model, "prior": prior, "model_id": model_id, "prior_id": prior_id,
            "planes": planes, "streams": streams, "section": section, "gw": gw, "gh": gh, "K": K,
            "coded_level": CL}


def prior_section(prior_id, streams, sizes=None, coded_level=None):
    """Prior_ID, Coded_Level (default: the number of streams, as an encoder writes it), the
    Stream_Size table (default: the streams' lengths) and the streams."""
    if sizes is None:
        sizes = [len(s) for s in streams]
    if coded_level is None:
        coded_level = len(sizes)
    return (prior_id + bytes([coded_level]) + struct.pack(f"<{len(sizes)}I", *sizes)
            + b"".join(streams))


def _have_numpy():
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


def _self_test_prior(rng, check, expect_reject, pfx, pv):
    """Self-test of version 1.2: the Token_Prior header and section rules, the model-file
    container reader (against the spec's worked example and its damage table), the exact
    arithmetic helpers, and the prior decoder against the spec-literal tables."""
    from fractions import Fraction

    def sha16(b):
        return hashlib.sha256(b).digest()[:16]

    # -- header and section rules (no prior needed) --
    K, gw, gh = pfx["K"], pfx["gw"], pfx["gh"]
    G, P = gw * gh, len(pfx["planes"])
    expect_reject(pv(payload_kind=1, quant_step=0.5), "Flags", "Token_Prior with Payload_Kind 1")
    expect_reject(pv(flags=FLAG_TOKEN_PRIOR | FLAG_TOKEN_DICTIONARY), "Flags",
                  "Token_Prior with Token_Dictionary")
    expect_reject(pv(version_minor=1), "Flags", "Token_Prior in a minor-1 file")
    expect_reject(pv(version_minor=0), "Flags", "Token_Prior in a minor-0 file")
    for bit in range(4, 8):
        expect_reject(pv(flags=FLAG_TOKEN_PRIOR | (1 << bit)), "Flags", f"1.2 reserved bit {bit}")
    info, extra = parse_vqz(pv(version_minor=3, extension=b"\x11" * 4))
    check(info["Token_Prior"] and extra["extension_bytes"] == 4, "Token_Prior in a minor-3 file")
    bound = 17 + P * (8 + 2 * G)
    hi = 4 + 2 * G
    full = prior_section(pfx["prior_id"], [bytes(hi)] * P)
    check(len(full) == bound and parse_vqz(pv(section=full))[0]["Stream_Size"] == [hi] * P,
          "prior section at the Token_Section_Size bound 17 + P * (8 + 2G) (container only)")
    expect_reject(pv(section=full + b"\x00"), "Token_Section_Size", "prior section above the bound")
    expect_reject(pv(section=bytes(16) + bytes([P]) + bytes(4 * P - 1)), "Stream_Size",
                  "section cut in the table")
    expect_reject(pv(section=pfx["prior_id"]), "Stream_Size", "section of Prior_ID only")
    expect_reject(pv(section=pfx["prior_id"] + bytes([P])), "Stream_Size",
                  "section of Prior_ID and Coded_Level only")
    # The layout before Coded_Level (Prior_ID, then the table): the sizes are one byte off.
    old = pfx["prior_id"] + struct.pack(f"<{P}I", *map(len, pfx["streams"])) + b"".join(pfx["streams"])
    expect_reject(pv(section=old), "", "section without Coded_Level (the previous layout)")
    # Coded_Level: Plane_Count .. 255, read from byte 16; reported next to Prior_ID.
    for cl in (0, 1, P - 1):
        e = expect_reject(pv(section=prior_section(pfx["prior_id"], pfx["streams"], coded_level=cl)),
                          "Coded_Level", f"Coded_Level {cl} < Plane_Count {P}")
        check(e is not None and e.field == "Coded_Level" and f"found {cl}" in e.detail,
              f"Coded_Level {cl}: named, with the value found")
    e = expect_reject(pv(section=prior_section(pfx["prior_id"], [bytes(3)] * P, coded_level=0)),
                      "Coded_Level", "Coded_Level 0 and bad sizes: Coded_Level first (field order)")
    for cl in (P, P + 1, 200, 255):
        info = parse_vqz(pv(section=prior_section(pfx["prior_id"], pfx["streams"],
                                                  coded_level=cl)))[0]
        check(info["Coded_Level"] == cl and list(info).index("Coded_Level")
              == list(info).index("Prior_ID") + 1, f"Coded_Level {cl} accepted by the container")
    one = parse_vqz(pv(section=prior_section(pfx["prior_id"], pfx["streams"][:1], coded_level=255),
                       planes=pfx["planes"][:1]))[0]
    check(one["Coded_Level"] == 255 and one["Plane_Count"] == 1 and one["Level"] == 1,
          "level-1 file with Coded_Level 255 (container only)")
    for sizes, what in (([3, hi, hi], "Stream_Size 3"), ([4, hi + 1, 4], "Stream_Size 4 + 2G + 1"),
                        ([0, 4, 4], "Stream_Size 0")):
        e = expect_reject(pv(section=prior_section(pfx["prior_id"], [bytes(v) for v in sizes])),
                          "Stream_Size", what)
        check(e is not None and f"plane {[i for i, v in enumerate(sizes) if not 4 <= v <= hi][0]}"
              in e.detail, f"{what}: names the plane")
    st = pfx["streams"]
    sizes = [len(x) for x in st]
    expect_reject(pv(section=prior_section(pfx["prior_id"], st, [sizes[0] - 1] + sizes[1:])),
                  "Stream_Size", "sizes one short of the section")
    expect_reject(pv(section=prior_section(pfx["prior_id"], st, [sizes[0] + 1] + sizes[1:])),
                  "Stream_Size", "sizes one beyond the section")
    expect_reject(pv(section=pfx["section"] + b"\x00"), "Stream_Size", "a byte after the streams")
    big = dict(width=16384, height=16384, downsample=1, alphabet=[256], flags=FLAG_TOKEN_PRIOR,
               version_minor=2, token_frame=bytes(16) + b"\x05" + bytes(83))
    expect_reject(write_vqz(planes=[[0]] * 5, **big), "Max_Token_Bytes", "prior: 5 x 2^28 tokens")
    expect_reject(write_vqz(planes=[[0]] * 4, **big), "Stream_Size", "prior: 4 x 2^28 tokens allowed")

    # -- exact arithmetic helpers --
    check(EXP_TABLE[0] == 16_777_216 and EXP_TABLE[1] == 16_731_851 and EXP_TABLE[255] == 8_411_352,
          "EXP table: the spec's three values")
    check(all(abs(EXP_TABLE[n] - 2 ** 24 * 2 ** (-n / 256)) < 0.4999 for n in range(256)),
          "EXP table: round(2^24 * 2^(-n/256)) (float cross-check)")
    check(all(EXP_TABLE[n] > EXP_TABLE[n + 1] for n in range(255)), "EXP table decreasing")
    check(wrap32(2 ** 31) == -2 ** 31 and wrap32(-2 ** 31 - 1) == 2 ** 31 - 1 and wrap32(5) == 5,
          "wrap32")
    for bits, dt, f, want in ((0x3800, DTYPE_F16, 0, 1), (0xB800, DTYPE_F16, 0, -1),
                              (0x3E00, DTYPE_F16, 0, 2), (0x4100, DTYPE_F16, 0, 3),
                              (0xC100, DTYPE_F16, 0, -3), (0x3400, DTYPE_F16, 0, 0),
                              (0x0001, DTYPE_F16, 24, 1), (0x0001, DTYPE_F16, 23, 1),
                              (0x0001, DTYPE_F16, 22, 0), (0x7BFF, DTYPE_F16, 24, 65504 << 24),
                              (0x3C00, DTYPE_F16, -24, 0), (0x3F000000, DTYPE_F32, 0, 1),
                              (0x00000001, DTYPE_F32, 24, 0), (0xBFC00000, DTYPE_F32, 0, -2),
                              (0x8000, DTYPE_F16, 5, 0)):
        check(float_scaled_round(bits, dt, f) == want, f"scaled round 0x{bits:X} F={f}")
    check(float_scaled_round(0x7C00, DTYPE_F16, 0) is None
          and float_scaled_round(0x7FC00000, DTYPE_F32, 0) is None, "scaled round: inf/NaN")
    for _ in range(3000):
        dt = rng.choice((DTYPE_F16, DTYPE_F32))
        bits = rng.randrange(1 << (16 if dt == DTYPE_F16 else 32))
        f = rng.randint(-24, 24)
        got = float_scaled_round(bits, dt, f)
        v = struct.unpack("<e" if dt == DTYPE_F16 else "<f",
                          struct.pack("<H" if dt == DTYPE_F16 else "<I", bits))[0]
        if v != v or v in (float("inf"), float("-inf")):
            check(got is None, f"scaled round non-finite 0x{bits:X}")
            continue
        x = Fraction(v) * Fraction(2) ** f
        want = int(abs(x) + Fraction(1, 2)) * (1 if x >= 0 else -1)
        check(got == want, f"scaled round 0x{bits:X} ({v!r}) F={f}: {got} != {want}")

    # -- the table's steps on hand-worked examples (MODEL-FORMAT.md, "The frequency table") --
    # Step 1: a 3 x 4 grid, plane 0 = 0 .. 11, plane 1 = 20 .. 31, K = 40 (outside); the level
    # slot Λ = Coded_Level - 1 last (up to K = 40 for Coded_Level 41 <= prior.stages <= K + 1).
    hand = [list(range(12)), list(range(20, 32))]
    for (l, i, j, cl), want in (((1, 1, 1, 2), [24, 21, 20, 22, 40, 40, 5, 6, 9, 1]),
                                ((1, 2, 3, 5), [30, 27, 26, 40, 29, 23, 11, 40, 40, 4]),
                                ((1, 0, 0, 41), [40, 40, 40, 40, 40, 40, 0, 1, 4, 40]),
                                ((1, 2, 2, 3), [29, 26, 25, 27, 28, 22, 10, 11, 40, 2]),
                                ((0, 2, 1, 1), [8, 5, 4, 6, 40, 1, 0]),
                                ((0, 0, 3, 12), [2, 40, 40, 40, 1, 40, 11])):
        got = prior_slot_tokens(hand, l, i, j, 3, 4, 40, cl)
        check(got == want and len(got) == prior_slots(l),
              f"slot tokens (L U UL UR LL UU [P PR PD] Λ) of stage {l} at ({i}, {j}), Coded_Level "
              f"{cl}: {got} != {want}")
    check(prior_slots(0) == 7 and prior_slots(1) == 10 and prior_slots(254) == 10,
          "slots: 7 at stage 0, 10 after")
    # Step 2: D = 2, a 2 x 3 grid; cbq values up to 2^30 so that a sum wraps (2^31 -> -2^31).
    B = 1 << 30
    hcbq = [[0, 0, 500, -7, 3000, 1, B, -1], [0, 0, -600, 2, B, -B, 1, 1]]
    hpl = [[1, 1, 2, 3, 0, 1], [0, 1, 0, 2, 2, 2]]
    # r (l = 2): (0,0) [500,-7]; (0,1) [-100,-5]; (0,2) [2047,1]; (1,0) [-2047,-2047] (the
    # first sum 2^31 wraps to -2^31); (1,1) [2047,-2047]; (1,2) [2047,-2047].
    for (l, i, j), want in (((2, 0, 0), [500, -7, -287, -517]),    # (500-100+500-2047)>>2
                            ((2, 1, 1), [2047, -2047, 486, -1537]),
                            ((2, 0, 2), [2047, 1, 1510, -513]),
                            ((2, 1, 0), [-2047, -2047, -387, -1537]),
                            ((1, 0, 0), [500, -7, 886, -6]),       # (500+500+500+2047)>>2
                            ((0, 1, 1), [])):
        got = prior_dense_input(hcbq, hpl, l, i, j, 2, 3, 2)
        check(got == want, f"dense input x of stage {l} at ({i}, {j}): {got} != {want}")
    # cbq: times 2^F, ties away from zero, clamped to +-2^30 (f32 64.0 * 2^24 = 2^30 exactly).
    cbm = write_model_file([("architecture", "x")], [
        ("vq.codebook.0", DTYPE_F32, [2, 3], struct.pack("<6f", 64.0, 64.00001, -1e30,
                                                          -0.5 / (1 << 24), 2.5 / (1 << 24), 3.0)),
        ("vq.codebook.1", DTYPE_F16, [2, 3], struct.pack("<6e", 65504.0, -65504.0, 1.0,
                                                          -3.0, 1.0 / 1024, -0.0))])
    cbmf = parse_model_file(cbm, "model file")
    got = quantized_codebook(cbmf, 0, 2, 3, 24)
    check(got == [B, B, -B, -1, 3, 3 << 24], f"cbq f32, F = 24, clamp +-2^30: {got}")
    got = quantized_codebook(cbmf, 1, 2, 3, 24)
    check(got == [B, -B, 1 << 24, -3 << 24, 1 << 14, 0], f"cbq f16, F = 24: {got}")
    got = quantized_codebook(cbmf, 1, 2, 3, -1)
    check(got == [32752, -32752, 1, -2, 0, 0], f"cbq f16, F = -1 (ties away from zero): {got}")
    # Steps 5-6: z* - z_k is a 64-bit difference (2^32 - 1 here, u = 255, not 32-bit -1).
    e0, e1 = EXP_TABLE[0], EXP_TABLE[255]
    r_ = ((PRIOR_TOTAL - 2) << 32) // (e0 + e1)
    f1 = 1 + ((e1 * r_) >> 32)
    got = prior_table_from_logits([2 ** 31 - 1, -2 ** 31], 1, 2)
    check(got == [PRIOR_TOTAL - f1, f1] and f1 > 20000, f"table of z = [2^31-1, -2^31]: {got}")
    got = prior_table_from_logits([-5, 7, 7], 1 << 24, 3)       # k* = 1, the first maximum
    check(got[1] >= got[2] and sum(got) == PRIOR_TOTAL and got[0] == 1 + ((EXP_TABLE[12 & 255] >> 0)
          * (((PRIOR_TOTAL - 3) << 32) // (2 * e0 + EXP_TABLE[12])) >> 32), f"table of z = [-5, 7, 7]: {got}")
    check(prior_table_from_logits([0, 0], 5, 2) == [32768, 32768], "table of z = [0, 0]")
    check(prior_table_from_logits([0, -1 << 30], PRIOR_LOGIT_SCALE_MAX, 2) == [65535, 1],
          "table with u = 8191 (e = EXP[255] >> 31 = 0)")

    # -- model-file container: the worked example and its damage table --
    tiny = write_model_file([("architecture", "tiny-test"), ("hparams.channels", 2)],
                            [("conv.weight", DTYPE_F32, [2, 1, 1, 1], struct.pack("<2f", 1.0, -2.0)),
                             ("conv.bias", DTYPE_F16, [2], struct.pack("<2e", 0.5, -0.25)),
                             ("blob", DTYPE_U8, [3], b"\x01\x02\x03")])
    hdr = MODEL_HEADER_STRUCT.unpack_from(tiny, 0)
    check(len(tiny) == 452 and hdr[7] == 119 and hdr[8] == 256 and hdr[9] == 192 and hdr[10] == 452
          and hdr[12] == 0x105192B6 and struct.unpack_from("<I", tiny, 448)[0] == 0x41649C3B,
          "model worked example tiny-v1.vqzm: sizes and both CRCs")
    mf = parse_model_file(tiny, "model file")
    check(mf.metadata == {"architecture": (1, "tiny-test"), "hparams.channels": (2, 2)}
          and list(mf.tensors) == ["conv.weight", "conv.bias", "blob"]
          and mf.tensors["conv.bias"] == (DTYPE_F16, (2,), b"\x00\x38\x00\xb4")
          and mf.tensors["blob"][2] == b"\x01\x02\x03", "model worked example parsed")

    def model_reject(data, field_substr, what):
        try:
            parse_model_file(data, "model file")
        except Reject as e:
            check(field_substr in e.field, f"{what}: rejected as '{e}', expected '{field_substr}'")
            return
        except Exception as e:  # noqa: BLE001
            check(False, f"{what}: unexpected {type(e).__name__}: {e}")
            return
        check(False, f"{what}: accepted, expected rejection naming '{field_substr}'")

    def refix(b, header=True):
        b = bytearray(b)
        if header:
            struct.pack_into("<I", b, 60, crc32(bytes(b[:60])))
        fs = len(b)
        struct.pack_into("<I", b, fs - 4, crc32(bytes(b[:fs - 4])))
        return bytes(b)

    def patched(off, fmt, val, base=tiny):
        b = bytearray(base)
        struct.pack_into(fmt, b, off, val)
        return refix(b)

    for cut in (0, 10, 63):
        model_reject(tiny[:cut], "file length", f"model cut to {cut} bytes")
    model_reject(tiny[:-1], "file length", "model missing its last byte")
    model_reject(tiny + b"\x00", "file length", "model with a trailing byte")
    model_reject(b"\x89PNG\r\n\x1a\n" + tiny[8:], "Signature", "model PNG signature")
    model_reject(patched(8, "<B", 2), "Version_Major", "model Version_Major 2")
    check(parse_model_file(patched(9, "<B", 7), "m").metadata["architecture"][1] == "tiny-test",
          "model Version_Minor 7 accepted")
    for pos in (9, 12, 30, 59, 60, 63):
        b = bytearray(tiny)
        b[pos] ^= 0x10
        model_reject(bytes(b), "Header_CRC32", f"model header byte {pos} flipped")
    for pos in (64, 100, 200, 300, 448):
        b = bytearray(tiny)
        b[pos] ^= 0x01
        model_reject(bytes(b), "File_CRC32", f"model byte {pos} flipped")
    model_reject(patched(10, "<H", 1), "Flags", "model Flags 1")
    model_reject(patched(20, "<I", 1), "Reserved_1", "model Reserved_1")
    model_reject(patched(56, "<I", 1), "Reserved_2", "model Reserved_2")
    model_reject(patched(12, "<I", 0), "Metadata_Count", "model Metadata_Count 0")
    model_reject(patched(12, "<I", 4097), "Metadata_Count", "model Metadata_Count 4097")
    model_reject(patched(16, "<I", 65537), "Tensor_Count", "model Tensor_Count 65537")
    model_reject(patched(48, "<Q", (1 << 32) + 1), "File_Size", "model File_Size 2^32 + 1")
    model_reject(patched(48, "<Q", 453), "file length", "model File_Size one beyond the file")
    model_reject(patched(24, "<Q", 120), "Tensor_Table_Offset", "model Tensor_Table_Offset")
    model_reject(patched(32, "<Q", 320), "Data_Offset", "model Data_Offset")
    model_reject(patched(16, "<I", 2), "Data_Offset", "model with its last tensor left out of the count")
    model_reject(patched(40, "<Q", 256), "Data_Size", "model Data_Size 256")
    model_reject(patched(0x77 + 2 + 11 + 2 + 16, "<Q", 8), "Data_Offset_In_Section",
                 "model tensor 0 offset 8")
    model_reject(patched(0xA0 + 9 + 2 + 4, "<Q", 8), "Data_Offset_In_Section",
                 "model tensor 1 offset 8, not aligned")
    model_reject(patched(0x42, "<B", ord("A")), "Key", "model key with an upper-case letter")
    model_reject(patched(0x42, "<B", ord(".")), "Key", "model key starting with '.'")
    model_reject(patched(0x40, "<H", 0), "Key_Length", "model Key_Length 0")
    model_reject(patched(0x4E, "<B", 4), "Value_Type", "model Value_Type 4")
    model_reject(patched(0x53, "<B", 0xFF), "value", "model string value not UTF-8")
    model_reject(patched(0x84, "<B", 3), "DType", "model DType 3")
    model_reject(patched(0x85, "<B", 9), "Rank", "model Rank 9")
    model_reject(patched(0x86, "<I", 0), "Dims", "model dimension 0")
    model_reject(patched(0x110, "<B", 1), "padding", "model nonzero padding between tensors")
    model_reject(patched(0x183, "<B", 1), "padding", "model nonzero padding after the last tensor")
    model_reject(patched(0xD0, "<B", 1), "padding", "model nonzero padding after the table")
    two = [("architecture", "a"), ("architecture", "b")]
    model_reject(write_model_file(two, []), "metadata architecture", "model duplicate key")
    model_reject(write_model_file([("hparams.x", 1)], []), "architecture", "model without architecture")
    model_reject(write_model_file([("architecture", 3)], []), "architecture", "model architecture i64")
    model_reject(write_model_file([("architecture", "a"), ("x", float("nan"))], []), "value",
                 "model f64 NaN")
    model_reject(write_model_file([("architecture", "a"), ("x..y", 1)], []), "Key", "model key 'x..y'")
    model_reject(write_model_file([("architecture", "a")], [("t", DTYPE_U8, [1], b"1"),
                                                           ("t", DTYPE_U8, [1], b"2")]),
                 "tensor t", "model duplicate tensor")
    model_reject(write_model_file([("architecture", "a")], [("t", DTYPE_U8, [1 << 16, 1 << 15], b"")]),
                 "Dims", "model tensor of 2^31 elements")
    model_reject(write_model_file([("architecture", "a" * 65537)], []), "value",
                 "model string of 65537 bytes")
    check(parse_model_file(write_model_file([("architecture", "x")], []), "m").tensors == {},
          "model without tensors")
    mseeds = [tiny, write_model_file([("architecture", "a"), ("f", 1.5), ("s", "")],
                                     [("e", DTYPE_F32, [], b"\x00" * 4)])]
    for i in range(1500):
        b = bytearray(rng.choice(mseeds))
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        if i % 3:
            b = bytearray(refix(b, header=i % 3 == 1))
        try:
            parse_model_file(bytes(b), "model file")
        except Reject:
            pass
        except Exception as e:  # noqa: BLE001
            check(False, f"model fuzz {i}: {type(e).__name__}: {e}")

    # -- the prior file's keys and tensors (MODEL-FORMAT.md "Token prior files") --
    def prior_reject(blob, field_substr, what):
        try:
            load_token_prior(parse_model_file(blob, "prior file"))
        except Reject as e:
            check(field_substr in e.field, f"{what}: rejected as '{e}', expected '{field_substr}'")
            return
        except Exception as e:  # noqa: BLE001
            check(False, f"{what}: unexpected {type(e).__name__}: {e}")
            return
        check(False, f"{what}: accepted, expected rejection naming '{field_substr}'")

    pr, mid = pfx["pr"], pfx["model_id"]
    lpr_ = load_token_prior(parse_model_file(pfx["prior"], "prior file"))
    check(list(lpr_.stages[1].wp) == list(pr.stages[1].wp), "prior round trip")
    check(all(list(a.emb) == list(b.emb) and a.emb_shift == b.emb_shift
              and list(a.emb_v) == [e >> b.emb_shift for e in b.emb]
              for a, b in zip(lpr_.stages, pr.stages)),
          "prior round trip: emb = v * 2^emb_shift (i16 v)")
    for key in ("architecture", "prior.model_id", "prior.model_name", "prior.stages",
                "prior.codebook_size", "prior.latent_channels", "prior.hidden", "prior.input_shift",
                "prior.2.logit_scale", "prior.0.emb_shift", "prior.2.emb_shift"):
        prior_reject(write_prior_file(pr, mid, drop_key=key), key, f"prior without {key}")
    # prior.stages at most K + 1 (the level slot's token Λ <= S - 1 <= K).
    for K_, S_, ok in ((2, 3, True), (2, 4, False), (3, 4, True), (3, 5, False), (2, 1, True)):
        pr_ = random_token_prior(rng, K_, 2, 2, S_, 0)
        blob = write_prior_file(pr_, mid)
        if ok:
            try:
                check(load_token_prior(parse_model_file(blob, "p")).S == S_,
                      f"prior of K = {K_}, {S_} stages accepted")
            except Reject as e:
                check(False, f"prior of K = {K_}, {S_} stages: rejected: {e}")
        else:
            prior_reject(blob, "prior.stages", f"prior of K = {K_}, {S_} stages (> K + 1)")
    prior_reject(write_prior_file(pr, mid, meta_override={"prior.stages": pr.K + 2}), "prior.stages",
                 f"prior.stages = K + 2 = {pr.K + 2} (before its missing tensors)")
    for key, val in (("architecture", "vqz-token-prior-v2"), ("prior.model_id", "ab" * 15),
                     ("prior.model_id", "zz" * 16), ("prior.model_id", 5), ("prior.stages", 0),
                     ("prior.stages", 256), ("prior.hidden", 0), ("prior.hidden", 1025),
                     ("prior.input_shift", 25), ("prior.input_shift", -25),
                     ("prior.1.logit_scale", 0), ("prior.1.logit_scale", 1 << 31),
                     ("prior.codebook_size", 1), ("prior.codebook_size", 65537),
                     ("prior.latent_channels", 0), ("prior.latent_channels", 1025),
                     ("prior.hidden", "5"), ("prior.stages", 3.0),
                     ("prior.0.emb_shift", -1), ("prior.1.emb_shift", 17),
                     ("prior.2.emb_shift", 1 << 40), ("prior.1.emb_shift", "3"),
                     ("prior.0.emb_shift", 2.0)):
        prior_reject(write_prior_file(pr, mid, meta_override={key: val}), key,
                     f"prior {key} = {val!r}")
    for name, idx, code, val in (("prior.1.wp", 0, "h", 2048), ("prior.2.wp", -1, "h", -2048),
                                 ("prior.0.b1", 0, "i", (1 << 26) + 1),
                                 ("prior.1.mult", 0, "q", (1 << 31) + 1), ("prior.1.mult", 0, "q", -1),
                                 ("prior.2.w2", 3, "h", 2048), ("prior.0.b2", 0, "i", (1 << 28) + 1)):
        def edit(n, raw, name=name, idx=idx, code=code, val=val):
            if n != name:
                return raw
            vals = list(struct.unpack(f"<{len(raw) // struct.calcsize(code)}{code}", raw))
            vals[idx] = val
            return struct.pack(f"<{len(vals)}{code}", *vals)
        prior_reject(write_prior_file(pr, mid, tensor_edit=edit), name, f"{name} = {val}")
    prior_reject(write_prior_file(pr, mid, tensor_edit=lambda n, r: r[:-1] if n == "prior.0.b2" else r),
                 "prior.0.b2", "prior tensor one byte short")
    # emb: i16 values v with v * 2^s_l within +-2^26 (inclusive); s_l = prior.<l>.emb_shift.
    import copy

    def with_shift(l_, s_):
        p_ = copy.deepcopy(pr)
        st_ = p_.stages[l_]
        st_.emb_shift = s_
        st_.emb = random_emb(rng, len(st_.emb), s_, -PRIOR_B1_MAX, PRIOR_B1_MAX)
        return p_

    for l_, s_, v_, ok in ((0, 16, 1024, True), (0, 16, 1025, False), (1, 16, -1024, True),
                           (1, 16, -1025, False), (2, 16, 32767, False), (2, 16, -32768, False),
                           (1, 12, 16384, True), (1, 12, 16385, False), (0, 12, -16385, False),
                           (2, 11, -32768, True), (2, 11, 32767, True), (0, 10, -32768, True),
                           (0, 0, 32767, True), (1, 0, -32768, True), (2, 13, 8193, False),
                           (1, 5, -32768, True)):
        name = f"prior.{l_}.emb"
        idx = rng.randrange(len(pr.stages[l_].emb))

        def edit(n, raw, name=name, idx=idx, v_=v_):
            if n != name:
                return raw
            vals = list(struct.unpack(f"<{len(raw) // 2}h", raw))
            vals[idx] = v_
            return struct.pack(f"<{len(vals)}h", *vals)
        blob = write_prior_file(with_shift(l_, s_), mid, tensor_edit=edit)
        what = f"{name} v = {v_} with emb_shift {s_} (emb = {v_ << s_})"
        if ok:
            try:
                got = load_token_prior(parse_model_file(blob, "p")).stages[l_]
                check(got.emb[idx] == v_ << s_ and got.emb_v[idx] == v_ and got.emb_shift == s_,
                      f"{what}: loaded as {got.emb[idx]}")
            except Reject as e:
                check(False, f"{what}: rejected: {e}")
        else:
            prior_reject(blob, name, what)
    # The previous layout: emb as i32 values (twice the bytes), with and without emb_shift.
    p32 = with_shift(0, 0)

    def as_i32(n, raw):
        if not n.endswith(".emb"):
            return raw
        return struct.pack(f"<{len(raw) // 2}i", *struct.unpack(f"<{len(raw) // 2}h", raw))
    prior_reject(write_prior_file(p32, mid, tensor_edit=as_i32), "prior.0.emb",
                 "prior.0.emb of i32 values (the previous layout)")
    old_blob = write_prior_file(p32, mid, tensor_edit=as_i32, drop_key="prior.0.emb_shift")
    prior_reject(old_blob, "prior.0.emb_shift", "the previous layout: no emb_shift, i32 emb")
    prior_reject(write_prior_file(p32, mid, tensor_edit=lambda n, r: r[:-2] if n == "prior.1.emb"
                                  else r), "prior.1.emb", "prior.1.emb one i16 value short")
    # The layouts before this version of the spec: wp of H*D (not H*2D); 4, 5, 6 and 9 slots
    # (6 and 9: the layout without the level slot).
    hd = 2 * pr.H * pr.D
    prior_reject(write_prior_file(pr, mid, tensor_edit=lambda n, r: r[:hd] if n == "prior.1.wp" else r),
                 "prior.1.wp", "prior.1.wp of H*D values (G = D)")
    e1 = 2 * (pr.K + 1) * pr.H      # bytes of one slot: (K + 1) * H i16 values
    prior_reject(write_prior_file(pr, mid, tensor_edit=lambda n, r: r[:4 * e1] if n == "prior.0.emb"
                                  else r), "prior.0.emb", "prior.0.emb of 4 slots")
    prior_reject(write_prior_file(pr, mid, tensor_edit=lambda n, r: r[:5 * e1] if n == "prior.2.emb"
                                  else r), "prior.2.emb", "prior.2.emb of 5 slots")
    prior_reject(write_prior_file(pr, mid, tensor_edit=lambda n, r: r[:6 * e1] if n == "prior.1.emb"
                                  else r), "prior.1.emb", "prior.1.emb of 6 slots")
    prior_reject(write_prior_file(pr, mid, tensor_edit=lambda n, r: r[:6 * e1] if n == "prior.0.emb"
                                  else r), "prior.0.emb", "prior.0.emb of 6 slots (no level slot)")
    prior_reject(write_prior_file(pr, mid, tensor_edit=lambda n, r: r[:9 * e1] if n == "prior.2.emb"
                                  else r), "prior.2.emb", "prior.2.emb of 9 slots (no level slot)")
    prior_reject(write_prior_file(pr, mid, tensor_edit=lambda n, r: r + r[:e1] if n == "prior.1.emb"
                                  else r), "prior.1.emb", "prior.1.emb of 11 slots")
    prior_reject(write_prior_file(pr, mid, tensor_edit=lambda n, r: None if n == "prior.2.emb" else r),
                 "prior.2.emb", "prior tensor missing")
    prior_reject(write_prior_file(pr, mid, tensor_edit=lambda n, r: r + bytes(4)
                                  if n == "prior.0.mult" else r), "prior.0.mult",
                 "prior tensor 4 bytes long")
    check(load_token_prior(parse_model_file(write_prior_file(pr, mid, extra_meta=[("train.seed", 0)]),
                                            "p")).S == pr.S, "prior with an extra key")

    if not _have_numpy():
        print("note: numpy not available: the prior decoder checks are skipped")
        return

    # -- the decoder: round trips against the spec-literal tables, and its reject rules --
    import numpy as np
    hd_dec = PriorDecoder(b"", b"")
    hd_dec._prior = TokenPrior()
    hd_dec._prior.K, hd_dec._prior.D = 4, 2
    hd_dec._cbq = {0: hcbq[0], 1: hcbq[1]}
    hprev = [np.array(p_, dtype=np.int64).reshape(2, 3) for p_ in hpl]
    for l in (1, 2):
        got = hd_dec._dense_input(np, l, hprev, 2, 3).tolist()
        want = [prior_dense_input(hcbq, hpl, l, i, j, 2, 3, 2) for i in range(2) for j in range(3)]
        check(got == want, f"vectorised dense input, stage {l}: {got} != {want}")
    dec = PriorDecoder(pfx["model"], pfx["prior"])
    info, _ = parse_vqz(pv(), prior_decoder=dec)
    check(info["Planes"] == pfx["planes"], "prior decode: round trip (3 planes)")
    check(pfx["coded_level"] == P and pfx["section"][16] == P, "fixture: Coded_Level = Plane_Count")
    for L in (1, 2):
        # Trimming keeps Coded_Level (3): the first L streams decode to the first L planes.
        sec = prior_section(pfx["prior_id"], pfx["streams"][:L], coded_level=P)
        info = parse_vqz(pv(section=sec, planes=pfx["planes"][:L]), prior_decoder=dec)[0]
        check(info["Planes"] == pfx["planes"][:L] and info["Coded_Level"] == P
              and info["Plane_Count"] == L, f"prior decode: trimmed to level {L}, Coded_Level kept")
    # The level slot matters: a prior whose tables depend on it (moderate weights), a level-2
    # file coded for level 3 (trimmed); read with Coded_Level 2 the tables differ, so the
    # streams give other tokens or are rejected; with Coded_Level 3 they decode.
    def level_heavy(p_):
        # Moderate logits (small b2, logit scale 200) and a level slot of large weights.
        for st_ in p_.stages:
            st_.c = 200
            st_.b2 = [rng.randint(-1 << 16, 1 << 16) for _ in st_.b2]
            n_ = (p_.K + 1) * p_.H
            st_.emb_shift = 6      # emb = v * 2^6: the others rounded down to multiples of 64
            st_.emb = ([(e >> 6) << 6 for e in st_.emb[:-n_]]
                       + random_emb(rng, n_, 6, -1 << 20, 1 << 20))
    lx = prior_fixture(rng, K=5, D=2, H=6, S=3, gw=6, gh=4, level=2, coded_level=3,
                       dense_heavy=True, tune=level_heavy)
    lpr = lx["pr"]
    lmf = parse_model_file(lx["model"], "m")
    lcbq = [quantized_codebook(lmf, m, 5, 2, lpr.F) for m in range(3)]
    ndiff = sum(prior_freq_reference(lpr, lcbq, lx["planes"], l, i, j, 4, 6, 3)
                != prior_freq_reference(lpr, lcbq, lx["planes"], l, i, j, 4, 6, 2)
                for l in range(2) for i in range(4) for j in range(6))
    check(ndiff >= 10, f"level slot: tables for Coded_Level 2 and 3 differ at {ndiff} of 48")
    ldec = PriorDecoder(lx["model"], lx["prior"])

    def lfile(cl):
        return write_vqz(width=24, height=16, downsample=4, planes=lx["planes"], alphabet=[5],
                         flags=FLAG_TOKEN_PRIOR, version_minor=2, model_id=lx["model_id"],
                         token_frame=prior_section(lx["prior_id"], lx["streams"], coded_level=cl))
    info = parse_vqz(lfile(3), prior_decoder=ldec)[0]
    check(info["Planes"] == lx["planes"] and info["Coded_Level"] == 3,
          "level-2 file with Coded_Level 3 decodes")
    try:
        got = parse_vqz(lfile(2), prior_decoder=ldec)[0]["Planes"]
        check(got != lx["planes"], "level-2 file read with Coded_Level 2: the same tokens")
    except Reject as e:
        check(e.field == "token stream", f"level-2 file read with Coded_Level 2: rejected as '{e}'")
    expect_reject(lfile(4), "Coded_Level", "level-2 file, Coded_Level 4 > prior.stages 3", ldec)
    # Coded_Level above the prior's stages: the container accepts it, the decoder refuses it.
    for cl in (P + 1, 255):
        data = pv(section=prior_section(pfx["prior_id"], pfx["streams"], coded_level=cl))
        e = expect_reject(data, "Coded_Level", f"Coded_Level {cl} > prior.stages {pr.S}", dec)
        check(e is not None and e.field == "Coded_Level" and str(pr.S) in e.detail,
              f"Coded_Level {cl} > stages: names the value and the stage count")
    # Every Coded_Level byte value (CRCs recomputed): below P the container rejects it, above
    # S the decoder does, and only P = S decodes (to the original tokens).
    hs0 = struct.unpack_from("<H", pv(), 10)[0]
    fields = {}
    for cl in range(256):
        b = bytearray(pv())
        b[hs0 + 16] = cl
        struct.pack_into("<I", b, 64, crc32(bytes(b[hs0:])))
        struct.pack_into("<I", b, hs0 - 4, crc32(bytes(b[:hs0 - 4])))
        try:
            got = parse_vqz(bytes(b), prior_decoder=dec)[0]["Planes"]
            fields[cl] = "ok" if got == pfx["planes"] else "other"
        except Reject as e:
            fields[cl] = e.field
    check(all(fields[cl] == ("Coded_Level" if cl != P else "ok") for cl in range(256)),
          f"every Coded_Level byte: {sorted(set(fields.items()), key=lambda t: t[0])[:6]} ...")
    minimal = write_vqz(width=20, height=12, downsample=8, planes=[[0, 1, 2, 3, 4, 5]])
    check(parse_vqz(minimal, prior_decoder=dec)[0]["Planes"][0] == [0, 1, 2, 3, 4, 5],
          "a zstd file is read as before when a prior decoder is given")
    variants = [
        dict(K=2, D=1, H=1, S=1, gw=1, gh=1),
        dict(K=3, D=2, H=3, S=2, gw=7, gh=1),
        dict(K=5, D=4, H=6, S=4, gw=1, gh=6, F=-3, cb_range=3000.0),
        dict(K=300, D=2, H=3, S=2, gw=3, gh=2, F=10, codebook_dtype=DTYPE_F32),
        dict(K=8, D=3, H=4, S=3, gw=4, gh=3, scale=0.001),
        dict(K=7, D=3, H=6, S=4, gw=2, gh=2, dense_heavy=True),
        dict(K=9, D=4, H=8, S=3, gw=5, gh=3, dense_heavy=True, F=2, cb_range=900.0),
        # cbq clamped to +-2^30 (|value| * 2^24 up to 2^31.6), the r sums of 2 or 3 terms wrap.
        dict(K=6, D=3, H=6, S=4, gw=3, gh=3, F=24, cb_range=200.0, dense_heavy=True,
             codebook_dtype=DTYPE_F32),
        # logits near +-2^31: z* - z_k > 2^31 (the difference is a 64-bit one).
        dict(K=5, D=1, H=250, S=2, gw=4, gh=2, spread=True),
        # weights at the limits: the 32-bit sums of a_j and z_k wrap, r clamps.
        dict(K=4, D=300, H=270, S=2, gw=3, gh=2, F=0, cb_range=60000.0, extreme=True,
             codebook_dtype=DTYPE_F32),
        # Coded_Level above Plane_Count (a trimmed file's), and the level slot's token Λ = K
        # (prior.stages = K + 1 = Coded_Level).
        dict(K=6, D=2, H=5, S=4, gw=4, gh=3, level=2, coded_level=4),
        dict(K=2, D=2, H=4, S=3, gw=5, gh=3, coded_level=3),
        dict(K=3, D=1, H=3, S=4, gw=3, gh=4, level=1, coded_level=4, dense_heavy=True),
    ]
    for n, kw in enumerate(variants):
        fx = prior_fixture(rng, **kw)
        d = PriorDecoder(fx["model"], fx["prior"])
        kk = fx["K"]
        b = write_vqz(width=fx["gw"] * 4, height=fx["gh"] * 4, downsample=4, planes=fx["planes"],
                      alphabet=[kk] * len(fx["planes"]) if n % 2 else [kk], flags=FLAG_TOKEN_PRIOR,
                      version_minor=2, model_id=fx["model_id"], token_frame=fx["section"])
        if kw.get("spread"):
            mf_ = parse_model_file(fx["model"], "m")
            cbq_ = [quantized_codebook(mf_, m, kk, kw["D"], fx["pr"].F) for m in range(kw["S"])]
            z_ = prior_logits_reference(fx["pr"], cbq_, fx["planes"], 1, 1, 1, fx["gh"], fx["gw"],
                                        fx["coded_level"])
            check(max(z_) - min(z_) > 1 << 31, f"spread variant: z* - z_k > 2^31 ({z_})")
        try:
            info = parse_vqz(b, prior_decoder=d)[0]
            check(info["Planes"] == fx["planes"] and info["Coded_Level"] == fx["coded_level"],
                  f"prior decode variant {n} ({kw})")
        except Reject as e:
            check(False, f"prior decode variant {n} ({kw}): rejected: {e}")

    s0 = st[0]
    for state, what in (((1 << 23) - 1, "initial state 2^23 - 1"), (1 << 31, "initial state 2^31"),
                        (0, "initial state 0"), (0xFFFFFFFF, "initial state 2^32 - 1")):
        e = expect_reject(pv(section=prior_section(pfx["prior_id"],
                                                    [struct.pack("<I", state) + s0[4:]] + st[1:])),
                          "token stream", what, dec)
        check(e is not None and "plane 0" in e.detail and "initial state" in e.detail,
              f"{what}: names the state")
    e = expect_reject(pv(section=prior_section(pfx["prior_id"], st[:2] + [st[2] + b"\x00"])),
                      "token stream", "a byte left over in the last stream", dec)
    check(e is not None and "plane 2" in e.detail, "left-over byte: names the plane")
    for p in range(P):
        if len(st[p]) > 4:
            cut = st[:p] + [st[p][:-1]] + st[p + 1:]
            expect_reject(pv(section=prior_section(pfx["prior_id"], cut)), "token stream",
                          f"stream {p} one byte short", dec)
    expect_reject(pv(section=prior_section(pfx["prior_id"], [struct.pack("<I", 1 << 23)] * P)),
                  "token stream", "streams of a bare state", dec)
    other = prior_fixture(rng)
    expect_reject(pv(), "Prior_ID", "another prior", PriorDecoder(pfx["model"], other["prior"]))
    expect_reject(pv(), "Model_ID", "another model", PriorDecoder(other["model"], pfx["prior"]))
    bad_prior = write_prior_file(pr, other["model_id"])
    expect_reject(pv(section=prior_section(sha16(bad_prior), st)), "prior.model_id",
                  "a prior of another model", PriorDecoder(pfx["model"], bad_prior))
    expect_reject(pv(alphabet=[K + 1]), "Alphabet_Size", "Alphabet_Size != the prior's K", dec)
    expect_reject(pv(alphabet=[K, K, K - 1]), "Alphabet_Size", "third Alphabet_Size != K", dec)

    def variant(model=None, prior_pr=None, **prior_kw):
        model = pfx["model"] if model is None else model
        m_id = sha16(model)
        prior = write_prior_file(pr if prior_pr is None else prior_pr, m_id, **prior_kw)
        return pv(section=prior_section(sha16(prior), st), model_id=m_id), PriorDecoder(model, prior)

    short = random_token_prior(rng, K, pr.D, pr.H, 2, pr.F)
    expect_reject(*variant(prior_pr=short)[:1], "prior.stages", "prior of 2 stages, 3 planes",
                  variant(prior_pr=short)[1])
    # A level-2 file (trimmed from level 3: Coded_Level 3) and a 2-stage prior: Coded_Level > S.
    m_id = sha16(pfx["model"])
    short_blob = write_prior_file(short, m_id)
    expect_reject(pv(section=prior_section(sha16(short_blob), st[:2], coded_level=3),
                     planes=pfx["planes"][:2]), "Coded_Level",
                  "trimmed level-2 file, Coded_Level 3, prior of 2 stages",
                  PriorDecoder(pfx["model"], short_blob))
    mfm = parse_model_file(pfx["model"], "m")
    cbs = [(n_, dt, list(dims), raw) for n_, (dt, dims, raw) in mfm.tensors.items()]
    for model, field, what in (
            (write_model_file([("architecture", "x")], cbs[:2]), "vq.codebook.2", "no codebook 2"),
            (write_model_file([("architecture", "x")], [cbs[0], (cbs[1][0], DTYPE_U8, [K * 3 * 2],
                                                                 cbs[1][3])] + cbs[2:]),
             "vq.codebook.1", "codebook 1 of u8"),
            (write_model_file([("architecture", "x")], [cbs[0], (cbs[1][0], DTYPE_F16, [3, K],
                                                                 cbs[1][3])] + cbs[2:]),
             "vq.codebook.1", "codebook 1 transposed"),
            (write_model_file([("architecture", "x")], [(cbs[0][0], DTYPE_F16, [K, 3],
                                                         b"\x00\x7e" + cbs[0][3][2:])] + cbs[1:]),
             "vq.codebook.0", "codebook 0 with a NaN"),
            (refix(pfx["model"][:-10] + b"\x01" + pfx["model"][-9:], header=False), "padding",
             "model with nonzero padding")):
        data, d = variant(model=model)
        expect_reject(data, field, what, d)

    # Damaged streams, CRCs recomputed: a rejection or other tokens, never another error.
    outcomes = {"rejected": 0, "other tokens": 0}
    base = pv()
    hs = struct.unpack_from("<H", base, 10)[0]
    first = hs + 17 + 4 * P
    for i in range(300):
        b = bytearray(base)
        for _ in range(rng.choice((1, 1, 2, 5))):
            b[rng.randrange(first, len(b))] = rng.randrange(256)
        if bytes(b) == base:
            continue
        struct.pack_into("<I", b, 64, crc32(bytes(b[hs:])))
        struct.pack_into("<I", b, hs - 4, crc32(bytes(b[:hs - 4])))
        try:
            got = parse_vqz(bytes(b), prior_decoder=dec)[0]["Planes"]
            # Accepted: only other tokens (a change that decodes to the same tokens would be
            # a second valid coding of them, which rANS with these tables does not have).
            check(got != pfx["planes"], f"damaged stream {i}: decoded to the original tokens")
            outcomes["other tokens"] += 1
        except Reject as e:
            outcomes["rejected"] += 1
            check(e.field == "token stream", f"damaged stream {i}: rejected as '{e}'")
        except Exception as e:  # noqa: BLE001
            check(False, f"damaged stream {i}: {type(e).__name__}: {e}")
    check(outcomes["rejected"] >= 250, f"damaged streams mostly rejected: {outcomes}")


def self_test():
    try:
        return _self_test()
    except Exception:  # noqa: BLE001
        import traceback
        print("FAIL: the self-test itself raised:")
        print(traceback.format_exc().rstrip())
        print("self-test: FAILED")
        return 1


def _self_test():
    rng = random.Random(20261121)
    failures = []
    checks = 0

    def check(cond, what):
        nonlocal checks
        checks += 1
        if not cond:
            failures.append(what)

    def expect_reject(data, field_substr, what, decoder=None):
        try:
            parse_vqz(data, prior_decoder=decoder)
        except Reject as e:
            check(field_substr in e.field, f"{what}: rejected as '{e}', expected field '{field_substr}'")
            return e
        except Exception as e:  # noqa: BLE001
            check(False, f"{what}: unexpected {type(e).__name__}: {e}")
            return None
        check(False, f"{what}: accepted, expected rejection naming '{field_substr}'")
        return None

    # -- primitives --
    check(crc32(b"123456789") == 0xCBF43926, "CRC-32 check value")
    lib = Zstd.lib()
    for s in (0, 1, 6, 100, 1000, 131071, 131072, 131073, 1 << 20, (1 << 30) + 12345):
        check(zstd_compress_bound(s) == lib.ZSTD_compressBound(s), f"compressBound({s})")
    check([(s >> 1) ^ -(s & 1) for s in range(9)] == [0, -1, 1, -2, 2, -3, 3, -4, 4], "zigzag")
    f = Zstd.compress(b"abc" * 10)
    check((f[4] >> 2) & 1 == 1, "writer sets Content_Checksum_Flag")
    check(Zstd.frame_content_size(f) == 30, "writer declares content size")

    # -- valid files --
    model_id = hashlib.sha256(b"vqz golden model").digest()[:16]
    valid = {}
    minimal = write_vqz(width=20, height=12, downsample=8, level=2,
                        planes=[[0, 1, 2, 3, 4, 5], [0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF]],
                        alphabet=[256])
    valid["minimal"] = minimal
    info, _ = parse_vqz(minimal)
    check(info["Header_Size"] == 76, "minimal Header_Size 76")
    check(info["Grid_Width"] == 3 and info["Grid_Height"] == 2, "minimal grid 3 x 2")
    check(info["Planes"] == [[0, 1, 2, 3, 4, 5], [250, 251, 252, 253, 254, 255]], "minimal planes")
    check(info["Model_ID"] == model_id.hex(), "minimal Model_ID")
    check(info["Alpha"] is None and "Values" not in info, "minimal no alpha / values")
    check(info["Signature"] == "8956515a0d0a1a0a", "signature hex")

    gvals = [[-4, 4], [0, -1], [3, -2]]  # 3 planes of 2 x 1
    galpha = [0, 17, 34, 51, 68, 85, 102, 119, 136, 153, 170, 187, 204, 221, 255]
    gauss = write_vqz(payload_kind=1, flags=FLAG_GRAY, downsample=4, width=5, height=3, level=1,
                      planes=[[zigzag(v) for v in p] for p in gvals], alphabet=[9],
                      quant_step=0.5, alpha=galpha)
    valid["gaussian-alpha"] = gauss
    info, _ = parse_vqz(gauss)
    check(info["Values"] == gvals, "gaussian values")
    check(info["Planes"] == [[7, 8], [0, 1], [6, 3]], "gaussian zigzag symbols")
    check(info["Alpha"] == galpha, "gaussian alpha")
    check(info["Flags"] == 3 and info["Gray"] and info["Alpha_Present"], "gaussian flags")
    check(info["Quant_Step"] == 0.5, "gaussian Quant_Step")

    # Two-byte symbols, one alphabet per plane, both layouts.
    gw, gh = 7, 5
    two = [[rng.randrange(300) for _ in range(gw * gh)], [rng.randrange(65536) for _ in range(gw * gh)],
           [rng.randrange(2) for _ in range(gw * gh)]]
    two[1][3] = 65535
    for layout in (0, 1):
        b = write_vqz(width=gw * 2 - 1, height=gh * 2, downsample=2, planes=two,
                      alphabet=[300, 65536, 2], layout=layout, source_bit_depth=16)
        valid[f"two-byte-layout{layout}"] = b
        info, extra = parse_vqz(b)
        check(info["Planes"] == two, f"two-byte layout {layout} planes")
        check(extra["symbol_bytes"] == 2, f"two-byte layout {layout} Symbol_Bytes")
    # Check the layout-1 byte order against a hand-made token section.
    raw = bytes([1, 2, 0, 1])  # one plane of 2 symbols: lows 01 02, highs 00 01 -> 1, 258
    b = write_vqz(width=2, height=1, downsample=1, planes=[[0, 0]], alphabet=[300], layout=1,
                  token_raw=raw)
    check(parse_vqz(b)[0]["Planes"] == [[1, 258]], "layout 1 byte order")
    b = write_vqz(width=2, height=1, downsample=1, planes=[[0, 0]], alphabet=[1000], layout=0,
                  token_raw=raw)
    check(parse_vqz(b)[0]["Planes"] == [[513, 256]], "layout 0 byte order")

    # A higher minor version with extension bytes, which must be ignored.
    b = write_vqz(width=20, height=12, downsample=8, planes=[[1, 2, 3, 4, 5, 6]], alphabet=[7],
                  version_minor=3, extension=b"\xEE" * 12)
    valid["minor3-extension"] = b
    info, extra = parse_vqz(b)
    check(info["Header_Size"] == 92 and extra["extension_bytes"] == 12, "minor 3 extension")
    check(info["Metadata_Section_Size"] == 0 and info["Metadata"] == [], "minor 3 without metadata")

    # Version 1.1: the worked example (v1-minimal plus gAMA and tEXt entries).
    ex_entries = [(b"gAMA", bytes.fromhex("0000b18f")), (b"tEXt", b"Comment\x00hello")]
    ex_content = bytes.fromhex("67414d41040000000000b18f74455874" "0d000000436f6d6d656e740068656c6c6f")
    check(b"".join(t + struct.pack("<I", len(d)) + d for t, d in ex_entries) == ex_content,
          "worked-example metadata content")
    v11 = write_vqz(width=20, height=12, downsample=8, level=2,
                    planes=[[0, 1, 2, 3, 4, 5], [0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF]],
                    alphabet=[256], metadata=ex_entries)
    valid["v1.1-metadata"] = v11
    info, extra = parse_vqz(v11)
    check(info["Version_Minor"] == 1 and info["Header_Size"] == 80, "1.1 Header_Size 80")
    check(struct.unpack_from("<I", v11, 72)[0] == info["Metadata_Section_Size"] > 0,
          "1.1 Metadata_Section_Size at offset 72")
    check(info["Metadata"] == [{"Entry_Type": "gAMA", "Entry_Data": "0000b18f"},
                               {"Entry_Type": "tEXt", "Entry_Data": b"Comment\x00hello".hex()}],
          "1.1 metadata entries")
    check(extra["metadata_bytes"] == 33, "1.1 metadata content 33 bytes")
    check(info["Planes"] == [[0, 1, 2, 3, 4, 5], [250, 251, 252, 253, 254, 255]], "1.1 planes")
    # 1.1 without metadata (allowed: SHOULD write 1.0), with alpha and metadata, minor 2 + extension.
    b = write_vqz(width=20, height=12, downsample=8, planes=[[1, 2, 3, 4, 5, 6]], alphabet=[7],
                  version_minor=1)
    info, _ = parse_vqz(b)
    check(info["Header_Size"] == 80 and info["Metadata_Section_Size"] == 0 and info["Metadata"] == [],
          "1.1 without metadata")
    valid["v1.1-empty"] = b
    b = write_vqz(payload_kind=1, flags=FLAG_GRAY, downsample=4, width=5, height=3, level=1,
                  planes=[[7, 8], [0, 1], [6, 3]], alphabet=[9], quant_step=0.5,
                  alpha=list(range(15)), metadata=[(b"zTXt", b""), (b"tEXt", b"a\x00b"),
                                                   (b"tEXt", b"c\x00d"), (b"iCCP", bytes(300))],
                  version_minor=2, extension=b"\x55" * 8)
    info, extra = parse_vqz(b)
    check(info["Alpha"] == list(range(15)) and [e["Entry_Type"] for e in info["Metadata"]]
          == ["zTXt", "tEXt", "tEXt", "iCCP"] and info["Metadata"][0]["Entry_Data"] == ""
          and extra["extension_bytes"] == 8, "minor 2: alpha, metadata, extension")
    valid["v1.2-alpha-metadata"] = b

    # Larger VQ file with alpha, several planes, random content.
    w, h, fct = 150, 97, 4
    gw, gh = ceil_div(w, fct), ceil_div(h, fct)
    big_planes = [[rng.randrange(1024) for _ in range(gw * gh)] for _ in range(4)]
    big_alpha = [rng.randrange(256) if rng.random() < 0.1 else 255 for _ in range(w * h)]
    b = write_vqz(width=w, height=h, downsample=fct, planes=big_planes, alphabet=[1024],
                  layout=1, alpha=big_alpha)
    info, _ = parse_vqz(b)
    check(info["Planes"] == big_planes and info["Alpha"] == big_alpha, "big round trip")
    valid["big"] = b

    # Token_Dictionary: the frame declares a Dictionary_ID; tokens are not decoded.
    frame = add_dict_id(Zstd.compress(bytes(6)), 0x1234ABCD)
    b = write_vqz(flags=FLAG_TOKEN_DICTIONARY, token_frame=frame, planes=[[0] * 6], alpha=[9] * 240)
    info, extra = parse_vqz(b)
    check(info["Token_Dictionary"] and info["Planes"] is None and info["Alpha"] == [9] * 240,
          "dictionary file: header and alpha read, planes null")
    check(extra["token_dict_id"] == 0x1234ABCD, "dictionary id read")
    valid["dictionary"] = b

    # Version 1.2: Token_Prior. Tokens coded with a random prior by the spec's encoder and the
    # spec-literal tables (pure Python); without the prior the container is read, Planes null.
    pfx = prior_fixture(rng)

    def pv(section=None, **kw):
        base = dict(width=10, height=8, downsample=2, planes=pfx["planes"], alphabet=[pfx["K"]],
                    flags=FLAG_TOKEN_PRIOR, version_minor=2, model_id=pfx["model_id"],
                    token_frame=pfx["section"] if section is None else section)
        base.update(kw)
        return write_vqz(**base)

    b = pv()
    info, extra = parse_vqz(b)
    check(info["Token_Prior"] and info["Planes"] is None and info["Flags"] == FLAG_TOKEN_PRIOR
          and info["Prior_ID"] == pfx["prior_id"].hex() and info["Coded_Level"] == 3
          and info["Stream_Size"] == [len(st) for st in pfx["streams"]]
          and list(info).index("Token_Prior") == list(info).index("Token_Dictionary") + 1,
          "1.2 prior-coded file without the prior: Prior_ID, Stream_Size, Planes null")
    check(not parse_vqz(minimal)[0]["Token_Prior"] and "Prior_ID" not in parse_vqz(minimal)[0],
          "1.0 file: Token_Prior false, no Prior_ID")
    valid["v1.2-prior"] = b
    valid["v1.2-prior-alpha-metadata"] = pv(alpha=list(range(80)), metadata=ex_entries)
    info, _ = parse_vqz(valid["v1.2-prior-alpha-metadata"])
    check(info["Alpha"] == list(range(80)) and len(info["Metadata"]) == 2 and info["Planes"] is None,
          "1.2 prior file with alpha and metadata")

    # -- damage: every truncation, trailing bytes, every single-byte change ----------------
    for name, good in valid.items():
        for cut in range(len(good)):
            try:
                parse_vqz(good[:cut])
                check(False, f"{name}: truncation to {cut} bytes accepted")
            except Reject:
                check(True, "")
            except Exception as e:  # noqa: BLE001
                check(False, f"{name}: truncation to {cut}: {type(e).__name__}: {e}")
        expect_reject(good + b"\x00", "file length", f"{name}: one trailing byte")
        for pos in range(len(good)):
            for mask in (0x01, 0x80, 0xFF):
                bad = bytearray(good)
                bad[pos] ^= mask
                try:
                    parse_vqz(bytes(bad))
                    check(False, f"{name}: byte {pos} ^ 0x{mask:02X} accepted")
                except Reject as e:
                    # Header damage must not get past the header checks; payload damage must be
                    # caught by Payload_CRC32 (before decompression).
                    hs = struct.unpack_from("<H", good, 10)[0]
                    if pos >= hs:
                        check(e.field == "Payload_CRC32",
                              f"{name}: payload byte {pos} ^ 0x{mask:02X} rejected as '{e}'")
                    else:
                        check(e.field in ("Signature", "Version_Major", "Header_Size",
                                          "file length", "Header_CRC32"),
                              f"{name}: header byte {pos} ^ 0x{mask:02X} rejected as '{e}'")
                except Exception as e:  # noqa: BLE001
                    check(False, f"{name}: byte {pos}: {type(e).__name__}: {e}")

    # -- consistently checksummed files that break a field rule (writer bugs) -----------------
    def vq(**kw):
        base = dict(width=20, height=12, downsample=8, level=2,
                    planes=[[0, 1, 2, 3, 4, 5], [250, 251, 252, 253, 254, 255]], alphabet=[256])
        base.update(kw)
        return write_vqz(**base)

    def ga(**kw):
        base = dict(payload_kind=1, flags=FLAG_GRAY, downsample=4, width=5, height=3, level=1,
                    planes=[[7, 8], [0, 1], [6, 3]], alphabet=[9], quant_step=0.5, alpha=galpha)
        base.update(kw)
        return write_vqz(**base)

    expect_reject(b"", "Signature", "empty file")
    expect_reject(SIGNATURE[:5], "Signature", "5 bytes of signature")
    expect_reject(b"\x89PNG\r\n\x1a\n" + bytes(100), "Signature", "PNG signature")
    expect_reject(SIGNATURE, "Version_Major", "signature only")
    expect_reject(SIGNATURE + b"\x01\x00\x4c", "Header_Size", "11 bytes")
    expect_reject(vq(override={"Version_Major": 2}), "Version_Major", "Version_Major 2")
    expect_reject(vq(override={"Version_Major": 0}), "Version_Major", "Version_Major 0")
    expect_reject(vq(override={"Header_Size": 75}), "Header_Size", "Header_Size 75")
    expect_reject(vq(override={"Header_Size": 4097}), "Header_Size", "Header_Size 4097")
    expect_reject(vq(override={"Header_Size": 4000}), "file length", "Header_Size beyond the file")
    expect_reject(vq(header_crc_fix=False), "Header_CRC32", "bad Header_CRC32")
    expect_reject(vq(override={"Payload_Kind": 2}), "Payload_Kind", "Payload_Kind 2")
    for bit in range(4, 8):
        expect_reject(vq(override={"Flags": 1 << bit}), "Flags", f"reserved flag bit {bit}")
    expect_reject(vq(override={"Flags": FLAG_TOKEN_PRIOR}), "Flags", "Token_Prior in a 1.0 file")
    for d in (0, 3, 5, 7, 9, 12, 32, 255):
        expect_reject(vq(override={"Source_Bit_Depth": d}), "Source_Bit_Depth", f"bit depth {d}")
    expect_reject(vq(override={"Downsample_Factor": 0}), "Downsample_Factor", "f = 0")
    expect_reject(vq(override={"Downsample_Factor": 65}), "Downsample_Factor", "f = 65")
    expect_reject(vq(override={"Image_Width": 0}), "Image_Width", "width 0")
    expect_reject(vq(override={"Image_Height": 0}), "Image_Height", "height 0")
    expect_reject(vq(override={"Image_Width": MAX_SIDE + 1}), "Image_Width", "width 2^20 + 1")
    expect_reject(vq(override={"Image_Height": MAX_SIDE + 1}), "Image_Height", "height 2^20 + 1")
    expect_reject(vq(override={"Image_Width": 20000, "Image_Height": 20000}), "Max_Pixels",
                  "20000 x 20000")
    expect_reject(vq(override={"Grid_Width": 2}), "Grid_Width", "Grid_Width floor instead of ceil")
    expect_reject(vq(override={"Grid_Height": 3}), "Grid_Height", "Grid_Height + 1")
    expect_reject(vq(override={"Level": 0}), "Level", "Level 0")
    expect_reject(vq(override={"Level": 3}), "Level", "VQ Level != Plane_Count")
    expect_reject(vq(override={"Plane_Count": 0, "Level": 0}), "Level", "Level 0 Plane_Count 0")
    expect_reject(ga(override={"Plane_Count": 0}), "Plane_Count", "Plane_Count 0")
    check(parse_vqz(ga(level=7))[0]["Level"] == 7, "Gaussian Level independent of Plane_Count")
    expect_reject(ga(override={"Alphabet_Count": 2}, alphabet=[9, 9]), "Alphabet_Count",
                  "Alphabet_Count 2 with 3 planes")
    expect_reject(vq(version_minor=0, extension=bytes(4)), "Header_Size",
                  "minor 0 with extension bytes")
    expect_reject(ga(version_minor=1, override={"Alphabet_Count": 3}),
                  "Header_Size", "minor 1 header too small for its alphabet table")
    expect_reject(vq(override={"Symbol_Layout": 2}), "Symbol_Layout", "Symbol_Layout 2")
    expect_reject(vq(layout=1), "Symbol_Layout", "byte planes with one-byte symbols")
    expect_reject(vq(quant_step=0.5), "Quant_Step", "VQ Quant_Step 0.5")
    expect_reject(vq(quant_step=-0.0), "Quant_Step", "VQ Quant_Step -0.0")
    for q in (0.0, -0.0, -0.5, float("inf"), float("nan"), float("-inf")):
        expect_reject(ga(quant_step=q), "Quant_Step", f"Gaussian Quant_Step {q}")
    check(parse_vqz(ga(quant_step=1e-45))[0]["Quant_Step"] > 0, "subnormal Quant_Step accepted")
    expect_reject(vq(override={"Token_Section_Size": 0}), "Token_Section_Size", "token size 0")
    expect_reject(vq(override={"Alpha_Section_Size": 5}), "Alpha_Section_Size",
                  "alpha size without Alpha_Present")
    expect_reject(ga(override={"Alpha_Section_Size": 0}), "Alpha_Section_Size",
                  "Alpha_Present with alpha size 0")
    for a in (0, 1, 65537, 0xFFFFFFFF):
        expect_reject(vq(alphabet=[a]), "Alphabet_Size", f"Alphabet_Size {a}")
    expect_reject(ga(alphabet=[9, 1, 9]), "Alphabet_Size", "second Alphabet_Size 1")
    # 16384 x 16384 = 2^28 pixels at f = 1: 5 planes of one byte exceed 2^30; 4 do not.
    big = dict(width=16384, height=16384, downsample=1, token_frame=b"\x00" * 10,
               planes=[[0]] * 5, alphabet=[256])
    expect_reject(write_vqz(**big), "Max_Token_Bytes", "5 x 2^28 token bytes")
    big["planes"] = [[0]] * 4
    expect_reject(write_vqz(**big), "token section zstd frame magic",
                  "4 x 2^28 token bytes (allowed; then a junk frame)")
    big["override"] = {"Token_Section_Size": 10, "Image_Height": 16385}
    expect_reject(write_vqz(**big), "Max_Pixels", "2^28 + 16384 pixels")
    bound = zstd_compress_bound(12)
    fr = Zstd.compress(bytes(range(6)) + bytes(range(250, 256)))
    expect_reject(vq(token_frame=fr + bytes(bound + 1 - len(fr))), "Token_Section_Size",
                  "token section larger than ZSTD_compressBound")
    bound = zstd_compress_bound(15)
    fr = Zstd.compress(bytes(galpha))
    expect_reject(ga(alpha_frame=fr + bytes(bound + 1 - len(fr))), "Alpha_Section_Size",
                  "alpha section larger than ZSTD_compressBound")
    good = vq()
    expect_reject(vq(override={"Token_Section_Size": len(good) - 76 - 1}), "file length",
                  "one trailing byte (consistent CRCs)")
    expect_reject(vq(payload_crc=12345), "Payload_CRC32", "bad Payload_CRC32")
    # zstd frame rules.
    toks = bytes(range(6)) + bytes(range(250, 256))
    expect_reject(vq(token_frame=Zstd.compress(toks, content_size=False)),
                  "token section Frame_Content_Size", "no declared content size")
    expect_reject(vq(token_frame=Zstd.compress(toks + b"\x00")),
                  "token section Frame_Content_Size", "declared content size too large")
    expect_reject(vq(token_frame=Zstd.compress(toks[:-1])),
                  "token section Frame_Content_Size", "declared content size too small")
    expect_reject(vq(token_frame=Zstd.compress(toks, checksum=False)),
                  "token section Content_Checksum_Flag", "no checksum flag")
    expect_reject(vq(token_frame=Zstd.compress(toks) + b"\x00"), "token section zstd frame",
                  "frame followed by a stray byte")
    expect_reject(vq(token_frame=Zstd.compress(toks) + Zstd.compress(toks)),
                  "token section zstd frame", "two frames")
    expect_reject(vq(token_frame=Zstd.compress(toks)[:-1]), "token section zstd frame",
                  "frame missing its last byte")
    skippable = struct.pack("<II", 0x184D2A50, 4) + bytes(4)
    expect_reject(vq(token_frame=skippable + Zstd.compress(toks)), "token section zstd frame magic",
                  "skippable frame first")
    expect_reject(vq(token_frame=b"\x28\xb5\x2f"), "token section zstd frame", "3-byte section")
    expect_reject(vq(token_frame=add_dict_id(Zstd.compress(toks), 77)), "token section Dictionary_ID",
                  "dictionary id without Token_Dictionary")
    expect_reject(vq(flags=FLAG_TOKEN_DICTIONARY), "token section Dictionary_ID",
                  "Token_Dictionary without a dictionary id")
    expect_reject(ga(alpha_frame=add_dict_id(Zstd.compress(bytes(galpha)), 5)),
                  "alpha section Dictionary_ID", "alpha frame with a dictionary")
    expect_reject(ga(alpha_frame=Zstd.compress(bytes(galpha), content_size=False)),
                  "alpha section Frame_Content_Size", "alpha: no content size")
    expect_reject(ga(alpha_frame=Zstd.compress(bytes(galpha) + b"\x01")),
                  "alpha section Frame_Content_Size", "alpha: 16 bytes for a 5 x 3 image")
    expect_reject(ga(alpha_frame=Zstd.compress(bytes(galpha), checksum=False)),
                  "alpha section Content_Checksum_Flag", "alpha: no checksum")
    expect_reject(ga(alpha_frame=Zstd.compress(bytes(galpha)) + b"\x00"), "alpha section zstd frame",
                  "alpha: stray byte")
    # Version 1.1 header and metadata section rules.
    expect_reject(vq(version_minor=1, extension=bytes(4)), "Header_Size", "minor 1 with 4 extra bytes")
    expect_reject(vq(override={"Version_Minor": 1}), "Header_Size", "minor 1 with a 1.0-sized header")
    expect_reject(vq(override={"Version_Minor": 5}), "Header_Size", "minor 5 with a 1.0-sized header")
    mbound = zstd_compress_bound(MAX_METADATA_BYTES)
    check(mbound == 16_842_752, "bound(Max_Metadata_Bytes)")
    expect_reject(vq(version_minor=1, metadata_size=mbound + 1), "Metadata_Section_Size",
                  "Metadata_Section_Size above the bound")
    expect_reject(vq(version_minor=1, metadata_size=0xFFFFFFFF), "Metadata_Section_Size",
                  "Metadata_Section_Size 2^32 - 1")
    expect_reject(vq(version_minor=1, metadata_size=mbound), "file length",
                  "Metadata_Section_Size at the bound, file too short")
    expect_reject(vq(metadata=ex_entries, append=b"\x00"), "file length", "1.1 trailing byte")
    e = expect_reject(vq(metadata=ex_entries, metadata_size=len(Zstd.compress(ex_content)) - 1),
                      "file length", "1.1 Metadata_Section_Size one short")
    check(e is not None and "Metadata_Section_Size" in e.detail, "1.1 file length names the field")
    expect_reject(vq(metadata=ex_entries, payload_crc=1), "Payload_CRC32", "1.1 bad Payload_CRC32")
    expect_reject(vq(metadata_frame=b"\x28\xb5\x2f"), "metadata section zstd frame",
                  "3-byte metadata section")
    expect_reject(vq(metadata_frame=skippable + Zstd.compress(ex_content)),
                  "metadata section zstd frame magic", "metadata: skippable frame first")
    expect_reject(vq(metadata_frame=Zstd.compress(ex_content, content_size=False)),
                  "metadata section Frame_Content_Size", "metadata: no content size")
    expect_reject(vq(metadata=b"gAMA\x00\x00\x00"), "metadata section Frame_Content_Size",
                  "metadata: 7 bytes of content")
    check(parse_vqz(vq(metadata=b"gAMA\x00\x00\x00\x00"))[0]["Metadata"]
          == [{"Entry_Type": "gAMA", "Entry_Data": ""}], "metadata: 8 bytes, one empty entry")
    big_meta = b"tEXt" + struct.pack("<I", MAX_METADATA_BYTES - 8) + bytes(MAX_METADATA_BYTES - 8)
    check(len(big_meta) == MAX_METADATA_BYTES, "Max_Metadata_Bytes content")
    fr = Zstd.compress(big_meta, level=1)
    check(parse_vqz(vq(metadata_frame=fr))[0]["Metadata"][0]["Entry_Type"] == "tEXt",
          "metadata: exactly Max_Metadata_Bytes accepted")
    expect_reject(vq(metadata_frame=Zstd.compress(big_meta + b"\x00", level=1)),
                  "metadata section Frame_Content_Size", "metadata: Max_Metadata_Bytes + 1")
    expect_reject(vq(metadata_frame=Zstd.compress(ex_content, checksum=False)),
                  "metadata section Content_Checksum_Flag", "metadata: no checksum")
    expect_reject(vq(metadata_frame=Zstd.compress(ex_content) + b"\x00"),
                  "metadata section zstd frame", "metadata: stray byte")
    expect_reject(vq(metadata_frame=Zstd.compress(ex_content) + Zstd.compress(ex_content)),
                  "metadata section zstd frame", "metadata: two frames")
    expect_reject(vq(metadata_frame=add_dict_id(Zstd.compress(ex_content), 9)),
                  "metadata section Dictionary_ID", "metadata: dictionary")
    fr = bytearray(Zstd.compress(ex_content, level=1))
    fr[-5] ^= 0x40
    expect_reject(vq(metadata_frame=bytes(fr)), "metadata section", "metadata: frame body damage")
    # Entries.
    e = expect_reject(vq(metadata=ex_content + b"tIME\x00\x00\x00"), "metadata entry",
                      "metadata: third entry head cut short")
    check(e is not None and "entry 2" in e.detail, "head cut short names the entry")
    expect_reject(vq(metadata=ex_content + b"\x00"), "metadata entry", "metadata: one stray byte")
    e = expect_reject(vq(metadata=ex_content[:-1]), "metadata Entry_Length", "metadata: length overrun")
    check(e is not None and "entry 1 'tEXt'" in e.detail, "length overrun names the entry")
    expect_reject(vq(metadata=b"gAMA" + struct.pack("<I", 0xFFFFFFFF) + bytes(4)),
                  "metadata Entry_Length", "metadata: Entry_Length 2^32 - 1")
    for t in (b"gA1A", b"g AM", b"\x00AMA", b"gAM\xc1", b"gA\x80A", b"g[MA", b"`AMA", b"gAM{"):
        expect_reject(vq(metadata=t + struct.pack("<I", 0)), "metadata Entry_Type", f"type {t!r}")
    for t in (b"IDAT", b"PLTE", b"IHDR", b"IEND", b"GAMA", b"TEXt"):
        e = expect_reject(vq(metadata=[(b"gAMA", bytes(4)), (t, b"x")]), "metadata Entry_Type",
                          f"critical type {t!r}")
        check(e is not None and "critical" in e.detail and "entry 1" in e.detail, f"{t!r}: critical")
    for t in (b"gAmA", b"tExt", b"iccp"):
        e = expect_reject(vq(metadata=[(t, b"x")]), "metadata Entry_Type", f"reserved bit {t!r}")
        check(e is not None and "reserved" in e.detail, f"{t!r}: reserved bit")
    for t in (b"gAMA", b"sRGB", b"iCCP", b"cHRM", b"cICP", b"eXIf", b"pHYs", b"tEXt", b"zTXt",
              b"iTXt", b"tIME", b"prVt", b"aaAa", b"zZZZ"):
        check(parse_vqz(vq(metadata=[(t, b"\x01\x02")]))[0]["Metadata"]
              == [{"Entry_Type": t.decode(), "Entry_Data": "0102"}], f"type {t!r} accepted")

    # Damage inside the frame with CRCs recomputed: zstd's content checksum catches it.
    fr = bytearray(Zstd.compress(toks, level=1))
    fr[-5] ^= 0x40  # inside the raw/RLE/compressed block content, before the XXH64 checksum
    expect_reject(vq(token_frame=bytes(fr)), "token section", "frame body damage")
    fr = bytearray(Zstd.compress(toks, level=1))
    fr[-1] ^= 0x01  # the content checksum itself
    expect_reject(vq(token_frame=bytes(fr)), "token section", "content checksum damage")
    # Symbol ranges.
    e = expect_reject(vq(alphabet=[250]), "token symbol", "symbols >= Alphabet_Size")
    check(e is not None and "plane 1, row 0, column 0" in e.detail, "symbol error names plane/position")
    e = expect_reject(ga(planes=[[7, 8], [0, 1], [6, 9]]), "token symbol", "Gaussian symbol 9 of 9")
    check(e is not None and "plane 2, row 0, column 1" in e.detail, "Gaussian error position")
    e = expect_reject(write_vqz(width=4, height=4, downsample=2, planes=[[1, 2, 3, 4], [5, 6, 7, 300]],
                                alphabet=[300, 300], layout=1), "token symbol", "layout-1 symbol 300")
    check(e is not None and "plane 1, row 1, column 1" in e.detail,
          "layout-1 error position")

    # -- version 1.2: Token_Prior rules, the model-file container, the prior decoder ----------
    _self_test_prior(rng, check, expect_reject, pfx, pv)

    # -- fuzz: never anything but Reject or success --------------------------------------------
    seeds = list(valid.values())
    for i in range(4000):
        kind = i % 4
        if kind == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
        elif kind == 1:
            data = SIGNATURE + bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
        else:
            # Mutate a valid file and fix both CRCs, to reach the checks behind them.
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 4)):
                pos = rng.randrange(min(len(data), 120)) if kind == 2 else rng.randrange(len(data))
                data[pos] = rng.randrange(256)
            hs = struct.unpack_from("<H", data, 10)[0]
            if 76 <= hs <= len(data):
                struct.pack_into("<I", data, 64, crc32(bytes(data[hs:])))
                struct.pack_into("<I", data, hs - 4, crc32(bytes(data[:hs - 4])))
            data = bytes(data)
        try:
            parse_vqz(data)
        except Reject:
            pass
        except Exception as e:  # noqa: BLE001
            check(False, f"fuzz {i}: {type(e).__name__}: {e} on {data[:80].hex()}")

    # -- the command line -------------------------------------------------------------------------
    with tempfile.TemporaryDirectory() as tmp:
        me = os.path.abspath(__file__)

        def run(*args):
            return subprocess.run([sys.executable, me, *args], capture_output=True, text=True)

        p_ok = os.path.join(tmp, "g.vqz")
        with open(p_ok, "wb") as fh:
            fh.write(gauss)
        r = run(p_ok, "--json")
        check(r.returncode == 0 and r.stderr == "", f"CLI --json exit {r.returncode} {r.stderr!r}")
        try:
            obj = json.loads(r.stdout)
            check(obj["Values"] == gvals and obj["Alphabet_Size"] == [9] and obj["Flags"] == 3,
                  "CLI JSON content")
            check(list(obj)[:len(HEADER_FIELDS)] == list(HEADER_FIELDS), "CLI JSON key order")
            check(obj["Metadata_Section_Size"] == 0 and obj["Metadata"] == [], "CLI JSON 1.0 metadata")
        except ValueError:
            check(False, "CLI --json output is not one JSON object")
        r = run(p_ok)
        check(r.returncode == 0 and r.stdout.startswith("Signature: 89 56 51 5A 0D 0A 1A 0A\n"),
              "CLI human mode")
        got = [ln.split(":")[0] for ln in r.stdout.splitlines()[:len(HEADER_FIELDS)]]
        check(got == list(HEADER_FIELDS), "CLI human field order")
        p_bad = os.path.join(tmp, "bad.vqz")
        for blob in (b"", b"garbage", gauss[:50], gauss[:-1], bytes(rng.randrange(256) for _ in range(999))):
            with open(p_bad, "wb") as fh:
                fh.write(blob)
            for extra_args in ((), ("--json",)):
                r = run(p_bad, *extra_args)
                lines = r.stderr.splitlines()
                check(r.returncode == 1 and r.stdout == "" and len(lines) == 1
                      and lines[0].startswith("vqz_dump: error: ") and "Traceback" not in r.stderr,
                      f"CLI rejection of {len(blob)} bytes: rc {r.returncode}, stderr {r.stderr!r}")
        r = run(os.path.join(tmp, "missing.vqz"))
        check(r.returncode == 1 and r.stderr.startswith("vqz_dump: error: file: "), "CLI missing file")
        # Version 1.2 on the command line.
        paths = {}
        for nm, blob in (("p.vqz", pv()), ("m.vqzm", pfx["model"]), ("p.vqzp", pfx["prior"]),
                         ("bad.vqz", pv(section=prior_section(pfx["prior_id"], [pfx["streams"][0][:4]
                                                                              + pfx["streams"][0][5:]]
                                                              + pfx["streams"][1:])))):
            paths[nm] = os.path.join(tmp, nm)
            with open(paths[nm], "wb") as fh:
                fh.write(blob)
        r = run(paths["p.vqz"], "--json")
        try:
            obj = json.loads(r.stdout)
            check(r.returncode == 0 and obj["Planes"] is None and obj["Token_Prior"] is True
                  and obj["Prior_ID"] == pfx["prior_id"].hex() and obj["Coded_Level"] == 3
                  and list(obj).index("Coded_Level") == list(obj).index("Prior_ID") + 1
                  and obj["Stream_Size"] == [len(st) for st in pfx["streams"]],
                  f"CLI 1.2 without the prior: {r.returncode} {r.stderr!r}")
        except ValueError:
            check(False, f"CLI 1.2 --json output is not JSON: {r.stderr!r}")
        r = run(paths["p.vqz"])
        check(r.returncode == 0 and "Flags: 8 (Token_Prior)" in r.stdout
              and f"Prior_ID: {pfx['prior_id'].hex()}\n  Coded_Level: 3\n" in r.stdout,
              "CLI 1.2 human mode")
        if _have_numpy():
            r = run(paths["p.vqz"], "--json", "--model", paths["m.vqzm"], "--prior", paths["p.vqzp"])
            try:
                check(r.returncode == 0 and json.loads(r.stdout)["Planes"] == pfx["planes"],
                      f"CLI 1.2 decode: {r.returncode} {r.stderr!r}")
            except ValueError:
                check(False, f"CLI 1.2 decode output is not JSON: {r.stderr!r}")
            for args in ((paths["p.vqz"], "--model", paths["p.vqzp"], "--prior", paths["m.vqzm"]),
                         (paths["bad.vqz"], "--model", paths["m.vqzm"], "--prior", paths["p.vqzp"]),
                         (paths["p.vqz"], "--model", paths["m.vqzm"]),
                         (paths["p.vqz"], "--prior", paths["p.vqzp"], "--model"),
                         (paths["p.vqz"], "--model", os.path.join(tmp, "none"), "--prior",
                          paths["p.vqzp"])):
                r = run(*args)
                lines = r.stderr.splitlines()
                check(r.returncode == 1 and r.stdout == "" and len(lines) == 1
                      and lines[0].startswith("vqz_dump: error: ") and "Traceback" not in r.stderr,
                      f"CLI 1.2 rejection {args[1:]}: rc {r.returncode}, stderr {r.stderr!r}")

    if failures:
        for fl in failures[:50]:
            print(f"FAIL: {fl}")
        print(f"self-test: {len(failures)} of {checks} checks FAILED")
        return 1
    print(f"self-test: all {checks} checks passed (zstd {Zstd.lib().ZSTD_versionString().decode()})")
    return 0


# ---------------------------------------------------------------------------------------------

USAGE = ("usage: vqz_dump.py FILE [--json] [--model MODEL.vqzm --prior PRIOR.vqzp] | "
         "vqz_dump.py --self-test")


def main(argv):
    args = list(argv)
    if args == ["--self-test"]:
        return self_test()
    if args in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    as_json = False
    files = []
    paths = {"--model": None, "--prior": None}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--json":
            as_json = True
        elif a in paths:
            if i + 1 >= len(args):
                return fail("usage", f"{a} needs a file argument; {USAGE}")
            if paths[a] is not None:
                return fail("usage", f"{a} given twice; {USAGE}")
            paths[a] = args[i + 1]
            i += 1
        elif a.startswith("--") and a != "--":
            return fail("usage", f"unknown option {a!r}; {USAGE}")
        else:
            files.append(a)
        i += 1
    if len(files) != 1:
        return fail("usage", f"expected one FILE, got {len(files)}; {USAGE}")
    if (paths["--model"] is None) != (paths["--prior"] is None):
        return fail("usage", f"--model and --prior go together (a prior-coded token section needs "
                    f"both); {USAGE}")
    return dump(files[0], as_json, paths["--model"], paths["--prior"])


if __name__ == "__main__":
    try:
        status = main(sys.argv[1:])
    except Reject as e:
        status = fail(e.field, e.detail)
    except MemoryError:
        status = fail("memory", "out of memory")
    except KeyboardInterrupt:
        status = fail("interrupted", "by the user")
    except BrokenPipeError:
        status = 1
    except Exception as e:  # noqa: BLE001 - never a traceback, whatever the input
        status = fail("internal", f"{type(e).__name__}: {e}")
    sys.exit(status)
