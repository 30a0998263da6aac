// Image ↔ .vqz round trips through tiny models built in the test (never the shipped ones): odd
// sizes, gray, alpha, determinism, the Gaussian payload, and a file decoded with the wrong model.

import Codec
import Container
import Imaging
import Models
import TensorCore
import Testing
import Training

enum TinyModels {
    static func bytes(_ config: ModelConfig, seed: UInt64) throws -> [UInt8] {
        var options = TrainingOptions()
        options.seed = seed
        options.steps = 10
        options.warmupSteps = 1
        let trainer = Trainer(config: config, options: options, dataVariance: 0.05)
        if let vq = trainer.vq {
            // Codebooks from a fixed spread of vectors, as a trained model would have.
            var rng = Xoshiro256(seed: seed)
            for l in 0..<config.stages {
                vq.quantizer.codebooks[l] = Tensor.randomNormal([config.codebookSize, config.latentChannels], std: 0.5, using: &rng)
            }
            vq.quantizer.initialized = true
        }
        return try trainer.modelFile(checkpoint: false).serialized()
    }

    // Built per use: a LoadedModel is not shared between concurrently running tests.
    static var vq: LoadedModel { try! LoadedModel(bytes: bytes(ModelConfig(family: .vq, channels: 4, latentChannels: 3, stages: 3, codebookSize: 16), seed: 1), name: "tiny-vq") }
    static var otherVQ: LoadedModel { try! LoadedModel(bytes: bytes(ModelConfig(family: .vq, channels: 4, latentChannels: 3, stages: 3, codebookSize: 16), seed: 2), name: "other-vq") }
    static var gaussian: LoadedModel { try! LoadedModel(bytes: bytes(ModelConfig(family: .gaussian, channels: 4, latentChannels: 3, quantSteps: [0.5, 0.1]), seed: 3), name: "tiny-gaussian") }

    /// The `-res` backbone (latent-resolution residual blocks), whose receptive fields need a wider margin.
    static func residual(_ family: ModelFamily, blocks: Int) -> LoadedModel {
        var config = family == .vq ? ModelConfig(family: .vq, channels: 4, latentChannels: 3, stages: 3, codebookSize: 16)
                                   : ModelConfig(family: .gaussian, channels: 4, latentChannels: 3, quantSteps: [0.5, 0.05])
        config.residualBlocks = blocks
        config.latentWidth = 5
        return try! LoadedModel(bytes: bytes(config, seed: 4), name: "tiny-\(family)-res")
    }

    /// The `-decres` backbone: the same blocks in the decoder only.
    static func decoderResidual(blocks: Int) -> LoadedModel {
        var config = ModelConfig(family: .vq, channels: 4, latentChannels: 3, stages: 3, codebookSize: 16)
        config.decoderBlocks = blocks
        config.decoderWidth = 5
        return try! LoadedModel(bytes: bytes(config, seed: 4), name: "tiny-vq-decres")
    }
}

func testImage(width: Int, height: Int, format: PixelFormat, seed: UInt64) -> PixelImage {
    var rng = Xoshiro256(seed: seed)
    let samples = (0..<(width * height * format.channels)).map { i -> UInt8 in
        UInt8(truncatingIfNeeded: (i * 7) / format.channels + Int(rng.next() % 16))
    }
    return PixelImage(width: width, height: height, format: format, samples: samples)
}

@Suite struct ImageCodecTests {
    @Test(arguments: [(1, 1), (17, 31), (33, 65), (8, 8)])
    func oddSizesRoundTrip(width: Int, height: Int) throws {
        let image = testImage(width: width, height: height, format: .rgb, seed: 5)
        for level in TinyModels.vq.levels {
            let bytes = try ImageCodec.encode(image, model: TinyModels.vq, level: level)
            let header = try BitstreamHeader.parse(bytes)
            #expect(header.imageWidth == width && header.imageHeight == height && header.level == level)
            #expect(header.gridWidth == (width + 7) / 8)
            let decoded = try ImageCodec.decode(bytes, model: TinyModels.vq)
            #expect(decoded.width == width && decoded.height == height && decoded.format == .rgb)
        }
    }

