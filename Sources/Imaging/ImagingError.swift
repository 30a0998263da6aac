// Why a PNG could not be read or written.

/// A PNG decoding or encoding failure, as one sentence.
public enum ImagingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// libpng refused the data; `message` is libpng's own (`png_image.message`).
    case libpng(message: String)
    /// The image declares more pixels than allowed; nothing was allocated for it.
    case tooLarge(width: Int, height: Int, limit: Int)
    /// The data does not start with the PNG signature.
    case notPNG

    public var description: String {
        switch self {
        case let .libpng(message): return "invalid PNG: \(message)"
        case let .tooLarge(width, height, limit):
            let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
            return "the image is \(width)×\(height) = \(overflow ? "more than \(Int.max)" : "\(pixels)") pixels, over the limit of \(limit) (raise it with --max-pixels)"
        case .notPNG: return "not a PNG file (the PNG signature is missing)"
        }
    }
}
