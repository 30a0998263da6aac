// A whole .vqz file: the header's descriptive fields plus the decoded symbols and alpha.
// `serialized` writes docs/FORMAT.md exactly; `parse` reads it back section by section, in the
// spec's order, checking every rule before the allocation it protects.

/// The content of a `.vqz` file, independent of its byte encoding.
public struct BitstreamFile: Sendable, Equatable {
    public var payloadKind: PayloadKind
    /// `Gray` and `Token_Dictionary` as wanted by the writer; `Alpha_Present` follows `alpha`.
    public var flags: BitstreamFlags
    public var sourceBitDepth: Int
    public var downsampleFactor: Int
    public var imageWidth: Int
    public var imageHeight: Int
    public var level: Int
    public var planeCount: Int
    /// One alphabet size for every plane, or one per plane.
    public var alphabetSizes: [Int]
    public var quantStep: Float
    public var modelID: ModelID
    /// `planeCount × gridHeight × gridWidth` symbols, plane-major, row-major.
    public var symbols: [UInt16]
    /// `imageWidth × imageHeight` alpha samples, or nil.
    public var alpha: [UInt8]?
    /// The source image's metadata (colour profile, EXIF, text…), stored byte for byte; empty: no
    /// metadata section (a version 1.0 file).
    public var metadata: [MetadataEntry] = []

    public init(
        payloadKind: PayloadKind, flags: BitstreamFlags = [], sourceBitDepth: Int = 8, downsampleFactor: Int,
        imageWidth: Int, imageHeight: Int, level: Int, planeCount: Int, alphabetSizes: [Int],
        quantStep: Float = 0, modelID: ModelID, symbols: [UInt16], alpha: [UInt8]? = nil
    ) {
        self.payloadKind = payloadKind
        self.flags = flags.subtracting(.alphaPresent).union(alpha == nil ? [] : .alphaPresent)
        self.sourceBitDepth = sourceBitDepth
        self.downsampleFactor = downsampleFactor
        self.imageWidth = imageWidth
        self.imageHeight = imageHeight
        self.level = level
        self.planeCount = planeCount
        self.alphabetSizes = alphabetSizes
        self.quantStep = quantStep
        self.modelID = modelID
        self.symbols = symbols
        self.alpha = alpha
    }

    public var gridWidth: Int { BitstreamHeader.gridSize(imageWidth, factor: downsampleFactor) }
    public var gridHeight: Int { BitstreamHeader.gridSize(imageHeight, factor: downsampleFactor) }

    /// The symbols of plane `p`.
    public func plane(_ p: Int) -> ArraySlice<UInt16> {
        let n = gridWidth * gridHeight
        return symbols[p * n..<(p + 1) * n]
    }

    /// The same image at a lower level of an embedded (residual VQ) file: the first `level` planes,
    /// their alphabets, the alpha unchanged (`docs/FORMAT.md`, "Trimming"). Needs no model.
    ///
    /// - Throws: `ContainerError.invalidField` for a Gaussian payload (its levels are not embedded)
    ///   or a level outside `1…self.level`.
    public func trimmed(toLevel newLevel: Int) throws(ContainerError) -> BitstreamFile {
        guard payloadKind == .vqTokens else {
            throw .invalidField(field: "Payload_Kind", value: "1 (Gaussian latents)", allowed: "0: only residual-VQ files hold their lower levels")
        }
        guard (1...level).contains(newLevel) else {
            throw .invalidField(field: "Level", value: "\(newLevel)", allowed: "1 … \(level), the file's own level or lower")
        }
        var out = self  // the alpha and the metadata come along unchanged
        out.level = newLevel
        out.planeCount = newLevel
        if alphabetSizes.count > 1 { out.alphabetSizes = Array(alphabetSizes.prefix(newLevel)) }
        out.symbols = Array(symbols.prefix(newLevel * gridWidth * gridHeight))
        return out
    }

