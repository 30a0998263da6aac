// Image ↔ .vqz through a loaded model: pad to the model's factor (edge replication), run the encoder
// and quantize, pack the symbols into the container; and back: parse, check the model id, decode,
// crop, round to 8 bits, restore gray and alpha.

import Container
import Foundation
import Imaging
import Models
import TensorCore

/// Why an image could not be encoded or a file decoded.
public struct CodecError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Encoding and decoding with one model.
public enum ImageCodec {
    /// The `.vqz` bytes of `image` at rate `level` of `model`.
    ///
    /// - Parameters:
    ///   - sourceBitDepth: the PNG's bit depth, recorded in the header.
    ///   - zstdLevel: compression level of the sections.
    public static func encode(_ image: PixelImage, model: LoadedModel, level: Int, sourceBitDepth: Int = 8, zstdLevel: Int = 19) throws -> [UInt8] {
        try encode(image, model: model, levels: [level], sourceBitDepth: sourceBitDepth, zstdLevel: zstdLevel)[0]
    }

    /// The `.vqz` bytes of `image` at each of `levels`, running the encoder network once: residual
    /// VQ level `L` is the first `L` stages of the deepest level, and the Gaussian levels share μ.
    public static func encode(_ image: PixelImage, model: LoadedModel, levels: [Int], sourceBitDepth: Int = 8, zstdLevel: Int = 19) throws -> [[UInt8]] {
        for level in levels where !model.levels.contains(level) {
            throw CodecError("level \(level) does not exist in model \(model.name) (levels \(model.levels.first!)…\(model.levels.last!))")
        }
        let f = model.config.downsampleFactor
        let x = paddedTensor(image, factor: f)
        let gh = x.shape[2] / f, gw = x.shape[3] / f
        let vqIndices = model.vq?.encode(x, levels: levels.max() ?? 1)
        let mu = model.gaussian?.posterior(x).mu
        let alpha = image.alpha
        return try levels.map { level in
            var symbols: [UInt16] = []
            let alphabets: [Int]
            let planes: Int
            var quantStep: Float = 0
            if let vqIndices {
                for stage in vqIndices.prefix(level) { symbols += stage.map { UInt16($0) } }
                alphabets = [model.config.codebookSize]
                planes = level
            } else {
                let step = model.config.quantSteps[level - 1]
                let integers = mu!.scalars.map { max(-32_768, min(32_767, Int(($0 / step).rounded()))) }
                let maxAbs = integers.map { abs($0) }.max() ?? 0
                symbols = integers.map(BitstreamFile.zigzag)
                alphabets = [max(2, 2 * maxAbs + 1)]
                planes = model.config.latentChannels
                quantStep = step
            }
            precondition(symbols.count == planes * gh * gw)
            let file = BitstreamFile(
                payloadKind: model.vq != nil ? .vqTokens : .gaussianLatents, flags: image.format.isGray ? [.gray] : [],
                sourceBitDepth: sourceBitDepth, downsampleFactor: f, imageWidth: image.width, imageHeight: image.height,
                level: level, planeCount: planes, alphabetSizes: alphabets, quantStep: quantStep, modelID: model.id,
                symbols: symbols, alpha: alpha)
            do { return try file.serialized(options: BitstreamWriteOptions(zstdLevel: zstdLevel)) } catch {
                throw CodecError("cannot write the container: \(error)")
            }
        }
    }

    /// The image `bytes` (a `.vqz` file) holds, decoded with `model`.
    public static func decode(_ bytes: [UInt8], model: LoadedModel, limits: BitstreamLimits = .default) throws -> PixelImage {
        let (header, content): (BitstreamHeader, BitstreamFile)
        do { (header, content) = try BitstreamFile.parse(bytes, limits: limits) } catch { throw CodecError("\(error)") }
        return try decode(header: header, content: content, model: model)
    }

