// Image ↔ .vqz through a loaded model: pad to the model's factor (edge replication), run the encoder
// and quantize, pack the symbols into the container; and back: parse, check the model id, decode,
// crop, round to 8 bits, restore gray and alpha.

import Container
import Foundation
import Imaging
import Metrics
import Models
import TensorCore

/// Why an image could not be encoded or a file decoded.
public struct CodecError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// How images are cut into tiles for bounded memory.
///
/// The grid of latents is cut into square cores of `latents × latents`; each core is computed with
/// `margin` extra latents on every side that are then dropped. The margin covers the receptive field
/// of the encoder and of the decoder (`ModelConfig.tileMargin`), so a tiled result equals the
/// untiled one up to floating-point summation order.
public struct Tiling: Sendable, Equatable {
    /// Core size in latents (per side).
    public var latents: Int
    /// Margin in latents; nil: the model's `tileMargin`. (Smaller values exist for tests only.)
    public var margin: Int?
    public init(latents: Int, margin: Int? = nil) {
        precondition(latents > 0, "Tiling: empty tiles")
        self.latents = latents
        self.margin = margin
    }
    /// 96 latents (768 px at f = 8): a Kodak image is one tile; peak memory stays far below 1.5 GiB.
    public static let `default` = Tiling(latents: 96)

    /// Core and outer (core + margin, clipped to the grid) ranges of every tile, row-major.
    func tiles(gridHeight gh: Int, gridWidth gw: Int, margin: Int) -> [Tile] {
        var out: [Tile] = []
        for r in stride(from: 0, to: gh, by: latents) {
            for c in stride(from: 0, to: gw, by: latents) {
                let core = (rows: r..<min(r + latents, gh), cols: c..<min(c + latents, gw))
                out.append(Tile(core: core, outer: (rows: max(0, r - margin)..<min(gh, core.rows.upperBound + margin),
                                                    cols: max(0, c - margin)..<min(gw, core.cols.upperBound + margin))))
            }
        }
        return out
    }
}

/// One tile of the latent grid.
struct Tile {
    var core: (rows: Range<Int>, cols: Range<Int>)
    var outer: (rows: Range<Int>, cols: Range<Int>)
}

/// Something an encode changed to fit the format, for the caller to report.
public enum EncodeNotice: Sendable, Equatable, CustomStringConvertible {
    /// `count` Gaussian latents of `level` were beyond the format's ±32 767 and were clamped: the
    /// file is valid but the image is distorted where they were.
    case clampedLatents(level: Int, count: Int)

    public var description: String {
        switch self {
        case let .clampedLatents(level, count):
            return "\(count) latent\(count == 1 ? "" : "s") of level \(level) exceeded the format's range of ±32767 and were clamped; the decoded image is distorted there"
        }
    }
}

/// Encoding and decoding with one model.
public enum ImageCodec {
    /// The `.vqz` bytes of `image` at rate `level` of `model`.
    ///
    /// - Parameters:
    ///   - sourceBitDepth: the PNG's bit depth, recorded in the header.
    ///   - zstdLevel: compression level of the sections.
    ///   - lambda: the VQ models' rate–distortion trade-off in token choice (`ResidualVectorQuantizer.
    ///     quantize(_:levels:lambda:)`); nil: the model's default; 0: nearest codes.
    ///   - refine: VQ models: sweeps of per-stage token refinement after the residual search
    ///     (`ResidualVectorQuantizer.quantize(_:levels:lambda:passes:refine:beam:)`); 0: none.
    ///   - beam: VQ models: paths kept per position by the residual search; 1: greedy, stage by stage.
    ///   - notice: called with what had to change to fit the format (clamped latents).
    ///   - metadata: the source's metadata chunks, stored in the file's metadata section.
    public static func encode(_ image: PixelImage, model: LoadedModel, level: Int, sourceBitDepth: Int = 8, zstdLevel: Int = 19, lambda: Float? = nil,
                              refine: Int = defaultRefine, beam: Int = defaultBeam, tiling: Tiling = .default,
                              metadata: [MetadataEntry] = [], prior: LoadedPrior? = nil, notice: ((EncodeNotice) -> Void)? = nil) throws -> [UInt8] {
        try encode(image, model: model, levels: [level], sourceBitDepth: sourceBitDepth, zstdLevel: zstdLevel, lambda: lambda, refine: refine, beam: beam, tiling: tiling,
                   metadata: metadata, prior: prior, notice: notice)[0]
    }