    @Test func grayAndAlphaComeBack() throws {
        let gray = testImage(width: 19, height: 11, format: .grayAlpha, seed: 6)
        let bytes = try ImageCodec.encode(gray, model: TinyModels.vq, level: 2)
        let decoded = try ImageCodec.decode(bytes, model: TinyModels.vq)
        #expect(decoded.format == .grayAlpha)
        #expect(decoded.alpha == gray.alpha, "alpha must be lossless")
        let rgba = testImage(width: 9, height: 14, format: .rgba, seed: 7)
        let back = try ImageCodec.decode(try ImageCodec.encode(rgba, model: TinyModels.vq, level: 1), model: TinyModels.vq)
        #expect(back.format == .rgba && back.alpha == rgba.alpha)
    }

    @Test func encodingAndDecodingAreDeterministic() throws {
        let image = testImage(width: 40, height: 24, format: .rgb, seed: 8)
        let a = try ImageCodec.encode(image, model: TinyModels.vq, level: 3)
        let b = try ImageCodec.encode(image, model: TinyModels.vq, level: 3)
        #expect(a == b)
        #expect(try ImageCodec.decode(a, model: TinyModels.vq) == ImageCodec.decode(a, model: TinyModels.vq))
    }

    /// The model's per-level λ (`codec.lambdas`) is what `encode` uses when not told, survives the
    /// model file, and one multi-level encode (levels grouped by λ) writes what single-level
    /// encodes write. Files chosen with λ > 0 decode with the same model like any other.
    @Test func perLevelLambdasDriveTheTokenChoice() throws {
        var config = ModelConfig(family: .vq, channels: 4, latentChannels: 3, stages: 3, codebookSize: 16)
        config.lambdas = [0.5, 0, 0.5]
        let model = try LoadedModel(bytes: TinyModels.bytes(config, seed: 1), name: "tiny-vq-lambdas")
        #expect(model.config.lambdas == [0.5, 0, 0.5])
        #expect(model.defaultLambda(level: 1) == 0.5 && model.defaultLambda(level: 2) == 0)
        let image = testImage(width: 64, height: 48, format: .rgb, seed: 12)
        let together = try ImageCodec.encode(image, model: model, levels: [1, 2, 3])
        for level in 1...3 {
            #expect(together[level - 1] == (try ImageCodec.encode(image, model: model, level: level)), "level \(level)")
            let explicit = try ImageCodec.encode(image, model: model, level: level, lambda: model.defaultLambda(level: level))
            #expect(together[level - 1] == explicit)
            _ = try ImageCodec.decode(together[level - 1], model: model)
        }
        // What the packing benchmark measures: each level's own planes, not a prefix of level 3's.
        let planes = try ImageCodec.tokenPlanes(image, model: model, levels: [1, 2, 3])
        for level in 1...3 {
            #expect(planes[level - 1].flatMap { $0 } == (try BitstreamFile.parse(together[level - 1]).content.symbols), "level \(level)")
        }
        // Greedy (beam 1, refine 0): levels with one λ share one quantization.
        let greedy = try ImageCodec.tokenPlanes(image, model: model, levels: [1, 2, 3], refine: 0, beam: 1)
        #expect(greedy[0][0] == greedy[2][0], "levels 1 and 3 share λ = 0.5: level 1 is level 3's first plane")
        #expect(greedy[1].prefix(2) != greedy[2].prefix(2), "level 2 (λ = 0) is not a prefix of level 3 (λ = 0.5)")
        let nearest = try ImageCodec.encode(image, model: model, level: 3, lambda: 0)
        let penalized = try ImageCodec.encode(image, model: model, level: 3, lambda: 50)
        #expect(nearest != penalized, "λ changed nothing")
        // A huge λ leaves one token per stage: far smaller than the nearest-code file.
        #expect(penalized.count < nearest.count)
    }

    @Test func lambdasInTheMetadataAreChecked() throws {
        var config = ModelConfig(family: .vq, channels: 4, latentChannels: 3, stages: 3, codebookSize: 16)
        config.lambdas = [0.1, 0.2, 0.3]
        var metadata = Dictionary(uniqueKeysWithValues: config.metadata)
        #expect(metadata["codec.lambdas"] == "0.1,0.2,0.3")
        #expect(try ModelConfig(metadata: metadata).lambdas == [0.1, 0.2, 0.3])
        for bad in ["0.1,0.2", "0.1,-1,0.3", "0.1,nan,0.3", "0.1,,0.3", "x"] {
            metadata["codec.lambdas"] = bad
            #expect(throws: ModelConfigError.self, "\(bad)") { try ModelConfig(metadata: metadata) }
        }
        metadata["codec.lambdas"] = nil
        #expect(try ModelConfig(metadata: metadata).lambdas == [])
    }