    /// zigzag: 0, −1, 1, −2, 2 … ↦ 0, 1, 2, 3, 4 … (for −32 768 … 32 767)
    public static func zigzag(_ v: Int) -> UInt16 { UInt16(truncatingIfNeeded: v >= 0 ? 2 * v : -2 * v - 1) }

    /// The inverse of `zigzag`.
    public static func unzigzag(_ s: UInt16) -> Int { Int(s >> 1) ^ -Int(s & 1) }
}

/// A learned token prior that codes the token planes of a VQ file (`Token_Prior`, docs/FORMAT.md
/// "Prior-coded token section"): one stream per plane, plane `p` coded given planes `< p`.
public protocol TokenPriorCoding: Sendable {
    /// The first 16 bytes of the SHA-256 of the prior file.
    var priorID: ModelID { get }
    /// One stream per plane of `planes` (`[L][height · width]`), coded for level `codedLevel` (≥ L).
    func encodeStreams(planes: [[UInt16]], codedLevel: Int, height: Int, width: Int) throws -> [[UInt8]]
    /// The planes of `streams`; throws a one-sentence reason when a stream is not what the prior wrote.
    func decodeStreams(_ streams: [ArraySlice<UInt8>], codedLevel: Int, height: Int, width: Int) throws -> [[UInt16]]
}

/// How `BitstreamFile.serialized` compresses.
public struct BitstreamWriteOptions: Sendable {
    /// zstd level of the sections.
    public var zstdLevel: Int
    public var symbolLayout: SymbolLayout
    /// The model's zstd dictionary for the token section; sets `Token_Dictionary`.
    public var dictionary: [UInt8]?
    /// End a zstd block at every plane boundary of the token frame (and between the low and high
    /// bytes of a byte-planes plane), so each plane gets its own entropy tables. Measured by
    /// `make bench-packing`: 5–7% smaller VQ files at levels 2–8 than one table for all stages.
    public var planeBlocks: Bool
    /// Code the token section with this prior instead of zstd (sets `Token_Prior`; VQ files only).
    public var prior: (any TokenPriorCoding)?

    public init(zstdLevel: Int = 19, symbolLayout: SymbolLayout = .interleaved, dictionary: [UInt8]? = nil, planeBlocks: Bool = true,
                prior: (any TokenPriorCoding)? = nil) {
        self.zstdLevel = zstdLevel
        self.symbolLayout = symbolLayout
        self.dictionary = dictionary
        self.planeBlocks = planeBlocks
        self.prior = prior
    }
}

extension BitstreamFile {
    /// The header this content gets with the given section sizes and payload CRC.
    /// Version 1.1 when there is metadata, else 1.0 (the smallest header, readable by every 1.x reader).
    func header(layout: SymbolLayout, dictionary: Bool, prior: Bool = false, tokenSectionSize: Int, alphaSectionSize: Int, metadataSectionSize: Int = 0,
                payloadCRC32: UInt32) -> BitstreamHeader {
        var flags = self.flags.subtracting([.tokenDictionary, .tokenPrior])
        if dictionary { flags.insert(.tokenDictionary) }
        if prior { flags.insert(.tokenPrior) }
        let minor: UInt8 = prior ? 2 : metadata.isEmpty ? 0 : 1
        return BitstreamHeader(
            versionMinor: minor, headerSize: BitstreamHeader.headerSize(alphabetCount: alphabetSizes.count, minor: minor), payloadKind: payloadKind,
            flags: flags, sourceBitDepth: sourceBitDepth, downsampleFactor: downsampleFactor,
            imageWidth: imageWidth, imageHeight: imageHeight, gridWidth: gridWidth, gridHeight: gridHeight,
            level: level, planeCount: planeCount, alphabetSizes: alphabetSizes, symbolLayout: layout,
            quantStep: quantStep, modelID: modelID, tokenSectionSize: tokenSectionSize,
            alphaSectionSize: alphaSectionSize, metadataSectionSize: metadataSectionSize, payloadCRC32: payloadCRC32)
    }