    /// The sweeps of token refinement `encode` does by default (`ResidualVectorQuantizer.defaultRefine`).
    public static let defaultRefine = ResidualVectorQuantizer.defaultRefine

    /// The beam width of the token choice `encode` uses by default (`ResidualVectorQuantizer.defaultBeam`).
    public static let defaultBeam = ResidualVectorQuantizer.defaultBeam

    /// The `.vqz` bytes of `image` at each of `levels`, running the encoder network once: without
    /// refinement, residual VQ level `L` is the first `L` stages of the deepest level with the same
    /// λ; with it, each level is quantized on its own; the Gaussian levels share μ.
    /// - Throws: `CodecError` for a level the model lacks, or latents that are not finite.
    public static func encode(_ image: PixelImage, model: LoadedModel, levels: [Int], sourceBitDepth: Int = 8, zstdLevel: Int = 19, lambda: Float? = nil,
                              refine: Int = defaultRefine, beam: Int = defaultBeam, tiling: Tiling = .default,
                              metadata: [MetadataEntry] = [], prior: LoadedPrior? = nil, notice: ((EncodeNotice) -> Void)? = nil) throws -> [[UInt8]] {
        if let prior, let level = levels.first(where: { $0 > prior.stages }) {
            throw CodecError("the token prior codes levels 1…\(prior.stages), not \(level)")
        }
        guard refine >= 0 else { throw CodecError("the number of refinement sweeps must not be negative") }
        guard beam >= 1 else { throw CodecError("the beam width must be at least 1") }
        return try files(image, model: model, levels: levels, sourceBitDepth: sourceBitDepth, lambda: lambda, refine: refine, beam: beam, tiling: tiling, notice: notice).map {
            try serialized($0, metadata: metadata, zstdLevel: zstdLevel, prior: prior)
        }
    }

    /// The bytes of `file` with `metadata`.
    static func serialized(_ file: BitstreamFile, metadata: [MetadataEntry], zstdLevel: Int, prior: LoadedPrior?) throws -> [UInt8] {
        var file = file
        file.metadata = metadata
        do {
            return try Profile.measure(prior == nil ? "entropy coding (zstd)" : "entropy coding (prior)") {
                try file.serialized(options: BitstreamWriteOptions(zstdLevel: zstdLevel, prior: prior))
            }
        } catch {
            throw CodecError("cannot write the container: \(error)")
        }
    }

    /// What `encode(_:model:levels:)` writes, before serialization: one container per level.
    static func files(_ image: PixelImage, model: LoadedModel, levels: [Int], sourceBitDepth: Int = 8, lambda: Float? = nil, refine: Int = defaultRefine,
                      beam: Int = defaultBeam, tiling: Tiling = .default, notice: ((EncodeNotice) -> Void)? = nil) throws -> [BitstreamFile] {
        let encoded = try Profile.measure("encoder network (all tiles)") { try latents(image, model: model, levels: levels, tiling: tiling) }
        return try Profile.measure("token choice") {
            try files(encoded, levels: levels, sourceBitDepth: sourceBitDepth, lambda: lambda, refine: refine, beam: beam, notice: notice)
        }
    }

    /// The encoder network's output for one image, before quantization.
    struct Latents {
        let image: PixelImage
        let model: LoadedModel
        /// VQ: `[grid cells, latent channels]`.
        let rows: Tensor
        /// Gaussian: per latent channel, μ over the grid.
        let muPlanes: [[Float]]
    }