    /// `codec.default_level` round-trips for both families, is range-checked against the model's
    /// levels, and without it the encoder's level is the middle one.
    @Test func defaultLevelInTheMetadataIsChecked() throws {
        for (family, count) in [(ModelFamily.vq, 5), (.gaussian, 4)] {
            var config = ModelConfig(family: family, channels: 4, latentChannels: 3, stages: 5, codebookSize: 16, quantSteps: [4, 2, 1, 0.5])
            #expect(config.encodeLevel == (count - 1) / 2 + 1 && config.metadata.allSatisfy { $0.0 != "codec.default_level" })
            config.defaultLevel = count
            var metadata = Dictionary(uniqueKeysWithValues: config.metadata)
            #expect(metadata["codec.default_level"] == "\(count)")
            #expect(try ModelConfig(metadata: metadata).encodeLevel == count)
            for bad in ["0", "\(count + 1)", "-1", "x", "", "2.5"] {
                metadata["codec.default_level"] = bad
                #expect(throws: ModelConfigError.self, "\(family) \(bad)") { try ModelConfig(metadata: metadata) }
            }
            var arguments = TrainingArguments()
            arguments.family = family
            arguments.stages = 5
            arguments.quantSteps = [4, 2, 1, 0.5]
            arguments.defaultLevel = count + 1
            #expect(throws: TrainingArgumentError.self) { try arguments.newRun() }
            arguments.defaultLevel = 1
            #expect(try arguments.newRun().config.defaultLevel == 1)
        }
    }

    /// `codec.zero_code_from` round-trips, is range-checked, and a model whose stage lacks the zero
    /// vector it claims is refused with a sentence; a model with zero codes encodes files that
    /// decode like any other.
    @Test func zeroCodesInTheMetadataAreChecked() throws {
        var config = ModelConfig(family: .vq, channels: 4, latentChannels: 3, stages: 3, codebookSize: 16)
        config.zeroCodeFrom = 2
        var metadata = Dictionary(uniqueKeysWithValues: config.metadata)
        #expect(metadata["codec.zero_code_from"] == "2")
        #expect(try ModelConfig(metadata: metadata).zeroCodeFrom == 2)
        for bad in ["0", "4", "-1", "x", ""] {
            metadata["codec.zero_code_from"] = bad
            #expect(throws: ModelConfigError.self, "\(bad)") { try ModelConfig(metadata: metadata) }
        }
        metadata["codec.zero_code_from"] = nil
        #expect(try ModelConfig(metadata: metadata).zeroCodeFrom == 0)
        // TinyModels fills every code at random: code 15 of stages 2–3 is not zero.
        #expect(throws: ModelLoadError.self) { try LoadedModel(bytes: TinyModels.bytes(config, seed: 1), name: "tiny-vq-zero") }
        var options = TrainingOptions()
        options.seed = 1
        let trainer = Trainer(config: ModelConfig(family: .vq, channels: 4, latentChannels: 3, stages: 3, codebookSize: 16), options: options, dataVariance: 0.05)
        var rng = Xoshiro256(seed: 1)
        for l in 0..<3 { trainer.vq!.quantizer.codebooks[l] = Tensor.randomNormal([16, 3], std: 0.5, using: &rng) }
        trainer.vq!.quantizer.initialized = true
        trainer.vq!.quantizer.addZeroCodes(from: 2)
        trainer.config.zeroCodeFrom = 2
        trainer.config.lambdas = [0.5, 0.5, 0.5]
        let model = try LoadedModel(bytes: trainer.modelFile(checkpoint: false).serialized(), name: "tiny-vq-zero")
        #expect(model.config.zeroCodeFrom == 2 && model.vq!.quantizer.zeroCodeFrom == 2)
        let image = testImage(width: 64, height: 48, format: .rgb, seed: 12)
        let file = try ImageCodec.encode(image, model: model, level: 3)
        let symbols = try BitstreamFile.parse(file).content.symbols
        #expect(symbols.contains(15), "the zero code was never chosen at λ = 0.5")
        _ = try ImageCodec.decode(file, model: model)
    }