    /// The `.vqz` bytes of this content.
    ///
    /// - Throws: `ContainerError` when the content breaks a rule of the format (sizes, alphabets,
    ///   symbol ranges) — the writer never produces a file its reader would reject.
    public func serialized(options: BitstreamWriteOptions = BitstreamWriteOptions()) throws(ContainerError) -> [UInt8] {
        // The fields the grid and the header are computed from, then a provisional header
        // checked like a reader would.
        try checkFields()
        let provisional = header(layout: options.symbolLayout, dictionary: false, tokenSectionSize: 1, alphaSectionSize: alpha == nil ? 0 : 1, payloadCRC32: 0)
        guard symbols.count == provisional.symbolsPerPlane * planeCount else {
            throw .invalidField(field: "symbols", value: "\(symbols.count) values", allowed: "\(provisional.symbolsPerPlane * planeCount) (Plane_Count·Grid_Height·Grid_Width)")
        }
        if let alpha, alpha.count != imageWidth * imageHeight {
            throw .invalidField(field: "alpha", value: "\(alpha.count) values", allowed: "\(imageWidth * imageHeight) (Image_Width·Image_Height)")
        }
        try Self.checkSymbols(symbols, header: provisional)
        let tokenFrame: [UInt8]
        let alphaFrame: [UInt8]
        if let prior = options.prior {
            guard payloadKind == .vqTokens, options.dictionary == nil else {
                throw .invalidField(field: "Flags", value: "Token_Prior", allowed: "Token_Prior only for VQ tokens without a zstd dictionary")
            }
            tokenFrame = try Self.priorSection(self, prior: prior, symbolsPerPlane: provisional.symbolsPerPlane)
        } else { do {
            let tokenBytes = Self.pack(symbols, header: provisional)
            let planeBytes = provisional.symbolsPerPlane * provisional.symbolBytes
            let parts = options.symbolLayout == .bytePlanes ? 2 * planeCount : planeCount
            let segments = options.planeBlocks ? [Int](repeating: planeBytes * planeCount / parts, count: parts) : nil
            let segmented = try Zstd.compress(tokenBytes, level: options.zstdLevel, checksum: true, dictionary: options.dictionary, segments: segments)
            // Many tiny planes each cost a block header: past the format's bound (zstd's
            // compressBound, which one unsegmented frame always meets) the frame is written whole.
            tokenFrame = segments != nil && segmented.count > BitstreamFormat.sectionBound(tokenBytes.count)
                ? try Zstd.compress(tokenBytes, level: options.zstdLevel, checksum: true, dictionary: options.dictionary, segments: nil)
                : segmented
        } catch { throw .zstd(section: "token", error: error) } }
        do {
            alphaFrame = try alpha.map { a throws(ZstdError) in try Zstd.compress(a, level: options.zstdLevel, checksum: true) } ?? []
        } catch { throw .zstd(section: "alpha", error: error) }
        var metadataFrame: [UInt8] = []
        if !metadata.isEmpty {
            let content = try MetadataEntry.serialize(metadata)
            do { metadataFrame = try Zstd.compress(content, level: options.zstdLevel, checksum: true) } catch { throw .zstd(section: "metadata", error: error) }
        }
        var crc = CRC32()
        crc.update(tokenFrame)
        crc.update(alphaFrame)
        crc.update(metadataFrame)
        let h = header(
            layout: options.symbolLayout, dictionary: options.dictionary != nil, prior: options.prior != nil, tokenSectionSize: tokenFrame.count,
            alphaSectionSize: alphaFrame.count, metadataSectionSize: metadataFrame.count, payloadCRC32: crc.value)
        var out = try h.serialized()
        out.append(contentsOf: tokenFrame)
        out.append(contentsOf: alphaFrame)
        out.append(contentsOf: metadataFrame)
        // The writer's output must satisfy the reader; this catches limit violations (sizes, pixels).
        _ = try BitstreamHeader.parse(out, limits: BitstreamLimits(maxPixels: Int.max, maxTokenBytes: Int.max))
        return out
    }

