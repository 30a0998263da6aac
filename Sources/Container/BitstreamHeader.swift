// The .vqz header (docs/FORMAT.md, "Header"): its fields, its serialization, and a reader laid out
// in the spec's order. The header knows sizes and checksums; the symbols live in BitstreamFile.

/// How the token section's symbols are to be read (`Payload_Kind`).
public enum PayloadKind: UInt8, Sendable, CaseIterable {
    /// Codebook indices of a vector quantizer, one plane per residual stage.
    case vqTokens = 0
    /// Zigzag-mapped integers: Gaussian latents divided by `Quant_Step`, one plane per channel.
    case gaussianLatents = 1

    /// The spec's name for the kind.
    public var name: String { self == .vqTokens ? "VQ token indices" : "quantized Gaussian latents" }
}

/// How symbols are laid out in the decompressed token section (`Symbol_Layout`).
public enum SymbolLayout: UInt8, Sendable, CaseIterable {
    /// Each symbol as `Symbol_Bytes` little-endian bytes, one after the other.
    case interleaved = 0
    /// Two-byte symbols only: per plane, all low bytes, then all high bytes.
    case bytePlanes = 1
}

/// The header's `Flags` byte.
public struct BitstreamFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The image has an alpha channel, stored losslessly in the alpha section.
    public static let alphaPresent = BitstreamFlags(rawValue: 1 << 0)
    /// The source was grayscale: decode to one channel.
    public static let gray = BitstreamFlags(rawValue: 1 << 1)
    /// The token frame uses the model's zstd dictionary.
    public static let tokenDictionary = BitstreamFlags(rawValue: 1 << 2)
    /// The token section is coded by a learned token prior (rANS), not zstd (version 1.2).
    public static let tokenPrior = BitstreamFlags(rawValue: 1 << 3)
    /// Every bit version 1 defines.
    public static let known: BitstreamFlags = [.alphaPresent, .gray, .tokenDictionary, .tokenPrior]
}

/// Limits a reader enforces before allocating (docs/FORMAT.md, "Limits").
public struct BitstreamLimits: Sendable, Equatable {
    /// Largest `Image_Width · Image_Height` accepted.
    public var maxPixels: Int
    /// Largest decompressed token section accepted, in bytes.
    public var maxTokenBytes: Int

    public init(maxPixels: Int = BitstreamLimits.defaultMaxPixels, maxTokenBytes: Int = BitstreamLimits.defaultMaxTokenBytes) {
        self.maxPixels = maxPixels
        self.maxTokenBytes = maxTokenBytes
    }

    public static let defaultMaxPixels = 1 << 28
    public static let defaultMaxTokenBytes = 1 << 30
    public static let `default` = BitstreamLimits()
}

/// The fixed facts of the format.
public enum BitstreamFormat {
    /// `\x89VQZ\r\n\x1A\n`.
    public static let signature: [UInt8] = [0x89, 0x56, 0x51, 0x5A, 0x0D, 0x0A, 0x1A, 0x0A]
    public static let versionMajor: UInt8 = 1
    /// The newest minor version this code writes: 1 adds `Metadata_Section_Size` (a writer uses
    /// minor 0, the 1.0 layout, when a file has no metadata); 2 adds `Token_Prior` (same layout as 1).
    public static let versionMinor: UInt8 = 2
    /// The largest decompressed metadata section: 16 MiB.
    public static let maxMetadataBytes = 1 << 24
    /// Bytes before the alphabet table.
    public static let fixedSize = 68
    public static let minHeaderSize = 76
    public static let maxHeaderSize = 4096
    public static let maxImageSide = 1 << 20
    public static let maxDownsampleFactor = 64
    public static let maxAlphabetSize = 65_536
    public static let allowedBitDepths: Set<Int> = [1, 2, 4, 8, 16]

    /// The largest section allowed for `n` decompressed bytes: zstd's `ZSTD_COMPRESSBOUND(n)`,
    /// written out so the limit does not depend on the library's version.
    /// The largest prior-coded token section: the prior id, the stream sizes, and per plane a
    /// 4-byte state plus at most 2 bytes per symbol (no frequency is below 2^-16).
    public static func priorSectionBound(planes: Int, symbolsPerPlane: Int) -> Int {
        17 + planes * (8 + 2 * symbolsPerPlane)
    }

    public static func sectionBound(_ n: Int) -> Int {
        n + (n >> 8) + (n < 131_072 ? (131_072 - n) >> 11 : 0)
    }
}