    /// Runs the encoder network over `image`, tile by tile.
    static func latents(_ image: PixelImage, model: LoadedModel, levels: [Int], tiling: Tiling) throws -> Latents {
        for level in levels where !model.levels.contains(level) {
            throw CodecError("level \(level) does not exist in model \(model.name) (levels \(model.levels.first!)…\(model.levels.last!))")
        }
        let f = model.config.downsampleFactor
        let gh = (image.height + f - 1) / f, gw = (image.width + f - 1) / f, n = gh * gw
        // Gaussian: per active channel, μ over the full grid.
        let planeCount = model.config.latentChannels
        // VQ: the encoder runs tile by tile, the quantizer once over the whole grid (its
        // entropy-constrained choice depends on the token statistics of the whole image).
        let d = model.config.latentChannels
        var latentRows = model.vq != nil ? Tensor(shape: [n, d]) : Tensor(shape: [0])
        var muPlanes = model.gaussian != nil ? [[Float]](repeating: [Float](repeating: 0, count: n), count: planeCount) : []
        let rgb = image.rgb
        for tile in tiling.tiles(gridHeight: gh, gridWidth: gw, margin: tiling.margin ?? model.config.tileMargin) {
            // The encoders' input shift (x − 0.5) done while converting the pixels.
            let x = tileTensor(rgb, width: image.width, height: image.height, factor: f, rows: tile.outer.rows, cols: tile.outer.cols, offset: -0.5)
            let th = tile.outer.rows.count, tw = tile.outer.cols.count
            if let vq = model.vq {
                let z = vq.latents(centered: x)
                z.withUnsafeBufferPointer { src in
                    latentRows.withUnsafeMutableBufferPointer { dst in
                        for r in tile.core.rows {
                            for c in tile.core.cols {
                                let from = ((r - tile.outer.rows.lowerBound) * tw + c - tile.outer.cols.lowerBound) * d
                                let to = (r * gw + c) * d
                                for t in 0..<d { dst[to + t] = src[from + t] }
                            }
                        }
                    }
                }
            } else if let g = model.gaussian {
                let mu = g.posterior(centered: x).mu.scalars
                for p in 0..<planeCount {
                    for r in tile.core.rows {
                        for c in tile.core.cols {
                            muPlanes[p][r * gw + c] = mu[(p * th + r - tile.outer.rows.lowerBound) * tw + c - tile.outer.cols.lowerBound]
                        }
                    }
                }
            }
        }
        return Latents(image: image, model: model, rows: latentRows, muPlanes: muPlanes)
    }

    /// The containers of `levels` from the encoder's output.
    static func files(_ latents: Latents, levels: [Int], sourceBitDepth: Int, lambda: Float?, refine: Int, beam: Int,
                      notice: ((EncodeNotice) -> Void)?) throws -> [BitstreamFile] {
        let image = latents.image, model = latents.model, latentRows = latents.rows, muPlanes = latents.muPlanes
        let f = model.config.downsampleFactor
        let n = ((image.height + f - 1) / f) * ((image.width + f - 1) / f)
        let activeChannels = model.config.activeChannels
        // Greedy and without refinement, levels that share a λ share one quantization (level L is its
        // first L stages).
        var tokensByLambda: [Float: [[UInt16]]] = [:]
        var tokensByLevel: [Int: [[UInt16]]] = [:]
        let lambdaOf = { (level: Int) in lambda ?? model.defaultLambda(level: level) }
        if let vq = model.vq {
            if refine > 0 || beam > 1 {
                // Refined or beam-searched tokens of level L depend on L: one quantization per level.
                for level in Set(levels) {
                    tokensByLevel[level] = vq.quantizer.quantize(latentRows, levels: level, lambda: lambdaOf(level), refine: refine, beam: beam)
                        .map { $0.map { UInt16($0) } }
                }
            } else {
                for l in Set(levels.map(lambdaOf)) {
                    let depth = levels.filter { lambdaOf($0) == l }.max()!
                    tokensByLambda[l] = vq.quantizer.quantize(latentRows, levels: depth, lambda: l).map { $0.map { UInt16($0) } }
                }
            }
        }
        let alpha = image.alpha
        return try levels.map { level in
            var symbols: [UInt16] = []
            let alphabets: [Int]
            let planes: Int
            var quantStep: Float = 0
            if model.vq != nil {
                for stage in (tokensByLevel[level] ?? tokensByLambda[lambdaOf(level)]!).prefix(level) { symbols += stage }
                alphabets = [model.config.codebookSize]
                planes = level
            } else {
                let step = model.config.quantSteps[level - 1]
                var integers: [Int] = []
                integers.reserveCapacity(activeChannels.count * n)
                var clamped = 0
                for channel in activeChannels {
                    let channelStep = model.config.channelStep(channel, step)
                    for mu in muPlanes[channel] {
                        let v = (mu / channelStep).rounded()
                        guard v.isFinite else {
                            throw CodecError("model \(model.name) gives a non-finite latent (NaN or infinity) for this image; the model is unusable")
                        }
                        if abs(v) > 32_767 { clamped += 1 }
                        integers.append(Int(max(-32_767, min(32_767, v))))
                    }
                }
                if clamped > 0 { notice?(.clampedLatents(level: level, count: clamped)) }
                let maxAbs = integers.map { abs($0) }.max() ?? 0
                symbols = integers.map(BitstreamFile.zigzag)
                alphabets = [max(2, 2 * maxAbs + 1)]
                planes = activeChannels.count
                quantStep = step
            }
            precondition(symbols.count == planes * n)
            return BitstreamFile(
                payloadKind: model.vq != nil ? .vqTokens : .gaussianLatents, flags: image.format.isGray ? [.gray] : [],
                sourceBitDepth: sourceBitDepth, downsampleFactor: f, imageWidth: image.width, imageHeight: image.height,
                level: level, planeCount: planes, alphabetSizes: alphabets, quantStep: quantStep, modelID: model.id,
                symbols: symbols, alpha: alpha)
        }
    }

