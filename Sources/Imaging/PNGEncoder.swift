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
        var size = 0
        // First pass: the size; second pass: the bytes.
        var ok = image.samples.withUnsafeBytes { png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, stride, nil) }
        guard ok != 0 else { throw .libpng(message: PNGDecoder.message(of: png)) }
        var out = [UInt8](repeating: 0, count: size)
        ok = image.samples.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { png_image_write_to_memory(&png, $0.baseAddress, &size, 0, src.baseAddress, stride, nil) }
        }
        guard ok != 0 else { throw .libpng(message: PNGDecoder.message(of: png)) }
        out.removeSubrange(size...)
        return out
    }
}