/// Every field of a `.vqz` header, by the spec's names (lowerCamelCase).
public struct BitstreamHeader: Sendable, Equatable {
    public var versionMajor: UInt8 = BitstreamFormat.versionMajor
    public var versionMinor: UInt8 = BitstreamFormat.versionMinor
    public var headerSize: Int
    public var payloadKind: PayloadKind
    public var flags: BitstreamFlags
    public var sourceBitDepth: Int
    public var downsampleFactor: Int
    public var imageWidth: Int
    public var imageHeight: Int
    public var gridWidth: Int
    public var gridHeight: Int
    public var level: Int
    public var planeCount: Int
    /// `Alphabet_Size`: one entry for all planes, or one per plane.
    public var alphabetSizes: [Int]
    public var symbolLayout: SymbolLayout
    public var quantStep: Float
    public var modelID: ModelID
    public var tokenSectionSize: Int
    public var alphaSectionSize: Int
    /// `Metadata_Section_Size` (version 1.1 and later; 0 in a 1.0 file).
    public var metadataSectionSize: Int = 0
    public var payloadCRC32: UInt32
    public var headerCRC32: UInt32 = 0

    /// `Alphabet_Count`.
    public var alphabetCount: Int { alphabetSizes.count }

    /// The alphabet size of plane `p`.
    public func alphabetSize(plane p: Int) -> Int { alphabetSizes.count == 1 ? alphabetSizes[0] : alphabetSizes[p] }

    /// 1 when every alphabet fits a byte, else 2.
    public var symbolBytes: Int { alphabetSizes.allSatisfy { $0 <= 256 } ? 1 : 2 }

    /// Symbols per plane.
    public var symbolsPerPlane: Int { gridWidth * gridHeight }

    /// The decompressed token section's size.
    public var tokenBytes: Int { symbolsPerPlane * planeCount * symbolBytes }

    /// The whole file's size.
    public var fileSize: Int { headerSize + tokenSectionSize + alphaSectionSize + metadataSectionSize }

    /// `Header_Size` of a version-1.`minor` header with `alphabetCount` alphabets (the fields this
    /// reader knows: 1.1 adds `Metadata_Section_Size`).
    public static func headerSize(alphabetCount: Int, minor: UInt8 = 0) -> Int {
        BitstreamFormat.fixedSize + 4 * alphabetCount + (minor >= 1 ? 4 : 0) + 4
    }

    /// ⌈`size` / `factor`⌉.
    public static func gridSize(_ size: Int, factor: Int) -> Int { (size + factor - 1) / factor }

    /// The header's bytes, `Header_CRC32` computed (and stored in the returned bytes only).
    ///
    /// - Throws: `ContainerError.invalidField` for a field whose value does not fit its width.
    public func serialized() throws(ContainerError) -> [UInt8] {
        var w = ByteWriter(capacity: max(0, headerSize))
        w.raw(BitstreamFormat.signature)
        w.u8(versionMajor)
        w.u8(versionMinor)
        w.u16(try Self.fit("Header_Size", headerSize))
        w.u8(payloadKind.rawValue)
        w.u8(flags.rawValue)
        w.u8(try Self.fit("Source_Bit_Depth", sourceBitDepth))
        w.u8(try Self.fit("Downsample_Factor", downsampleFactor))
        w.u32(try Self.fit("Image_Width", imageWidth))
        w.u32(try Self.fit("Image_Height", imageHeight))
        w.u32(try Self.fit("Grid_Width", gridWidth))
        w.u32(try Self.fit("Grid_Height", gridHeight))
        w.u8(try Self.fit("Level", level))
        w.u8(try Self.fit("Plane_Count", planeCount))
        w.u8(try Self.fit("Alphabet_Count", alphabetCount))
        w.u8(symbolLayout.rawValue)
        w.f32(quantStep)
        w.raw(modelID.bytes)
        w.u32(try Self.fit("Token_Section_Size", tokenSectionSize))
        w.u32(try Self.fit("Alpha_Section_Size", alphaSectionSize))
        w.u32(payloadCRC32)
        for (i, a) in alphabetSizes.enumerated() { w.u32(try Self.fit("Alphabet_Size[\(i)]", a)) }
        if versionMinor >= 1 {
            w.u32(try Self.fit("Metadata_Section_Size", metadataSectionSize))
        } else if metadataSectionSize != 0 {
            throw .invalidField(field: "Metadata_Section_Size", value: "\(metadataSectionSize)", allowed: "0 in a version 1.0 file")
        }
        guard w.count + 4 <= headerSize else {
            throw .badHeaderSize(declared: headerSize, minimum: w.count + 4, maximum: BitstreamFormat.maxHeaderSize)
        }
        while w.count < headerSize - 4 { w.u8(0) }
        w.u32(CRC32.checksum(w.bytes))
        return w.bytes
    }

