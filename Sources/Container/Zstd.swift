// A small, checked wrapper over libzstd: compression with the content checksum on, frame inspection
// (declared size, checksum flag, dictionary id) before any allocation, decompression into a buffer
// of exactly the expected size, and dictionaries (train, compress and decompress with one).

import CZstd

/// A libzstd failure, with zstd's own error name (`ZSTD_getErrorName`).
public struct ZstdError: Error, Sendable, Equatable, CustomStringConvertible {
    /// zstd's error code (`ZSTD_getErrorCode`), 0 for failures found by this wrapper.
    public var code: Int
    /// zstd's name for it, e.g. "Data corruption detected".
    public var name: String

    public init(code: Int, name: String) {
        self.code = code
        self.name = name
    }

    init(result: Int) {
        self.code = Int(ZSTD_getErrorCode(result).rawValue)
        self.name = String(cString: ZSTD_getErrorName(result))
    }

    public var description: String { "zstd: \(name)" }
}

/// What a zstd frame's header declares, read without decompressing.
public struct ZstdFrameInfo: Sendable, Equatable {
    /// `Frame_Content_Size`, or nil when the frame does not declare it.
    public var contentSize: UInt64?
    /// Bytes the whole frame occupies (header, blocks, checksum).
    public var compressedSize: Int
    /// Whether the frame ends with a content checksum.
    public var hasChecksum: Bool
    /// The dictionary the frame needs, 0 for none.
    public var dictionaryID: UInt32
}

/// Entry points over libzstd. Every function either succeeds completely or throws.
public enum Zstd {
    /// The libzstd version in use, e.g. "1.5.4".
    public static var versionString: String { String(cString: ZSTD_versionString()) }

    /// The largest a frame can be when compressing `size` bytes in one pass.
    public static func compressBound(_ size: Int) -> Int { ZSTD_compressBound(size) }