    /// The reader's rules for the fields that the grid, the packing and the header's integer
    /// widths depend on, checked before any of them is computed.
    func checkFields() throws(ContainerError) {
        func require(_ ok: Bool, _ field: String, _ value: Int, _ allowed: String) throws(ContainerError) {
            if !ok { throw .invalidField(field: field, value: "\(value)", allowed: allowed) }
        }
        try require(BitstreamFormat.allowedBitDepths.contains(sourceBitDepth), "Source_Bit_Depth", sourceBitDepth, "1, 2, 4, 8 or 16")
        try require((1...BitstreamFormat.maxDownsampleFactor).contains(downsampleFactor), "Downsample_Factor", downsampleFactor, "1…\(BitstreamFormat.maxDownsampleFactor)")
        try require((1...BitstreamFormat.maxImageSide).contains(imageWidth), "Image_Width", imageWidth, "1…\(BitstreamFormat.maxImageSide)")
        try require((1...BitstreamFormat.maxImageSide).contains(imageHeight), "Image_Height", imageHeight, "1…\(BitstreamFormat.maxImageSide)")
        try require((1...255).contains(level), "Level", level, "1…255")
        try require((1...255).contains(planeCount), "Plane_Count", planeCount, "1…255")
        try require(alphabetSizes.count == 1 || alphabetSizes.count == planeCount, "Alphabet_Count", alphabetSizes.count, "1 or \(planeCount) (Plane_Count)")
        for (i, a) in alphabetSizes.enumerated() {
            try require((2...BitstreamFormat.maxAlphabetSize).contains(a), "Alphabet_Size[\(i)]", a, "2…\(BitstreamFormat.maxAlphabetSize)")
        }
    }

    /// Reads a whole `.vqz` file.
    ///
    /// - Parameters:
    ///   - limits: the sizes over which the file is refused before allocating.
    ///   - dictionary: the model's zstd dictionary, needed when `Token_Dictionary` is set.
    /// - Throws: `ContainerError`, the first rule of docs/FORMAT.md the file breaks.
    public static func parse(_ file: [UInt8], limits: BitstreamLimits = .default, dictionary: [UInt8]? = nil,
                             prior: (any TokenPriorCoding)? = nil) throws(ContainerError) -> (header: BitstreamHeader, content: BitstreamFile) {
        let h = try BitstreamHeader.parse(file, limits: limits)
        try h.checkPayload(of: file)

        let tokenFrame = file[h.headerSize..<h.headerSize + h.tokenSectionSize]
        let symbols: [UInt16]
        if h.flags.contains(.tokenPrior) {
            symbols = try readPriorSection(tokenFrame, header: h, prior: prior)
        } else {
            let useDictionary = h.flags.contains(.tokenDictionary)
            let tokenBytes = try readFrame(tokenFrame, section: "token", expectedSize: h.tokenBytes, dictionary: useDictionary ? (dictionary ?? []) : nil)
            symbols = unpack(tokenBytes, header: h)
        }
        try checkSymbols(symbols, header: h)

        var alpha: [UInt8]?
        if h.flags.contains(.alphaPresent) {
            let start = h.headerSize + h.tokenSectionSize
            alpha = try readFrame(file[start..<start + h.alphaSectionSize], section: "alpha", expectedSize: h.imageWidth * h.imageHeight, dictionary: nil)
        }
        var content = BitstreamFile(
            payloadKind: h.payloadKind, flags: h.flags, sourceBitDepth: h.sourceBitDepth,
            downsampleFactor: h.downsampleFactor, imageWidth: h.imageWidth, imageHeight: h.imageHeight,
            level: h.level, planeCount: h.planeCount, alphabetSizes: h.alphabetSizes, quantStep: h.quantStep,
            modelID: h.modelID, symbols: symbols, alpha: alpha)
        if h.metadataSectionSize > 0 {
            let start = h.headerSize + h.tokenSectionSize + h.alphaSectionSize
            content.metadata = try readMetadata(file[start..<start + h.metadataSectionSize])
        }
        return (h, content)
    }