    /// `value` as the field's unsigned integer type, or the error naming the field.
    static func fit<T: FixedWidthInteger & UnsignedInteger>(_ field: String, _ value: Int) throws(ContainerError) -> T {
        guard let v = T(exactly: value) else { throw .invalidField(field: field, value: "\(value)", allowed: "0…\(T.max)") }
        return v
    }
}

extension BitstreamHeader {
    /// Reads and validates the header at the start of `file`, and checks the file's length against
    /// the section sizes. Does not read the payload (see `BitstreamFile.parse`).
    ///
    /// - Throws: `ContainerError`, the first rule of docs/FORMAT.md the file breaks.
    public static func parse(_ file: [UInt8], limits: BitstreamLimits = .default) throws(ContainerError) -> BitstreamHeader {
        var r = ByteReader(file)
        func read<T>(_ field: String, _ body: (inout ByteReader) throws(ByteReader.OutOfBounds) -> T) throws(ContainerError) -> T {
            do { return try body(&r) } catch { throw .truncated(field: field, needed: error.needed, available: error.available) }
        }

        // Signature, versions, Header_Size: checked before the CRC, since they say how to find it.
        let signature = Array(try read("Signature") { r throws(ByteReader.OutOfBounds) in try r.raw(8) })
        guard signature == BitstreamFormat.signature else { throw .badSignature(found: signature) }
        let major = try read("Version_Major") { r throws(ByteReader.OutOfBounds) in try r.u8() }
        let minor = try read("Version_Minor") { r throws(ByteReader.OutOfBounds) in try r.u8() }
        guard major == BitstreamFormat.versionMajor else { throw .unsupportedVersion(major: major, minor: minor) }
        let headerSize = Int(try read("Header_Size") { r throws(ByteReader.OutOfBounds) in try r.u16() })
        guard headerSize >= BitstreamFormat.minHeaderSize, headerSize <= BitstreamFormat.maxHeaderSize else {
            throw .badHeaderSize(declared: headerSize, minimum: BitstreamFormat.minHeaderSize, maximum: BitstreamFormat.maxHeaderSize)
        }
        guard file.count >= headerSize else { throw .truncated(field: "header", needed: headerSize, available: file.count) }

        // Header_CRC32, before any other field is trusted.
        let declaredCRC = ByteReader(file, offset: headerSize - 4).peekU32()
        let computedCRC = CRC32.checksum(file[0..<headerSize - 4])
        guard declaredCRC == computedCRC else { throw .headerChecksumMismatch(declared: declaredCRC, computed: computedCRC) }

        // The fixed fields, in order. The CRC passed, so every read below is inside the header.
        let kindRaw = try read("Payload_Kind") { r throws(ByteReader.OutOfBounds) in try r.u8() }
        guard let kind = PayloadKind(rawValue: kindRaw) else {
            throw .invalidField(field: "Payload_Kind", value: "\(kindRaw)", allowed: "0 (VQ token indices) or 1 (Gaussian latents)")
        }
        let flags = BitstreamFlags(rawValue: try read("Flags") { r throws(ByteReader.OutOfBounds) in try r.u8() })
        let reserved = flags.subtracting(.known)
        guard reserved.isEmpty else { throw .reservedBitsSet(field: "Flags", value: UInt64(reserved.rawValue)) }
        let bitDepth = Int(try read("Source_Bit_Depth") { r throws(ByteReader.OutOfBounds) in try r.u8() })
        guard BitstreamFormat.allowedBitDepths.contains(bitDepth) else {
            throw .invalidField(field: "Source_Bit_Depth", value: "\(bitDepth)", allowed: "1, 2, 4, 8 or 16")
        }
        let factor = Int(try read("Downsample_Factor") { r throws(ByteReader.OutOfBounds) in try r.u8() })
        guard factor >= 1, factor <= BitstreamFormat.maxDownsampleFactor else {
            throw .invalidField(field: "Downsample_Factor", value: "\(factor)", allowed: "1…\(BitstreamFormat.maxDownsampleFactor)")
        }
        let width = Int(try read("Image_Width") { r throws(ByteReader.OutOfBounds) in try r.u32() })
        let height = Int(try read("Image_Height") { r throws(ByteReader.OutOfBounds) in try r.u32() })
        for (name, v) in [("Image_Width", width), ("Image_Height", height)] where v < 1 || v > BitstreamFormat.maxImageSide {
            throw .invalidField(field: name, value: "\(v)", allowed: "1…\(BitstreamFormat.maxImageSide)")
        }
        guard width * height <= limits.maxPixels else {
            throw .limitExceeded(field: "Image_Width·Image_Height", value: width * height, limit: limits.maxPixels)
        }
        let gridWidth = Int(try read("Grid_Width") { r throws(ByteReader.OutOfBounds) in try r.u32() })
        let gridHeight = Int(try read("Grid_Height") { r throws(ByteReader.OutOfBounds) in try r.u32() })
        let expectedGridWidth = Self.gridSize(width, factor: factor), expectedGridHeight = Self.gridSize(height, factor: factor)
        guard gridWidth == expectedGridWidth else {
            throw .invalidField(field: "Grid_Width", value: "\(gridWidth)", allowed: "\(expectedGridWidth) (⌈Image_Width/Downsample_Factor⌉)")
        }
        guard gridHeight == expectedGridHeight else {
            throw .invalidField(field: "Grid_Height", value: "\(gridHeight)", allowed: "\(expectedGridHeight) (⌈Image_Height/Downsample_Factor⌉)")
        }
        let level = Int(try read("Level") { r throws(ByteReader.OutOfBounds) in try r.u8() })
        guard level >= 1 else { throw .invalidField(field: "Level", value: "0", allowed: "1…255") }
        let planeCount = Int(try read("Plane_Count") { r throws(ByteReader.OutOfBounds) in try r.u8() })
        guard planeCount >= 1 else { throw .invalidField(field: "Plane_Count", value: "0", allowed: "1…255") }
        if kind == .vqTokens, level != planeCount {
            throw .invalidField(field: "Level", value: "\(level)", allowed: "\(planeCount) (= Plane_Count for VQ tokens)")
        }
        let alphabetCount = Int(try read("Alphabet_Count") { r throws(ByteReader.OutOfBounds) in try r.u8() })
        guard alphabetCount == 1 || alphabetCount == planeCount else {
            throw .invalidField(field: "Alphabet_Count", value: "\(alphabetCount)", allowed: "1 or \(planeCount) (Plane_Count)")
        }
        // Header_Size against Alphabet_Count: exact for minor 0, at least the known fields for later minors.
        let exactSize = Self.headerSize(alphabetCount: alphabetCount, minor: minor)
        if minor <= 1 ? headerSize != exactSize : headerSize < exactSize {
            throw .badHeaderSize(declared: headerSize, minimum: exactSize, maximum: minor <= 1 ? exactSize : BitstreamFormat.maxHeaderSize)
        }
        let layoutRaw = try read("Symbol_Layout") { r throws(ByteReader.OutOfBounds) in try r.u8() }
        guard let layout = SymbolLayout(rawValue: layoutRaw) else {
            throw .invalidField(field: "Symbol_Layout", value: "\(layoutRaw)", allowed: "0 (interleaved) or 1 (byte planes)")
        }
        let quantStep = try read("Quant_Step") { r throws(ByteReader.OutOfBounds) in try r.f32() }
        switch kind {
        case .vqTokens where quantStep.bitPattern != 0:
            throw .invalidField(field: "Quant_Step", value: "\(quantStep)", allowed: "0.0 for VQ tokens")
        case .gaussianLatents where !(quantStep.isFinite && quantStep > 0):
            throw .invalidField(field: "Quant_Step", value: "\(quantStep)", allowed: "a finite value > 0 for Gaussian latents")
        default: break
        }
        let modelBytes = try read("Model_ID") { r throws(ByteReader.OutOfBounds) in try r.raw(16) }
        let tokenSectionSize = Int(try read("Token_Section_Size") { r throws(ByteReader.OutOfBounds) in try r.u32() })
        let alphaSectionSize = Int(try read("Alpha_Section_Size") { r throws(ByteReader.OutOfBounds) in try r.u32() })
        let payloadCRC = try read("Payload_CRC32") { r throws(ByteReader.OutOfBounds) in try r.u32() }

        var alphabets: [Int] = []
        for i in 0..<alphabetCount {
            let a = Int(try read("Alphabet_Size[\(i)]") { r throws(ByteReader.OutOfBounds) in try r.u32() })
            guard a >= 2, a <= BitstreamFormat.maxAlphabetSize else {
                throw .invalidField(field: "Alphabet_Size[\(i)]", value: "\(a)", allowed: "2…\(BitstreamFormat.maxAlphabetSize)")
            }
            alphabets.append(a)
        }
        let metadataSectionSize = minor >= 1 ? Int(try read("Metadata_Section_Size") { r throws(ByteReader.OutOfBounds) in try r.u32() }) : 0

        // Sections: sizes against the limits and the flags, then the file length.
        var header = BitstreamHeader(
            versionMajor: major, versionMinor: minor, headerSize: headerSize, payloadKind: kind, flags: flags,
            sourceBitDepth: bitDepth, downsampleFactor: factor, imageWidth: width, imageHeight: height,
            gridWidth: gridWidth, gridHeight: gridHeight, level: level, planeCount: planeCount,
            alphabetSizes: alphabets, symbolLayout: layout, quantStep: quantStep,
            modelID: ModelID(bytes: modelBytes)!, tokenSectionSize: tokenSectionSize,
            alphaSectionSize: alphaSectionSize, metadataSectionSize: metadataSectionSize, payloadCRC32: payloadCRC, headerCRC32: declaredCRC)
        if layout == .bytePlanes, header.symbolBytes == 1 {
            throw .invalidField(field: "Symbol_Layout", value: "1", allowed: "0 when every Alphabet_Size ≤ 256")
        }
        guard header.tokenBytes <= limits.maxTokenBytes else {
            throw .limitExceeded(field: "token section (decompressed)", value: header.tokenBytes, limit: limits.maxTokenBytes)
        }
        if flags.contains(.tokenPrior) {
            guard minor >= 2 else {
                throw .invalidField(field: "Flags", value: "Token_Prior in a version 1.\(minor) file", allowed: "Token_Prior only from Version_Minor 2")
            }
            guard kind == .vqTokens else {
                throw .invalidField(field: "Flags", value: "Token_Prior with Payload_Kind 1", allowed: "Token_Prior only with Payload_Kind 0 (VQ tokens)")
            }
            guard !flags.contains(.tokenDictionary) else {
                throw .invalidField(field: "Flags", value: "Token_Prior and Token_Dictionary", allowed: "at most one of Token_Prior and Token_Dictionary")
            }
        }
        let tokenBound = flags.contains(.tokenPrior)
            ? BitstreamFormat.priorSectionBound(planes: planeCount, symbolsPerPlane: header.symbolsPerPlane)
            : BitstreamFormat.sectionBound(header.tokenBytes)
        guard tokenSectionSize >= 1, tokenSectionSize <= tokenBound else {
            throw .invalidField(field: "Token_Section_Size", value: "\(tokenSectionSize)", allowed: "1…\(tokenBound)")
        }
        if flags.contains(.alphaPresent) {
            let alphaBound = BitstreamFormat.sectionBound(width * height)
            guard alphaSectionSize >= 1, alphaSectionSize <= alphaBound else {
                throw .invalidField(field: "Alpha_Section_Size", value: "\(alphaSectionSize)", allowed: "1…\(alphaBound)")
            }
        } else if alphaSectionSize != 0 {
            throw .invalidField(field: "Alpha_Section_Size", value: "\(alphaSectionSize)", allowed: "0 when Alpha_Present is 0")
        }
        let metadataBound = BitstreamFormat.sectionBound(BitstreamFormat.maxMetadataBytes)
        guard metadataSectionSize <= metadataBound else {
            throw .invalidField(field: "Metadata_Section_Size", value: "\(metadataSectionSize)", allowed: "0…\(metadataBound)")
        }
        guard file.count == header.fileSize else { throw .fileSizeMismatch(declared: header.fileSize, actual: file.count) }
        header.headerCRC32 = declaredCRC
        return header
    }
}

extension BitstreamHeader {
    /// Checks `Payload_CRC32` against the payload of `file` (the file this header was parsed from),
    /// before anything in the payload is decompressed.
    public func checkPayload(of file: [UInt8]) throws(ContainerError) {
        let crc = CRC32.checksum(file[headerSize...])
        guard crc == payloadCRC32 else { throw .payloadChecksumMismatch(declared: payloadCRC32, computed: crc) }
    }
}

extension ByteReader {
    /// The u32 at the current offset, without advancing; the caller has checked the bounds.
    fileprivate func peekU32() -> UInt32 {
        var copy = self
        return (try? copy.u32()) ?? 0
    }
}