    /// The image of an already parsed file, decoded with `model`.
    public static func decode(header: BitstreamHeader, content: BitstreamFile, model: LoadedModel) throws -> PixelImage {
        guard header.modelID == model.id else {
            throw CodecError("this file was encoded with model \(header.modelID.hex), not \(model.name) (\(model.id.hex))")
        }
        let f = model.config.downsampleFactor
        guard header.downsampleFactor == f else { throw CodecError("Downsample_Factor is \(header.downsampleFactor), the model's is \(f)") }
        let gh = header.gridHeight, gw = header.gridWidth, n = gh * gw
        let y: Tensor
        if let vq = model.vq {
            guard header.payloadKind == .vqTokens, model.levels.contains(header.level),
                  header.alphabetSizes.allSatisfy({ $0 == model.config.codebookSize }) else {
                throw CodecError("the file's tokens (level \(header.level), alphabet \(header.alphabetSizes)) do not fit model \(model.name)")
            }
            let indices = (0..<header.planeCount).map { p in content.symbols[p * n..<(p + 1) * n].map { Int32($0) } }
            y = vq.decode(indices, n: 1, h: gh, w: gw)
        } else {
            guard header.payloadKind == .gaussianLatents, header.planeCount == model.config.latentChannels else {
                throw CodecError("the file's latents (\(header.planeCount) planes) do not fit model \(model.name)")
            }
            let integers = content.symbols.map { Int32(BitstreamFile.unzigzag($0)) }
            y = model.gaussian!.decode(integers, step: header.quantStep, n: 1, h: gh, w: gw)
        }
        return pixels(y, width: header.imageWidth, height: header.imageHeight, gray: header.flags.contains(.gray), alpha: content.alpha)
    }

    /// `[1, 3, H', W']` in [0, 1], `H'`, `W'` the next multiples of `factor`, padded by repeating the
    /// last row and column (edge replication: no artificial edge for the encoder to spend bits on).
    public static func paddedTensor(_ image: PixelImage, factor: Int) -> Tensor {
        let w = image.width, h = image.height
        let pw = (w + factor - 1) / factor * factor, ph = (h + factor - 1) / factor * factor
        let rgb = image.rgb
        var x = Tensor(shape: [1, 3, ph, pw])
        x.withUnsafeMutableBufferPointer { dst in
            for y in 0..<ph {
                let sy = min(y, h - 1)
                for xx in 0..<pw {
                    let sx = min(xx, w - 1)
                    for c in 0..<3 { dst[(c * ph + y) * pw + xx] = Float(rgb[(sy * w + sx) * 3 + c]) / 255 }
                }
            }
        }
        return x
    }

    /// Crops `y [1, 3, H', W']` to `width × height`, rounds to 8 bits, and restores gray and alpha.
    static func pixels(_ y: Tensor, width: Int, height: Int, gray: Bool, alpha: [UInt8]?) -> PixelImage {
        let ph = y.shape[2], pw = y.shape[3]
        func sample(_ c: Int, _ row: Int, _ col: Int) -> Int {
            Int((min(max(y.scalars[(c * ph + row) * pw + col], 0), 1) * 255).rounded())
        }
        let format = PixelFormat(gray: gray, alpha: alpha != nil)
        var out = [UInt8](repeating: 0, count: width * height * format.channels)
        for row in 0..<height {
            for col in 0..<width {
                let i = row * width + col, o = i * format.channels
                if gray {
                    let sum = sample(0, row, col) + sample(1, row, col) + sample(2, row, col)
                    out[o] = UInt8((sum + 1) / 3)
                } else {
                    for c in 0..<3 { out[o + c] = UInt8(sample(c, row, col)) }
                }
                if let alpha { out[o + format.channels - 1] = alpha[i] }
            }
        }
        return PixelImage(width: width, height: height, format: format, samples: out)
    }

    /// PSNR in dB between two 8-bit RGB buffers of equal size.
    public static func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
        precondition(a.count == b.count, "psnr: sizes differ")
        var s = 0.0
        for i in 0..<a.count { let d = Double(a[i]) - Double(b[i]); s += d * d }
        let mse = s / Double(a.count)
        return mse == 0 ? 99 : 10 * log10(255 * 255 / mse)
    }
}
