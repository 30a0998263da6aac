// PixelImage → PNG bytes: fixed filters by our own writer (rows filtered and deflated in parts on
// several threads, docs/design/png.md), the adaptive filter through libpng's full write API (the C
// shim in Sources/CPNGWrite keeps libpng's longjmp on the C side). The zlib level and the row
// filter can be chosen: a decoded
// photo written at zlib's default level 6 with adaptive filters takes longer than the network that
// made it (docs/design/png.md has the measurements behind the default).

import CPNGWrite

/// Row filter of a written PNG (the PNG spec's filter types; `.adaptive` lets libpng pick per row).
public enum PNGFilter: String, Sendable, CaseIterable {
    case none, sub, up, average, paeth, adaptive

    var code: Int32 {
        switch self {
        case .none: 0
        case .sub: 1
        case .up: 2
        case .average: 3
        case .paeth: 4
        case .adaptive: 5
        }
    }
}

/// Encodes 8-bit gray, gray+alpha, RGB and RGBA images as PNG.
public enum PNGEncoder {
    /// The default zlib level: fast, for files a little larger than level 6's (docs/design/png.md).
    public static let defaultLevel = 1
    /// The default row filter.
    public static let defaultFilter = PNGFilter.paeth

    /// The PNG bytes of `image` at zlib `level` (0…9) with `filter`. Decoding them gives back exactly `image`.
    /// - Parameter chunks: metadata chunks written right after IHDR, as given (`PNGChunk`).
    /// - Parameter threads: for the fixed filters, how many threads deflate (the bytes do not depend
    ///   on it); the codec passes its kernel pool's count (`ThreadPool.current.threadCount`, which
    ///   `VQZ_THREADS` and `--threads` set).
    public static func encode(_ image: PixelImage, level: Int = defaultLevel, filter: PNGFilter = defaultFilter, chunks: [PNGChunk] = [],
                              threads: Int = 1) throws(ImagingError) -> [UInt8] {
        guard (0...9).contains(level) else { throw .libpng(message: "PNG compression level \(level) is not in 0…9") }
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = image.samples.withUnsafeBufferPointer { src in
            filter == .adaptive
                ? vqz_png_encode(src.baseAddress, UInt32(image.width), UInt32(image.height), Int32(image.format.channels),
                                 Int32(level), filter.code, &out, &size, &message, message.count)
                : vqz_png_encode_parallel(src.baseAddress, UInt32(image.width), UInt32(image.height), Int32(image.format.channels),
                                          Int32(level), filter.code, Int32(threads), &out, &size, &message, message.count)
        }
        guard status == 0, let out else {
            throw .libpng(message: String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { vqz_png_free(out) }
        return PNGChunks.inserting(chunks, into: Array(UnsafeBufferPointer(start: out, count: size)))
    }
}