    /// `--target-bpp`: the largest level whose whole file fits, from the same bytes a single-level
    /// encode writes; below level 1's rate, level 1 with `fits` false.
    @Test func targetRatePicksTheLargestLevelThatFits() throws {
        let image = testImage(width: 40, height: 24, format: .rgb, seed: 13)
        let model = TinyModels.vq
        let files = try ImageCodec.encode(image, model: model, levels: model.levels)
        let bpp = files.map { 8 * Double($0.count) / Double(40 * 24) }
        #expect(bpp == bpp.sorted() && Set(bpp).count == bpp.count, "the test needs strictly growing rates: \(bpp)")
        for (i, rate) in bpp.enumerated() {
            for target in [rate, (rate + (i + 1 < bpp.count ? bpp[i + 1] : rate + 1)) / 2] {
                let r = try ImageCodec.encode(image, model: model, targetBpp: target)
                #expect(r.level == model.levels[i] && r.fits && r.bytes == files[i], "target \(target)")
            }
        }
        let below = try ImageCodec.encode(image, model: model, targetBpp: bpp[0] / 2)
        #expect(below.level == 1 && !below.fits && below.bytes == files[0])
        #expect(throws: CodecError.self) { try ImageCodec.encode(image, model: model, targetBpp: 0) }
    }

    @Test func gaussianLatentsRoundTrip() throws {
        let image = testImage(width: 21, height: 13, format: .rgb, seed: 9)
        for level in TinyModels.gaussian.levels {
            let bytes = try ImageCodec.encode(image, model: TinyModels.gaussian, level: level)
            let header = try BitstreamHeader.parse(bytes)
            #expect(header.payloadKind == .gaussianLatents && header.planeCount == 3)
            #expect(header.quantStep == [0.5, 0.1][level - 1])
            let decoded = try ImageCodec.decode(bytes, model: TinyModels.gaussian)
            #expect(decoded.width == 21 && decoded.height == 13)
        }
    }

    @Test func wrongModelIsRefusedByName() throws {
        let bytes = try ImageCodec.encode(testImage(width: 8, height: 8, format: .rgb, seed: 10), model: TinyModels.vq, level: 1)
        let error = #expect(throws: CodecError.self) { try ImageCodec.decode(bytes, model: TinyModels.otherVQ) }
        #expect(error?.description.contains(TinyModels.vq.id.hex) == true)
        #expect(throws: CodecError.self) { try ImageCodec.encode(testImage(width: 8, height: 8, format: .rgb, seed: 10), model: TinyModels.vq, level: 4) }
    }

    @Test func paddingReplicatesEdges() {
        let image = PixelImage(width: 2, height: 1, format: .gray, samples: [10, 200])
        let x = ImageCodec.paddedTensor(image, factor: 8)
        #expect(x.shape == [1, 3, 8, 8])
        #expect(x[0, 0, 7, 7] == Float(200) / 255 && x[0, 2, 5, 0] == Float(10) / 255)
    }

    /// Largest per-sample difference between two images of the same shape.
    func maxDifference(_ a: PixelImage, _ b: PixelImage) -> Int {
        zip(a.samples, b.samples).map { abs(Int($0) - Int($1)) }.max() ?? 0
    }

    @Test(arguments: [1, 2, 3])
    func tiledMatchesUntiled(tileLatents: Int) throws {
        let image = testImage(width: 45, height: 37, format: .rgb, seed: 11)  // grid 5 × 6
        for model in [TinyModels.vq, TinyModels.gaussian] {
            let level = model.levels.last!
            let whole = try ImageCodec.encode(image, model: model, level: level, tiling: Tiling(latents: 64))
            let tiled = try ImageCodec.encode(image, model: model, level: level, tiling: Tiling(latents: tileLatents))
            let a = try BitstreamFile.parse(whole).content.symbols, b = try BitstreamFile.parse(tiled).content.symbols
            #expect(a == b, "tiled encoding (\(tileLatents) latents) must give the untiled symbols")
            let decodedWhole = try ImageCodec.decode(whole, model: model, tiling: Tiling(latents: 64))
            let decodedTiled = try ImageCodec.decode(whole, model: model, tiling: Tiling(latents: tileLatents))
            #expect(maxDifference(decodedWhole, decodedTiled) <= 1)
        }
    }

    @Test(arguments: [ModelFamily.vq, .gaussian])
    func residualBackboneTilesMatchWithItsMargin(family: ModelFamily) throws {
        try tilesMatchWithTheirMargin(TinyModels.residual(family, blocks: 1), suffix: "-res")
    }

    @Test func decoderOnlyBlocksTileWithTheirMargin() throws {
        try tilesMatchWithTheirMargin(TinyModels.decoderResidual(blocks: 1), suffix: "-decres")
    }