    /// `Prior_ID` of a prior-coded file (the first 16 bytes of its token section), nil for a zstd
    /// one. `header` must come from `BitstreamHeader.parse(file)`.
    public static func priorID(of file: [UInt8], header h: BitstreamHeader) -> ModelID? {
        guard h.flags.contains(.tokenPrior), h.tokenSectionSize >= 16 else { return nil }
        return ModelID(bytes: file[h.headerSize..<h.headerSize + 16])
    }

    /// The prior-coded token section: `Prior_ID`, `Stream_Size[Plane_Count]`, the streams.
    static func priorSection(_ content: BitstreamFile, prior: any TokenPriorCoding, symbolsPerPlane n: Int) throws(ContainerError) -> [UInt8] {
        let planes = (0..<content.planeCount).map { Array(content.plane($0)) }
        let streams: [[UInt8]]
        do { streams = try prior.encodeStreams(planes: planes, codedLevel: content.planeCount, height: content.gridHeight, width: content.gridWidth) } catch {
            throw .badTokenStream(plane: nil, reason: "the prior could not code the tokens: \(error)")
        }
        var w = ByteWriter()
        w.raw(prior.priorID.bytes)
        w.u8(UInt8(content.planeCount))  // Coded_Level
        for s in streams { w.u32(UInt32(s.count)) }
        for s in streams { w.raw(s) }
        return w.bytes
    }

    /// The layout of a prior-coded token section: its `Prior_ID` and `Stream_Size` entries, checked
    /// against the header (no token is decoded, no prior needed).
    public static func priorSectionLayout(_ section: ArraySlice<UInt8>, header h: BitstreamHeader) throws(ContainerError) -> (priorID: ModelID, codedLevel: Int, streamSizes: [Int]) {
        let p = h.planeCount
        let fixed = 17 + 4 * p
        guard section.count >= fixed else {
            throw .truncated(field: "Stream_Size", needed: fixed, available: section.count)
        }
        let base = section.startIndex
        let id = ModelID(bytes: section[base..<base + 16])!
        let codedLevel = Int(section[base + 16])
        guard codedLevel >= p else {
            throw .invalidField(field: "Coded_Level", value: "\(codedLevel)", allowed: "\(p)…255 (at least Plane_Count)")
        }
        var sizes: [Int] = []
        var total = fixed
        for i in 0..<p {
            let o = base + 17 + 4 * i
            let v = Int(section[o]) | Int(section[o + 1]) << 8 | Int(section[o + 2]) << 16 | Int(section[o + 3]) << 24
            guard v >= 4, v <= 4 + 2 * h.symbolsPerPlane else {
                throw .invalidField(field: "Stream_Size[\(i)]", value: "\(v)", allowed: "4…\(4 + 2 * h.symbolsPerPlane)")
            }
            sizes.append(v)
            total += v
        }
        guard total == section.count else {
            throw .invalidField(field: "Stream_Size", value: "a total of \(total) bytes", allowed: "\(section.count) (Token_Section_Size)")
        }
        return (id, codedLevel, sizes)
    }