    /// The largest level whose file is at most `targetBpp` bits per pixel (header included), from
    /// one multi-level encode, greedy and without refinement; the chosen level is then encoded again
    /// with `beam` and `refine`, kept when it still fits. When even level 1 is larger, level 1 with
    /// `fits` false.
    public static func encode(_ image: PixelImage, model: LoadedModel, targetBpp: Double, sourceBitDepth: Int = 8, lambda: Float? = nil,
                              refine: Int = defaultRefine, beam: Int = defaultBeam,
                              metadata: [MetadataEntry] = [], prior: LoadedPrior? = nil, notice: ((EncodeNotice) -> Void)? = nil) throws -> (level: Int, bytes: [UInt8], fits: Bool) {
        guard targetBpp > 0, targetBpp.isFinite else { throw CodecError("the target rate must be a positive number of bits per pixel") }
        guard refine >= 0 else { throw CodecError("the number of refinement sweeps must not be negative") }
        guard beam >= 1 else { throw CodecError("the beam width must be at least 1") }
        let levels = prior.map { p in model.levels.filter { $0 <= p.stages } } ?? model.levels
        let encoded = try latents(image, model: model, levels: levels, tiling: .default)
        let serialize = { (file: BitstreamFile) throws -> [UInt8] in try serialized(file, metadata: metadata, zstdLevel: 19, prior: prior) }
        let files = try files(encoded, levels: levels, sourceBitDepth: sourceBitDepth, lambda: lambda, refine: 0, beam: 1, notice: notice).map(serialize)
        let pixels = Double(image.width * image.height)
        let fits = { (bytes: [UInt8]) in 8 * Double(bytes.count) / pixels <= targetBpp }
        let index = files.indices.last(where: { fits(files[$0]) })
        let chosen = index ?? 0
        var bytes = files[chosen]
        if (refine > 0 || beam > 1) && model.vq != nil {
            let refined = try serialize(Self.files(encoded, levels: [levels[chosen]], sourceBitDepth: sourceBitDepth, lambda: lambda, refine: refine,
                                                   beam: beam, notice: nil)[0])
            if index == nil || fits(refined) { bytes = refined }
        }
        return (levels[chosen], bytes, index != nil)
    }

    /// The symbol planes each level's file holds, exactly as `encode(_:model:levels:)` writes them:
    /// per level, `Plane_Count` planes of `Grid_Width·Grid_Height` symbols. With per-level λ
    /// (`codec.lambdas`), level `L` is not the first `L` planes of a deeper level, so measurements
    /// of the token streams (`make bench-packing`) start here.
    public static func tokenPlanes(_ image: PixelImage, model: LoadedModel, levels: [Int], refine: Int = defaultRefine,
                                   beam: Int = defaultBeam) throws -> [[[UInt16]]] {
        try files(image, model: model, levels: levels, refine: refine, beam: beam).map { file in (0..<file.planeCount).map { Array(file.plane($0)) } }
    }

    /// The image `bytes` (a `.vqz` file) holds, decoded with `model`.
    public static func decode(_ bytes: [UInt8], model: LoadedModel, limits: BitstreamLimits = .default, tiling: Tiling = .default,
                              prior: LoadedPrior? = nil) throws -> PixelImage {
        let (header, content): (BitstreamHeader, BitstreamFile)
        do { (header, content) = try BitstreamFile.parse(bytes, limits: limits, prior: prior) } catch { throw CodecError("\(error)") }
        return try decode(header: header, content: content, model: model, tiling: tiling)
    }

