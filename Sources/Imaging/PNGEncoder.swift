// PixelImage → PNG bytes through libpng's simplified API (png_image_write_to_memory).

import CPNG

/// Encodes 8-bit gray, gray+alpha, RGB and RGBA images as PNG.
public enum PNGEncoder {
    /// The PNG bytes of `image`. Decoding them gives back exactly `image`.
    public static func encode(_ image: PixelImage) throws(ImagingError) -> [UInt8] {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = (image.format.isGray ? 0 : UInt32(PNG_FORMAT_FLAG_COLOR))
            | (image.format.hasAlpha ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0)
        defer { png_image_free(&png) }
        let stride = Int32(image.width * image.format.channels)
        // One pass into a buffer of the worst-case size (stored deflate blocks, one filter byte per
        // row, chunk framing; libpng's PNG_IMAGE_PNG_SIZE_MAX); libpng reports the size it needs if
        // that were ever too small, and the write is repeated once.
        let raw = (Int(stride) + 1) * image.height
        var size = raw + 5 * (raw / 16_383 + 1) + 12 * (raw / 8_192 + 2) + 4_096
        var out: [UInt8] = []
        var ok: Int32 = 0
        for attempt in 0..<2 {
            if attempt > 0 {
                guard size > out.count else { break }
                png_image_free(&png)
                png.warning_or_error = 0
            }
            out = [UInt8](repeating: 0, count: size)
            ok = image.samples.withUnsafeBytes { src in
                out.withUnsafeMutableBytes { png_image_write_to_memory(&png, $0.baseAddress, &size, 0, src.baseAddress, stride, nil) }
            }
            if ok != 0 { break }
        }
        guard ok != 0 else { throw .libpng(message: PNGDecoder.message(of: png)) }
        out.removeSubrange(size...)
        return out
    }
}