    static func readPriorSection(_ section: ArraySlice<UInt8>, header h: BitstreamHeader, prior: (any TokenPriorCoding)?) throws(ContainerError) -> [UInt16] {
        let (id, codedLevel, sizes) = try priorSectionLayout(section, header: h)
        guard let prior, prior.priorID == id else { throw .priorMismatch(needed: id, available: prior?.priorID) }
        var streams: [ArraySlice<UInt8>] = []
        var o = section.startIndex + 17 + 4 * h.planeCount
        for s in sizes { streams.append(section[o..<o + s]); o += s }
        let planes: [[UInt16]]
        do { planes = try prior.decodeStreams(streams, codedLevel: codedLevel, height: h.gridHeight, width: h.gridWidth) } catch {
            throw .badTokenStream(plane: nil, reason: "\(error)")
        }
        guard planes.count == h.planeCount, planes.allSatisfy({ $0.count == h.symbolsPerPlane }) else {
            throw .badTokenStream(plane: nil, reason: "the prior returned \(planes.count) planes, the header declares \(h.planeCount)")
        }
        return Array(planes.joined())
    }

    /// The metadata section: a zstd frame that declares its content size (at most
    /// `Max_Metadata_Bytes`), then the entries.
    static func readMetadata(_ frame: ArraySlice<UInt8>) throws(ContainerError) -> [MetadataEntry] {
        let info: ZstdFrameInfo
        do { info = try Zstd.frameInfo(frame) } catch { throw .badFrame(section: "metadata", reason: error.name) }
        guard let size = info.contentSize else { throw .contentSizeMismatch(section: "metadata", declared: nil, expected: 0) }
        guard size >= 8 else { throw .badMetadata(entry: 0, reason: "the section holds \(size) bytes, less than one entry's 8-byte head") }
        guard size <= UInt64(BitstreamFormat.maxMetadataBytes) else {
            throw .limitExceeded(field: "metadata section (decompressed)", value: Int(clamping: size), limit: BitstreamFormat.maxMetadataBytes)
        }
        return try MetadataEntry.parse(try readFrame(frame, section: "metadata", expectedSize: Int(size), dictionary: nil))
    }

    /// Checks a section's frame against the rules (declared size, checksum, exact fill, dictionary),
    /// then decompresses it. `dictionary` nil: the frame must not use one; non-nil: it must, and the
    /// ids must agree (an empty array stands for "needed but not available").
    static func readFrame(_ frame: ArraySlice<UInt8>, section: String, expectedSize: Int, dictionary: [UInt8]?) throws(ContainerError) -> [UInt8] {
        let info: ZstdFrameInfo
        do { info = try Zstd.frameInfo(frame) } catch { throw .badFrame(section: section, reason: error.name) }
        guard info.contentSize == UInt64(expectedSize) else {
            throw .contentSizeMismatch(section: section, declared: info.contentSize, expected: expectedSize)
        }
        guard info.hasChecksum else { throw .badFrame(section: section, reason: "the content checksum flag is not set") }
        guard info.compressedSize == frame.count else {
            throw .badFrame(section: section, reason: "the frame is \(info.compressedSize) bytes but the section is \(frame.count)")
        }
        if let dictionary {
            let available = dictionary.isEmpty ? nil : Zstd.dictionaryID(dictionary)
            guard info.dictionaryID != 0 || available == nil else {
                throw .badFrame(section: section, reason: "Token_Dictionary is set but the frame uses no dictionary")
            }
            guard let available, available == info.dictionaryID else { throw .dictionaryMismatch(frame: info.dictionaryID, available: available) }
        } else if info.dictionaryID != 0 {
            throw .badFrame(section: section, reason: "the frame uses dictionary \(info.dictionaryID) but Token_Dictionary is not set")
        }
        do { return try Zstd.decompress(frame, expectedSize: expectedSize, dictionary: dictionary) } catch { throw .zstd(section: section, error: error) }
    }

    static func checkSymbols(_ symbols: [UInt16], header h: BitstreamHeader) throws(ContainerError) {
        let n = h.symbolsPerPlane
        for p in 0..<h.planeCount {
            let limit = h.alphabetSize(plane: p)
            guard limit <= 65_535 else { continue }  // every UInt16 is below 65 536
            for i in 0..<n where Int(symbols[p * n + i]) >= limit {
                throw .symbolOutOfRange(plane: p, position: i, value: Int(symbols[p * n + i]), alphabetSize: limit)
            }
        }
    }

