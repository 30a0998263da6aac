#!/usr/bin/env python3
"""Independent reader (and validator) of the `.vqz` container format.

Written from docs/FORMAT.md alone, as the second implementation the format document mentions:
it shares no code with the Swift reader/writer, so that a misunderstanding of the specification
cannot pass both.

Usage:
    python3 tools/vqz_dump.py FILE [--json]
    python3 tools/vqz_dump.py --self-test

Plain Python 3 standard library; zstd is reached through ctypes on the system `libzstd.so.1`.

Human mode prints one `Field_Name: value` line per header field, in the specification's order,
then a summary of the sections. `--json` prints one JSON object (header fields under their exact
specification names, the flag booleans, the decoded planes / values / alpha samples, and the
metadata entries).

Version 1.1 (read by this reader; every 1.0 file is a valid 1.1 file) adds `Metadata_Section_Size`
after the `Alphabet_Size` table and the metadata section (PNG ancillary chunks, one zstd frame).
A 1.0 file has no such field: it is reported as 0, and `Metadata` as an empty list.

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
READER_VERSION_MINOR = 1          # this reader implements version 1.1
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
FLAGS_RESERVED = 0xF8

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


def parse_vqz(data, max_pixels=MAX_PIXELS_DEFAULT, max_token_bytes=MAX_TOKEN_BYTES_DEFAULT):
    """Validate and decode a whole .vqz file. Returns a dict; raises Reject on any violation."""
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
        raise Reject("Flags", f"found 0x{flags:02X}: reserved bits 3-7 set "
                     f"(0x{flags & FLAGS_RESERVED:02X}), expected them 0")
    alpha_present = bool(flags & FLAG_ALPHA_PRESENT)
    gray = bool(flags & FLAG_GRAY)
    token_dictionary = bool(flags & FLAG_TOKEN_DICTIONARY)
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
    token_data = check_frame(token_section, "token", "Token_Section_Size", token_bytes,
                             token_dictionary, decompress=not token_dictionary)
    planes = None
    values = None
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
        "Planes": planes,
    }
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
        "token_dict_id": Zstd.dict_id(token_section),
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
                                        (FLAG_TOKEN_DICTIONARY, "Token_Dictionary")) if v & bit]
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
    lines.append(f"Token section: {info['Token_Section_Size']} bytes, one zstd frame -> "
                 f"{extra['token_bytes']} bytes ({info['Plane_Count']} planes of "
                 f"{info['Grid_Height']} x {info['Grid_Width']} symbols, "
                 f"{extra['symbol_bytes']} byte(s) each)")
    if info["Planes"] is None:
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


def dump(path, as_json):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return fail("file", f"cannot read {path!r}: {e.strerror or e}")
    info, extra = parse_vqz(data)
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

    def expect_reject(data, field_substr, what):
        try:
            parse_vqz(data)
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
    for bit in range(3, 8):
        expect_reject(vq(override={"Flags": 1 << bit}), "Flags", f"reserved flag bit {bit}")
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

    if failures:
        for fl in failures[:50]:
            print(f"FAIL: {fl}")
        print(f"self-test: {len(failures)} of {checks} checks FAILED")
        return 1
    print(f"self-test: all {checks} checks passed (zstd {Zstd.lib().ZSTD_versionString().decode()})")
    return 0


# ---------------------------------------------------------------------------------------------

USAGE = "usage: vqz_dump.py FILE [--json] | vqz_dump.py --self-test"


def main(argv):
    args = list(argv)
    if args == ["--self-test"]:
        return self_test()
    if args in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    as_json = False
    files = []
    for a in args:
        if a == "--json":
            as_json = True
        elif a.startswith("--") and a != "--":
            return fail("usage", f"unknown option {a!r}; {USAGE}")
        else:
            files.append(a)
    if len(files) != 1:
        return fail("usage", f"expected one FILE, got {len(files)}; {USAGE}")
    return dump(files[0], as_json)


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