    func tilesMatchWithTheirMargin(_ model: LoadedModel, suffix: String) throws {
        // Margin 3 + 2·blocks latents; a 19 × 21 grid so that tiles really cut the image.
        let image = testImage(width: 150, height: 165, format: .rgb, seed: 12)
        #expect(model.config.architecture.hasSuffix(suffix) && model.config.tileMargin == 5)
        let level = model.levels.last!
        let whole = try ImageCodec.encode(image, model: model, level: level, tiling: Tiling(latents: 64))
        let tiled = try ImageCodec.encode(image, model: model, level: level, tiling: Tiling(latents: 4))
        #expect(try BitstreamFile.parse(whole).content.symbols == BitstreamFile.parse(tiled).content.symbols)
        let decodedWhole = try ImageCodec.decode(whole, model: model, tiling: Tiling(latents: 64))
        #expect(maxDifference(decodedWhole, try ImageCodec.decode(whole, model: model, tiling: Tiling(latents: 4))) <= 1)
        // One latent less of margin than the blocks need and the seams show.
        let short = try ImageCodec.decode(whole, model: model, tiling: Tiling(latents: 4, margin: model.config.tileMargin - 2))
        #expect(maxDifference(decodedWhole, short) > 1)
    }

    /// The codec's pixels are the network's own reconstruction: `decode(quantize(encode(x)))` on
    /// the edge-padded image, cropped and rounded to 8 bits, at every level; tiled, the same up to
    /// one step of rounding. (The tiny models reconstruct poorly; this checks the codec adds nothing.)
    @Test(arguments: [(45, 37), (8, 8), (3, 20)])
    func decodedPixelsAreTheNetworksReconstruction(width: Int, height: Int) throws {
        let image = testImage(width: width, height: height, format: .rgb, seed: 12)
        for model in [TinyModels.vq, TinyModels.gaussian] {
            let f = model.config.downsampleFactor
            let x = ImageCodec.paddedTensor(image, factor: f)
            let gh = x.shape[2] / f, gw = x.shape[3] / f
            for level in model.levels {
                let y: Tensor
                if let vq = model.vq {
                    y = vq.decode(vq.encode(x, levels: level), n: 1, h: gh, w: gw)
                } else {
                    let step = model.config.quantSteps[level - 1]
                    y = model.gaussian!.decode(model.gaussian!.encode(x, step: step), step: step, n: 1, h: gh, w: gw)
                }
                var expected = [UInt8](repeating: 0, count: width * height * 3)
                for r in 0..<height {
                    for c in 0..<width {
                        for ch in 0..<3 {
                            let v = y.scalars[(ch * gh * f + r) * gw * f + c]
                            expected[(r * width + c) * 3 + ch] = UInt8((min(max(v, 0), 1) * 255).rounded())
                        }
                    }
                }
                // The greedy token choice (beam 1, refine 0) is the network's own `encode`.
                let whole = try ImageCodec.decode(ImageCodec.encode(image, model: model, level: level, refine: 0, beam: 1, tiling: Tiling(latents: 64)), model: model, tiling: Tiling(latents: 64))
                #expect(whole.samples == expected, "\(model.name) level \(level)")
                let tiled = try ImageCodec.decode(ImageCodec.encode(image, model: model, level: level, refine: 0, beam: 1, tiling: Tiling(latents: 2)), model: model, tiling: Tiling(latents: 2))
                #expect(maxDifference(tiled, PixelImage(width: width, height: height, format: .rgb, samples: expected)) <= 1, "\(model.name) level \(level), tiled")
            }
        }
    }

    @Test func tilesWithoutMarginDoNotMatch() throws {
        // The margin is what makes tiling exact: without it the tile seams show.
        let image = testImage(width: 45, height: 37, format: .rgb, seed: 11)
        let model = TinyModels.gaussian
        let whole = try ImageCodec.encode(image, model: model, level: 2, tiling: Tiling(latents: 64))
        let seams = try ImageCodec.encode(image, model: model, level: 2, tiling: Tiling(latents: 2, margin: 0))
        #expect(try BitstreamFile.parse(whole).content.symbols != BitstreamFile.parse(seams).content.symbols)
        let a = try ImageCodec.decode(whole, model: model, tiling: Tiling(latents: 64))
        let b = try ImageCodec.decode(whole, model: model, tiling: Tiling(latents: 2, margin: 0))
        #expect(maxDifference(a, b) > 1)
    }
}