    static func pack(_ symbols: [UInt16], header h: BitstreamHeader) -> [UInt8] {
        if h.symbolBytes == 1 { return symbols.map { UInt8(truncatingIfNeeded: $0) } }
        var out = [UInt8](repeating: 0, count: symbols.count * 2)
        let n = h.symbolsPerPlane
        for p in 0..<h.planeCount {
            for i in 0..<n {
                let s = symbols[p * n + i]
                switch h.symbolLayout {
                case .interleaved:
                    out[2 * (p * n + i)] = UInt8(truncatingIfNeeded: s)
                    out[2 * (p * n + i) + 1] = UInt8(truncatingIfNeeded: s >> 8)
                case .bytePlanes:
                    out[2 * p * n + i] = UInt8(truncatingIfNeeded: s)
                    out[2 * p * n + n + i] = UInt8(truncatingIfNeeded: s >> 8)
                }
            }
        }
        return out
    }

    static func unpack(_ bytes: [UInt8], header h: BitstreamHeader) -> [UInt16] {
        if h.symbolBytes == 1 { return bytes.map { UInt16($0) } }
        let n = h.symbolsPerPlane
        var out = [UInt16](repeating: 0, count: n * h.planeCount)
        for p in 0..<h.planeCount {
            for i in 0..<n {
                let (lo, hi): (UInt8, UInt8)
                switch h.symbolLayout {
                case .interleaved: (lo, hi) = (bytes[2 * (p * n + i)], bytes[2 * (p * n + i) + 1])
                case .bytePlanes: (lo, hi) = (bytes[2 * p * n + i], bytes[2 * p * n + n + i])
                }
                out[p * n + i] = UInt16(lo) | UInt16(hi) << 8
            }
        }
        return out
    }
}

/// One metadata entry: a PNG ancillary chunk's type and data, byte for byte (`docs/FORMAT.md`,
/// "Metadata section"). The container checks the structure only; what a chunk says is never parsed.
public struct MetadataEntry: Sendable, Equatable {
    /// Four ASCII letters, the PNG chunk type (`iCCP`, `eXIf`, `tEXt`…).
    public var type: String
    public var data: [UInt8]

    public init(type: String, data: [UInt8]) {
        self.type = type
        self.data = data
    }

    /// Why `type` cannot be stored, or nil: four ASCII letters, the first lower case (an ancillary
    /// chunk: a decoder can never be made to write a critical chunk such as IDAT), the third upper
    /// case (PNG's reserved bit).
    public static func typeProblem(_ bytes: [UInt8]) -> String? {
        func letter(_ b: UInt8) -> Bool { (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) }
        guard bytes.count == 4, bytes.allSatisfy(letter) else { return "the type is not four ASCII letters" }
        guard bytes[0] & 0x20 != 0 else { return "the type \(String(decoding: bytes, as: UTF8.self)) is a critical chunk (first letter upper case)" }
        guard bytes[2] & 0x20 == 0 else { return "the type \(String(decoding: bytes, as: UTF8.self)) has PNG's reserved bit set (third letter lower case)" }
        return nil
    }

    /// The section's content: per entry `Entry_Type` (4 bytes), `Entry_Length` (u32), the data.
    static func serialize(_ entries: [MetadataEntry]) throws(ContainerError) -> [UInt8] {
        var w = ByteWriter(capacity: entries.reduce(0) { $0 + 8 + $1.data.count })
        for (i, e) in entries.enumerated() {
            let type = Array(e.type.utf8)
            if let problem = typeProblem(type) { throw .badMetadata(entry: i, reason: problem) }
            w.raw(type)
            w.u32(try BitstreamHeader.fit("Entry_Length", e.data.count))
            w.raw(e.data)
        }
        guard w.count <= BitstreamFormat.maxMetadataBytes else {
            throw .limitExceeded(field: "metadata section (decompressed)", value: w.count, limit: BitstreamFormat.maxMetadataBytes)
        }
        return w.bytes
    }

