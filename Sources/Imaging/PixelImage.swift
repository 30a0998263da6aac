// An 8-bit image in memory: what PNG decoding produces and PNG encoding consumes.

/// The channels of a `PixelImage`, in memory order.
public enum PixelFormat: Int, Sendable, CaseIterable {
    case gray = 1
    case grayAlpha = 2
    case rgb = 3
    case rgba = 4

    /// Samples per pixel.
    public var channels: Int { rawValue }
    public var hasAlpha: Bool { self == .grayAlpha || self == .rgba }
    public var isGray: Bool { self == .gray || self == .grayAlpha }

    /// The format with the given colour and alpha.
    public init(gray: Bool, alpha: Bool) {
        switch (gray, alpha) {
        case (true, false): self = .gray
        case (true, true): self = .grayAlpha
        case (false, false): self = .rgb
        case (false, true): self = .rgba
        }
    }
}

/// An 8-bit-per-sample image, rows top to bottom, samples interleaved (`[H, W, channels]`).
public struct PixelImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var format: PixelFormat
    /// `width · height · format.channels` samples.
    public var samples: [UInt8]

    public init(width: Int, height: Int, format: PixelFormat, samples: [UInt8]) {
        precondition(width > 0 && height > 0, "PixelImage: empty image \(width)×\(height)")
        precondition(samples.count == width * height * format.channels,
                     "PixelImage: \(samples.count) samples for \(width)×\(height)×\(format.channels)")
        self.width = width
        self.height = height
        self.format = format
        self.samples = samples
    }

    /// Number of pixels.
    public var pixelCount: Int { width * height }

    /// The image as 8-bit RGB (gray replicated), dropping alpha.
    public var rgb: [UInt8] {
        let c = format.channels
        if format == .rgb { return samples }
        var out = [UInt8](repeating: 0, count: pixelCount * 3)
        for i in 0..<pixelCount {
            if format.isGray {
                let g = samples[i * c]
                out[3 * i] = g; out[3 * i + 1] = g; out[3 * i + 2] = g
            } else {
                out[3 * i] = samples[i * c]; out[3 * i + 1] = samples[i * c + 1]; out[3 * i + 2] = samples[i * c + 2]
            }
        }
        return out
    }

    /// The alpha channel, or nil.
    public var alpha: [UInt8]? {
        guard format.hasAlpha else { return nil }
        let c = format.channels
        return (0..<pixelCount).map { samples[$0 * c + c - 1] }
    }

    /// The image as RGBA (gray replicated, opaque alpha added when absent).
    public var rgba: [UInt8] {
        let c = format.channels
        var out = [UInt8](repeating: 255, count: pixelCount * 4)
        for i in 0..<pixelCount {
            let base = i * c
            if format.isGray {
                out[4 * i] = samples[base]; out[4 * i + 1] = samples[base]; out[4 * i + 2] = samples[base]
            } else {
                out[4 * i] = samples[base]; out[4 * i + 1] = samples[base + 1]; out[4 * i + 2] = samples[base + 2]
            }
            if format.hasAlpha { out[4 * i + 3] = samples[base + c - 1] }
        }
        return out
    }
}