    /// Compresses `source` into one frame with `Frame_Content_Size` and, when `checksum`, the
    /// content checksum.
    ///
    /// - Parameters:
    ///   - level: zstd compression level (1 … 22; 19 by default).
    ///   - dictionary: a dictionary (as produced by `trainDictionary`) to compress with.
    ///   - segments: lengths of consecutive parts of `source` (summing to its length) after each of
    ///     which the current block is ended (a flush), so no block spans two parts and each part gets
    ///     its own entropy tables. Still one frame, decompressed like any other.
    public static func compress(
        _ source: some Collection<UInt8>, level: Int = 19, checksum: Bool = true,
        dictionary: [UInt8]? = nil, segments: [Int]? = nil
    ) throws(ZstdError) -> [UInt8] {
        guard let cctx = ZSTD_createCCtx() else { throw ZstdError(code: 0, name: "cannot allocate a compression context") }
        defer { ZSTD_freeCCtx(cctx) }
        try check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, Int32(level)))
        try check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, checksum ? 1 : 0))
        try check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1))
        if let dictionary {
            try check(dictionary.withUnsafeBytes { ZSTD_CCtx_loadDictionary(cctx, $0.baseAddress, $0.count) })
        }
        let input = Array(source)
        if let segments, segments.count > 1 {
            precondition(segments.reduce(0, +) == input.count && segments.allSatisfy { $0 >= 0 }, "Zstd.compress: segments must cover the source")
            try check(ZSTD_CCtx_setPledgedSrcSize(cctx, UInt64(input.count)))
            var output = [UInt8](repeating: 0, count: compressBound(input.count) + 64 * segments.count + 64)
            var outPos = 0
            var start = 0
            for (i, length) in segments.enumerated() {
                let directive = i == segments.count - 1 ? ZSTD_e_end : ZSTD_e_flush
                // The error code of the first failing call, or 0 when the part was consumed.
                let failure: Int = input.withUnsafeBytes { src in
                    output.withUnsafeMutableBytes { dst in
                        var inBuffer = ZSTD_inBuffer(src: src.baseAddress! + start, size: length, pos: 0)
                        var outBuffer = ZSTD_outBuffer(dst: dst.baseAddress, size: dst.count, pos: outPos)
                        var remaining = 1
                        while remaining != 0 {
                            remaining = ZSTD_compressStream2(cctx, &outBuffer, &inBuffer, directive)
                            if ZSTD_isError(remaining) != 0 { return remaining }
                            if remaining != 0 && outBuffer.pos == outBuffer.size { return Int.min }
                        }
                        outPos = outBuffer.pos
                        return 0
                    }
                }
                if failure == Int.min { throw ZstdError(code: 0, name: "output buffer too small") }
                try check(failure)
                start += length
            }
            output.removeSubrange(outPos...)
            return output
        }
        var output = [UInt8](repeating: 0, count: compressBound(input.count))
        let written = input.withUnsafeBytes { src in
            output.withUnsafeMutableBytes { dst in
                ZSTD_compress2(cctx, dst.baseAddress, dst.count, src.baseAddress, src.count)
            }
        }
        try check(written)
        output.removeSubrange(written...)
        return output
    }

    /// Reads the header of the frame at the start of `frame` without decompressing it.
    public static func frameInfo(_ frame: ArraySlice<UInt8>) throws(ZstdError) -> ZstdFrameInfo {
        var header = ZSTD_frameHeader()
        let result = frame.withUnsafeBytes { ZSTD_getFrameHeader(&header, $0.baseAddress, $0.count) }
        try check(result)
        guard result == 0 else { throw ZstdError(code: 0, name: "frame header is truncated") }
        guard header.frameType == ZSTD_frame else { throw ZstdError(code: 0, name: "skippable frame where a data frame was expected") }
        let compressed = frame.withUnsafeBytes { ZSTD_findFrameCompressedSize($0.baseAddress, $0.count) }
        try check(compressed)
        return ZstdFrameInfo(
            contentSize: header.frameContentSize == ZSTD_CONTENTSIZE_UNKNOWN ? nil : header.frameContentSize,
            compressedSize: compressed,
            hasChecksum: header.checksumFlag != 0,
            dictionaryID: header.dictID)
    }

    /// Decompresses one frame that must produce exactly `expectedSize` bytes.
    ///
    /// The caller checks the declared size (`frameInfo`) against its own expectation before calling,
    /// so that the allocation here is never driven by the frame alone.
    public static func decompress(
        _ frame: ArraySlice<UInt8>, expectedSize: Int, dictionary: [UInt8]? = nil
    ) throws(ZstdError) -> [UInt8] {
        guard let dctx = ZSTD_createDCtx() else { throw ZstdError(code: 0, name: "cannot allocate a decompression context") }
        defer { ZSTD_freeDCtx(dctx) }
        if let dictionary {
            try check(dictionary.withUnsafeBytes { ZSTD_DCtx_loadDictionary(dctx, $0.baseAddress, $0.count) })
        }
        var output = [UInt8](repeating: 0, count: expectedSize)
        let produced = frame.withUnsafeBytes { src in
            output.withUnsafeMutableBytes { dst in
                ZSTD_decompressDCtx(dctx, dst.baseAddress, dst.count, src.baseAddress, src.count)
            }
        }
        try check(produced)
        guard produced == expectedSize else {
            throw ZstdError(code: 0, name: "frame produced \(produced) bytes, expected \(expectedSize)")
        }
        return output
    }

    /// Trains a dictionary of at most `capacity` bytes from `samples` (zstd's `ZDICT_trainFromBuffer`).
    public static func trainDictionary(samples: [[UInt8]], capacity: Int = 16_384) throws(ZstdError) -> [UInt8] {
        let joined = samples.flatMap { $0 }
        let sizes = samples.map { $0.count }
        var dictionary = [UInt8](repeating: 0, count: capacity)
        let size = joined.withUnsafeBytes { src in
            dictionary.withUnsafeMutableBytes { dst in
                ZDICT_trainFromBuffer(dst.baseAddress, dst.count, src.baseAddress, sizes, UInt32(sizes.count))
            }
        }
        if ZDICT_isError(size) != 0 {
            throw ZstdError(code: 0, name: "dictionary training failed: " + String(cString: ZDICT_getErrorName(size)))
        }
        dictionary.removeSubrange(size...)
        return dictionary
    }

    /// The id a dictionary declares (0 when `dictionary` is not a zstd dictionary).
    public static func dictionaryID(_ dictionary: [UInt8]) -> UInt32 {
        dictionary.withUnsafeBytes { ZDICT_getDictID($0.baseAddress, $0.count) }
    }

    private static func check(_ result: Int) throws(ZstdError) {
        if ZSTD_isError(result) != 0 { throw ZstdError(result: result) }
    }
}