    static func parse(_ bytes: [UInt8]) throws(ContainerError) -> [MetadataEntry] {
        var entries: [MetadataEntry] = []
        var offset = 0
        while offset < bytes.count {
            let i = entries.count
            guard bytes.count - offset >= 8 else { throw .badMetadata(entry: i, reason: "\(bytes.count - offset) bytes remain, less than an entry's 8-byte head") }
            // In the spec's order: the head, then Entry_Length, then Entry_Type.
            let length = Int(bytes[offset + 4]) | Int(bytes[offset + 5]) << 8 | Int(bytes[offset + 6]) << 16 | Int(bytes[offset + 7]) << 24
            guard length <= bytes.count - offset - 8 else {
                throw .badMetadata(entry: i, reason: "Entry_Length is \(length) but \(bytes.count - offset - 8) bytes remain")
            }
            let type = Array(bytes[offset..<offset + 4])
            if let problem = typeProblem(type) { throw .badMetadata(entry: i, reason: problem) }
            entries.append(MetadataEntry(type: String(decoding: type, as: UTF8.self), data: Array(bytes[offset + 8..<offset + 8 + length])))
            offset += 8 + length
        }
        return entries
    }
}

extension BitstreamFile {
    /// A prior-coded file (`Token_Prior`) at a lower level, without the prior (docs/FORMAT.md,
    /// "Trimming"): the first `level` streams and `Stream_Size` entries, `Prior_ID`, the alpha and
    /// metadata sections unchanged; new section sizes and CRCs.
    ///
    /// - Throws: `ContainerError` for a damaged file, a file that is not prior-coded, or a level
    ///   outside `1…Level`.
    public static func trimmedPriorCoded(_ file: [UInt8], toLevel newLevel: Int, limits: BitstreamLimits = .default) throws(ContainerError) -> [UInt8] {
        var h = try BitstreamHeader.parse(file, limits: limits)
        try h.checkPayload(of: file)
        guard h.flags.contains(.tokenPrior) else {
            throw .invalidField(field: "Flags", value: "\(h.flags.rawValue)", allowed: "Token_Prior set (a prior-coded file)")
        }
        guard (1...h.level).contains(newLevel) else {
            throw .invalidField(field: "Level", value: "\(newLevel)", allowed: "1 … \(h.level), the file's own level or lower")
        }
        let tokenStart = h.headerSize
        let (id, codedLevel, sizes) = try priorSectionLayout(file[tokenStart..<tokenStart + h.tokenSectionSize], header: h)
        var section = ByteWriter()
        section.raw(id.bytes)
        section.u8(UInt8(codedLevel))  // the streams keep the level they were coded for
        for s in sizes.prefix(newLevel) { section.u32(UInt32(s)) }
        let streamsStart = tokenStart + 17 + 4 * h.planeCount
        section.raw(file[streamsStart..<streamsStart + sizes.prefix(newLevel).reduce(0, +)])
        let rest = file[(tokenStart + h.tokenSectionSize)...]  // alpha and metadata sections
        h.level = newLevel
        h.planeCount = newLevel
        if h.alphabetSizes.count > 1 { h.alphabetSizes = Array(h.alphabetSizes.prefix(newLevel)) }
        h.headerSize = BitstreamHeader.headerSize(alphabetCount: h.alphabetSizes.count, minor: h.versionMinor)
        h.tokenSectionSize = section.bytes.count
        var crc = CRC32()
        crc.update(section.bytes)
        crc.update(rest)
        h.payloadCRC32 = crc.value
        var out = try h.serialized()
        out += section.bytes
        out += rest
        _ = try BitstreamHeader.parse(out, limits: BitstreamLimits(maxPixels: Int.max, maxTokenBytes: Int.max))
        return out
    }
}