    /// Checks that a parsed file can be decoded with `model`: same model id, factor and payload.
    public static func check(_ header: BitstreamHeader, fits model: LoadedModel) throws {
        guard header.modelID == model.id else {
            throw CodecError("this file was encoded with model \(header.modelID.hex), not \(model.name) (\(model.id.hex))")
        }
        let f = model.config.downsampleFactor
        guard header.downsampleFactor == f else { throw CodecError("Downsample_Factor is \(header.downsampleFactor), the model's is \(f)") }
        if model.vq != nil {
            guard header.payloadKind == .vqTokens, model.levels.contains(header.level), header.planeCount == header.level,
                  header.alphabetSizes.allSatisfy({ $0 == model.config.codebookSize }) else {
                throw CodecError("the file's tokens (level \(header.level), \(header.planeCount) planes, alphabet \(header.alphabetSizes)) do not fit model \(model.name)")
            }
        } else {
            guard header.payloadKind == .gaussianLatents, header.planeCount == model.config.activeChannels.count,
                  header.quantStep.isFinite, header.quantStep > 0 else {
                throw CodecError("the file's latents (\(header.planeCount) planes, step \(header.quantStep)) do not fit model \(model.name)")
            }
        }
    }

    /// The image of an already parsed file, decoded with `model`, tile by tile.
    public static func decode(header: BitstreamHeader, content: BitstreamFile, model: LoadedModel, tiling: Tiling = .default) throws -> PixelImage {
        try check(header, fits: model)
        let f = model.config.downsampleFactor
        let gh = header.gridHeight, gw = header.gridWidth, n = gh * gw
        let width = header.imageWidth, height = header.imageHeight
        let gray = header.flags.contains(.gray), alpha = content.alpha
        let format = PixelFormat(gray: gray, alpha: alpha != nil)
        var out = [UInt8](repeating: 0, count: width * height * format.channels)
        let symbols = content.symbols
        let start = Profile.now()
        defer { if Profile.enabled { Profile.add("network and pixels (all tiles)", since: start) } }
        for tile in tiling.tiles(gridHeight: gh, gridWidth: gw, margin: tiling.margin ?? model.config.tileMargin) {
            let th = tile.outer.rows.count, tw = tile.outer.cols.count
            func region<T>(plane p: Int, _ map: (UInt16) -> T) -> [T] {
                var v: [T] = []
                v.reserveCapacity(th * tw)
                for r in tile.outer.rows {
                    let base = p * n + r * gw
                    for c in tile.outer.cols { v.append(map(symbols[base + c])) }
                }
                return v
            }
            let y: Tensor
            if let vq = model.vq {
                y = vq.decode((0..<header.planeCount).map { region(plane: $0) { Int32($0) } }, n: 1, h: th, w: tw)
            } else {
                let integers = (0..<header.planeCount).flatMap { region(plane: $0) { Int32(BitstreamFile.unzigzag($0)) } }
                y = model.gaussian!.decode(integers, step: header.quantStep, n: 1, h: th, w: tw)
            }
            // The core's pixels, cropped to the image.
            let rows = (tile.core.rows.lowerBound * f)..<min(height, tile.core.rows.upperBound * f)
            let cols = (tile.core.cols.lowerBound * f)..<min(width, tile.core.cols.upperBound * f)
            Profile.measure("decode: pixels out") {
                write(y, originRow: tile.outer.rows.lowerBound * f, originCol: tile.outer.cols.lowerBound * f,
                      rows: rows, cols: cols, into: &out, width: width, format: format, alpha: alpha)
            }
        }
        return PixelImage(width: width, height: height, format: format, samples: out)
    }

    /// `[1, 3, H', W']` in [0, 1], `H'`, `W'` the next multiples of `factor`, padded by repeating the
    /// last row and column (edge replication: no artificial edge for the encoder to spend bits on).
    public static func paddedTensor(_ image: PixelImage, factor: Int) -> Tensor {
        let gh = (image.height + factor - 1) / factor, gw = (image.width + factor - 1) / factor
        return tileTensor(image.rgb, width: image.width, height: image.height, factor: factor, rows: 0..<gh, cols: 0..<gw)
    }

    /// The pixels of latent rows `rows` and columns `cols` as `[1, 3, 8·rows, 8·cols]` in [0, 1], with
    /// the image's last row and column repeated beyond its edge.
    /// `offset` is added to every value (the encoders' input shift −0.5, in the same pass: the
    /// same floats as shifting afterwards, without a second image-sized tensor).
    static func tileTensor(_ rgb: [UInt8], width w: Int, height h: Int, factor: Int, rows: Range<Int>, cols: Range<Int>, offset: Float = 0) -> Tensor {
        let ph = rows.count * factor, pw = cols.count * factor
        let y0 = rows.lowerBound * factor, x0 = cols.lowerBound * factor
        var x = Tensor(uninitializedShape: [1, 3, ph, pw])
        x.withUnsafeMutableBufferPointer { dst in
            rgb.withUnsafeBufferPointer { src in
                for y in 0..<ph {
                    let sy = min(y0 + y, h - 1)
                    for xx in 0..<pw {
                        let s = (sy * w + min(x0 + xx, w - 1)) * 3
                        for c in 0..<3 { dst[(c * ph + y) * pw + xx] = Float(src[s + c]) / 255 + offset }
                    }
                }
            }
        }
        return x
    }

