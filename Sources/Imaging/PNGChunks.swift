// A minimal walk over a PNG's chunk list, done before libpng sees the data: it reads IHDR (so the
// source's colour type and bit depth are known, and the size is checked before anything is
// allocated) and removes the colour-space chunks, so that libpng's simplified API keeps the stored
// samples instead of converting them to sRGB (docs/design/png.md explains the choice).

/// What a PNG's IHDR and colour chunks declare.
public struct PNGSourceInfo: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Bits per sample: 1, 2, 4, 8 or 16.
    public var bitDepth: Int
    /// IHDR colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
    public var colorType: Int
    public var interlaced: Bool
    /// Colour-space chunks present in the file (`gAMA`, `cHRM`, `sRGB`, `iCCP`), in file order.
    /// vqz keeps the stored samples and does not apply them.
    public var colorChunks: [String]
    /// Whether the file has a `tRNS` chunk (transparency for gray, RGB or palette images).
    public var hasTransparencyChunk: Bool
    /// The metadata chunks vqz can carry (`PNGChunk.metadataTypes`), in file order, byte for byte;
    /// a chunk whose CRC does not match is left out, as libpng does with a damaged ancillary chunk.
    public var metadata: [PNGChunk] = []

    /// The source is grayscale (colour types 0 and 4).
    public var isGray: Bool { colorType == 0 || colorType == 4 }
    /// The source has alpha: an alpha channel or a `tRNS` chunk.
    public var hasAlpha: Bool { colorType == 4 || colorType == 6 || hasTransparencyChunk }
    public var isPalette: Bool { colorType == 3 }
}

/// A PNG chunk: its four-letter type and its data (no length, no CRC).
public struct PNGChunk: Sendable, Equatable {
    public var type: String
    public var data: [UInt8]
    public init(type: String, data: [UInt8]) {
        self.type = type
        self.data = data
    }

    /// Colour: the ICC profile and the colour-space chunks (`--metadata icc`).
    public static let colorTypes: Set<String> = ["iCCP", "sRGB", "gAMA", "cHRM", "cICP"]
    /// Everything vqz keeps by default (`--metadata all`): colour, EXIF, resolution, text, time.
    /// Chunks tied to the stored samples (PLTE, tRNS, sBIT, bKGD, hIST, sPLT) are not metadata:
    /// the decoded image has its own samples.
    public static let metadataTypes: Set<String> = colorTypes.union(["eXIf", "pHYs", "tEXt", "zTXt", "iTXt", "tIME"])

    /// The chunk as PNG bytes: length (big-endian), type, data, CRC-32 of type and data.
    var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(12 + data.count)
        let n = UInt32(data.count)
        out += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
        out += Array(type.utf8)
        out += data
        let crc = PNGChunks.crc(Array(type.utf8) + data)
        out += [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
        return out
    }
}

enum PNGChunks {
    /// CRC-32 (PNG's, zlib's) of `bytes`.
    static func crc(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    private static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// `png` (a whole PNG file whose first chunk is IHDR) with `chunks` inserted right after IHDR,
    /// where every metadata chunk may stand (before PLTE and IDAT).
    static func inserting(_ chunks: [PNGChunk], into png: [UInt8]) -> [UInt8] {
        guard !chunks.isEmpty else { return png }
        let afterIHDR = 8 + 12 + 13
        var out = Array(png[..<afterIHDR])
        for chunk in chunks { out += chunk.bytes }
        out += png[afterIHDR...]
        return out
    }

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    static let colorChunkTypes: Set<String> = ["gAMA", "cHRM", "sRGB", "iCCP"]

    /// The first chunk whose declared length runs past the end of the data (libpng would allocate
    /// that length before finding out), as its type and length.
    static func overrun(_ data: [UInt8]) -> (type: String, length: Int)? {
        var offset = 8
        while offset + 8 <= data.count {
            let length = Int(data[offset]) << 24 | Int(data[offset + 1]) << 16 | Int(data[offset + 2]) << 8 | Int(data[offset + 3])
            if offset + 12 + length > data.count {
                let type = String(decoding: data[(offset + 4)..<(offset + 8)].map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
                return (type, length)
            }
            offset += 12 + length
        }
        return nil
    }

    /// Reads IHDR and lists the chunks. Returns nil when the chunk structure cannot be walked (libpng
    /// then gets the original bytes and reports the problem in its own words).
    static func scan(_ data: [UInt8]) -> (info: PNGSourceInfo, stripped: [UInt8])? {
        guard data.count >= 8 + 25, Array(data[0..<8]) == signature else { return nil }
        var offset = 8
        var info: PNGSourceInfo?
        var stripped = Array(data[0..<8])
        stripped.reserveCapacity(data.count)
        while offset + 12 <= data.count {
            let length = Int(be32(data, offset))
            guard length <= 0x7FFF_FFFF, offset + 12 + length <= data.count else { return nil }
            let type = String(decoding: data[offset + 4..<offset + 8], as: UTF8.self)
            let chunkEnd = offset + 12 + length
            if type == "IHDR" {
                guard length == 13, info == nil else { return nil }
                let d = offset + 8
                info = PNGSourceInfo(
                    width: Int(be32(data, d)), height: Int(be32(data, d + 4)), bitDepth: Int(data[d + 8]),
                    colorType: Int(data[d + 9]), interlaced: data[d + 12] != 0, colorChunks: [],
                    hasTransparencyChunk: false)
            } else if info == nil {
                return nil  // IHDR must come first
            }
            if PNGChunk.metadataTypes.contains(type) {
                let body = Array(data[offset + 4..<offset + 8 + length])
                if crc(body) == be32(data, offset + 8 + length) {
                    info?.metadata.append(PNGChunk(type: type, data: Array(body[4...])))
                }
            }
            if colorChunkTypes.contains(type) {
                info?.colorChunks.append(type)
            } else {
                if type == "tRNS" { info?.hasTransparencyChunk = true }
                stripped.append(contentsOf: data[offset..<chunkEnd])
            }
            offset = chunkEnd
            if type == "IEND" { break }
        }
        guard let info else { return nil }
        // Anything after IEND (or a cut chunk) is passed on so libpng can judge it.
        stripped.append(contentsOf: data[offset...])
        return (info, stripped)
    }

    private static func be32(_ d: [UInt8], _ i: Int) -> UInt32 {
        UInt32(d[i]) << 24 | UInt32(d[i + 1]) << 16 | UInt32(d[i + 2]) << 8 | UInt32(d[i + 3])
    }
}
