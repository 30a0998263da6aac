// PNG → PixelImage through libpng's simplified API (png_image), which needs no setjmp and reports
// errors as a message. Every PNG colour type and bit depth is accepted; the result is 8-bit gray,
// gray+alpha, RGB or RGBA, keeping the stored sample values (no gamma conversion).

import CPNG

/// Decodes PNG files.
public enum PNGDecoder {
    /// The default limit on `width · height`, checked before any pixel buffer is allocated.
    /// 2²⁸ pixels (e.g. 16384 × 16384) is 1 GiB as RGBA.
    public static let defaultMaxPixels = 1 << 28

    /// Decodes a PNG held in memory.
    ///
    /// - Returns: the 8-bit image (gray sources stay gray; alpha channels and `tRNS` become alpha;
    ///   16-bit samples are scaled to 8 bits) and what the source declared.
    /// - Throws: `ImagingError.notPNG`, `.tooLarge` (before allocating), or `.libpng(message:)`
    ///   with libpng's description of what is wrong.
    public static func decode(_ data: [UInt8], maxPixels: Int = defaultMaxPixels) throws(ImagingError) -> (image: PixelImage, source: PNGSourceInfo) {
        guard data.count >= 8, Array(data[0..<8]) == PNGChunks.signature else { throw .notPNG }
        guard let (scanned, stripped) = PNGChunks.scan(data) else {
            // The chunk list is broken; let libpng name the problem. It always fails here, since
            // libpng needs a readable IHDR too, but if it did not, refuse rather than guess.
            try failWithLibpng(data, maxPixels: maxPixels)
            throw .libpng(message: "unreadable chunk structure")
        }
        guard scanned.width > 0, scanned.height > 0 else {
            try failWithLibpng(data, maxPixels: maxPixels)
            throw .libpng(message: "invalid image size")
        }
        // IHDR sides are up to 2³¹ − 1 each (4294967295 when unchecked): their product can overflow.
        let (pixels, overflow) = scanned.width.multipliedReportingOverflow(by: scanned.height)
        guard !overflow, pixels <= maxPixels else {
            throw .tooLarge(width: scanned.width, height: scanned.height, limit: maxPixels)
        }

        // libpng keeps a pointer to the compressed data from begin_read until finish_read, so it
        // lives in memory this function owns for that whole span (an Array's buffer pointer is only
        // valid inside its closure, and the optimizer may free the array after its last use).
        let memory = PNGMemory(stripped)
        defer { memory.free() }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        let begun = png_image_begin_read_from_memory(&image, memory.buffer.baseAddress, memory.buffer.count)
        guard begun != 0 else { throw .libpng(message: message(of: image)) }
        // libpng re-read IHDR: it must agree with the scan the limit was checked on.
        guard Int(image.width) == scanned.width, Int(image.height) == scanned.height else {
            throw .libpng(message: "IHDR read twice with different sizes")
        }

        let hasAlpha = (image.format & UInt32(PNG_FORMAT_FLAG_ALPHA)) != 0
        let format = PixelFormat(gray: scanned.isGray, alpha: hasAlpha)
        image.format = (format.isGray ? 0 : UInt32(PNG_FORMAT_FLAG_COLOR)) | (hasAlpha ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0)
        let count = scanned.width * scanned.height * format.channels
        var samples: [UInt8]
        let finished: Int32
        if scanned.bitDepth == 16 {
            // 16-bit sources are read as 16-bit "linear" samples, which (with the colour chunks gone)
            // are the stored values, and scaled here. libpng 1.6's own 16→8 path garbles Adam7-interlaced
            // 16-bit images (basi0g16 decodes with rows shifted), so it is not used.
            image.format |= UInt32(PNG_FORMAT_FLAG_LINEAR)
            var wide = [UInt16](repeating: 0, count: count)
            finished = wide.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
            samples = Self.eightBit(wide, channels: format.channels, alpha: hasAlpha)
        } else {
            samples = [UInt8](repeating: 0, count: count)
            finished = samples.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        }
        guard finished != 0 else { throw .libpng(message: message(of: image)) }
        return (PixelImage(width: scanned.width, height: scanned.height, format: format, samples: samples), scanned)
    }

    /// 16-bit samples to 8 bits, rounding (`v·255/65535`). libpng's 16-bit output has associated
    /// (premultiplied) alpha, which is undone first; colour under alpha 0 is lost (it is invisible).
    static func eightBit(_ wide: [UInt16], channels: Int, alpha: Bool) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: wide.count)
        let pixels = wide.count / channels
        for p in 0..<pixels {
            let base = p * channels
            let a = alpha ? Int(wide[base + channels - 1]) : 65535
            for c in 0..<channels {
                var v = Int(wide[base + c])
                if alpha && c < channels - 1 {
                    v = a == 0 ? 0 : min(65535, (v * 65535 + a / 2) / a)
                }
                out[base + c] = UInt8((v * 255 + 32767) / 65535)
            }
        }
        return out
    }

    /// Runs libpng on the original bytes only to obtain its error message.
    private static func failWithLibpng(_ data: [UInt8], maxPixels: Int) throws(ImagingError) {
        // libpng allocates a chunk's declared length before reading it: a length past the end of the
        // file is reported here instead (found by fuzzing: a 1.1 GB allocation from a 300-byte file).
        if let (type, length) = PNGChunks.overrun(data) {
            throw .libpng(message: "chunk \(type) declares \(length) bytes, more than the file holds")
        }
        let memory = PNGMemory(data)
        defer { memory.free() }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        let begun = png_image_begin_read_from_memory(&image, memory.buffer.baseAddress, memory.buffer.count)
        if begun == 0 { throw .libpng(message: message(of: image)) }
        let (w, h) = (Int(image.width), Int(image.height))
        let (pixels, overflow) = w.multipliedReportingOverflow(by: h)
        guard !overflow, pixels <= maxPixels else { throw .tooLarge(width: w, height: h, limit: maxPixels) }
        let size = w * h * 4
        guard size > 0 else { throw .libpng(message: "invalid image size") }
        image.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)
        var buffer = [UInt8](repeating: 0, count: size)
        let ok = buffer.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        if ok == 0 { throw .libpng(message: message(of: image)) }
    }

    static func message(of image: png_image) -> String {
        var copy = image.message
        let text = withUnsafeBytes(of: &copy) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "unknown libpng error" : text
    }
}

/// A copy of PNG bytes at a stable address, for libpng's read-from-memory API.
struct PNGMemory {
    let buffer: UnsafeMutableRawBufferPointer

    init(_ bytes: [UInt8]) {
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 16)
        buffer.copyBytes(from: bytes)
    }

    func free() { buffer.deallocate() }
}