    /// Writes image rows `rows` and columns `cols` of `y [1, 3, H, W]` (whose pixel (0, 0) is image
    /// pixel (`originRow`, `originCol`)) into `out`, rounding to 8 bits and restoring gray and alpha.
    static func write(_ y: Tensor, originRow: Int, originCol: Int, rows: Range<Int>, cols: Range<Int>,
                      into out: inout [UInt8], width: Int, format: PixelFormat, alpha: [UInt8]?) {
        let ph = y.shape[2], pw = y.shape[3], plane = ph * pw
        let channels = format.channels, gray = format.isGray
        y.withUnsafeBufferPointer { ys in
            out.withUnsafeMutableBufferPointer { o in
                let ys = ys.baseAddress!, o = o.baseAddress!
                if !gray && alpha == nil && !rows.isEmpty {
                    // RGB, the common case: rows in parallel bands, no per-pixel format tests.
                    let bands = min(rows.count, 4 * ThreadPool.current.threadCount)
                    ThreadPool.current.parallelFor(count: bands) { band in
                        let r0 = rows.lowerBound + band * rows.count / bands, r1 = rows.lowerBound + (band + 1) * rows.count / bands
                        for row in r0..<r1 {
                            let base = (row - originRow) * pw - originCol
                            var at = (row * width + cols.lowerBound) * 3
                            for col in cols {
                                let s = base + col
                                o[at] = UInt8(truncatingIfNeeded: sample8(ys[s]))
                                o[at + 1] = UInt8(truncatingIfNeeded: sample8(ys[plane + s]))
                                o[at + 2] = UInt8(truncatingIfNeeded: sample8(ys[2 * plane + s]))
                                at += 3
                            }
                        }
                    }
                    return
                }
                for row in rows {
                    let base = (row - originRow) * pw - originCol
                    var col = cols.lowerBound
                    while col < cols.upperBound {
                        defer { col += 1 }
                        let s = base + col
                        let r = sample8(ys[s]), g = sample8(ys[plane + s]), b = sample8(ys[2 * plane + s])
                        let i = row * width + col, at = i * channels
                        if gray {
                            o[at] = UInt8((r + g + b + 1) / 3)
                        } else {
                            o[at] = UInt8(truncatingIfNeeded: r)
                            o[at + 1] = UInt8(truncatingIfNeeded: g)
                            o[at + 2] = UInt8(truncatingIfNeeded: b)
                        }
                        if let alpha { o[at + channels - 1] = alpha[i] }
                    }
                }
            }
        }
    }

    /// A network output in [0, 1] as 0…255: clamped, scaled by 255 and rounded half away from zero,
    /// exactly `Int((min(max(v, 0), 1) * 255).rounded())` (the fraction `x − ⌊x⌋` is exact for
    /// x in [0, 255]) without a libm call. A damaged but checksum-consistent file can drive the
    /// network to ±∞ or NaN: those clamp like any other value (NaN to 0) instead of trapping.
    @inline(__always)
    static func sample8(_ v: Float) -> Int {
        if v.isNaN { return 0 }
        let x = min(max(v, 0), 1) * 255
        let i = Int(x)
        // Branch-free: the comparison is a coin flip per sample, which a branch mispredicts.
        return i &+ (x - Float(i) >= 0.5 ? 1 : 0)
    }

    /// The two reference rates of a coded file, in bits: fixed-length (log2 of each plane's alphabet
    /// per symbol) and the per-plane empirical entropy of its symbols (what an ideal order-0 coder
    /// fitted to this one file would spend, side information excluded).
    public static func tokenRates(header: BitstreamHeader, content: BitstreamFile) -> (fixedBits: Double, entropyBits: Double) {
        let n = header.symbolsPerPlane
        var fixed = 0.0, entropy = 0.0
        for p in 0..<header.planeCount {
            fixed += Double(n) * log2(Double(header.alphabetSize(plane: p)))
            entropy += empiricalEntropyBits(content.symbols[p * n..<(p + 1) * n])
        }
        return (fixed, entropy)
    }
}
