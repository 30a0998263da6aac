// Training: a short smoke run where the loss falls and codebook usage grows, resume determinism
// (the next loss after a restore equals the uninterrupted run's), and the dataset's crops.

import Models
import NN
import TensorCore
import Testing
import Training

/// Synthetic photos-in-miniature: smooth colour gradients with a few rectangles, seeded.
func syntheticDataset(count: Int, size: Int, seed: UInt64) -> ImageDataset {
    var rng = Xoshiro256(seed: seed)
    var images: [ImageDataset.Image] = []
    for i in 0..<count {
        var rgb = [UInt8](repeating: 0, count: size * size * 3)
        let base = (0..<3).map { _ in Float(rng.next() % 200) }
        let slope = (0..<3).map { _ in Float(Int(rng.next() % 7) - 3) }
        let rx = Int(rng.next() % UInt64(size / 2)), ry = Int(rng.next() % UInt64(size / 2))
        for y in 0..<size {
            for x in 0..<size {
                for c in 0..<3 {
                    var v = base[c] + slope[c] * Float(x + y) / 2
                    if x >= rx && x < rx + size / 3 && y >= ry && y < ry + size / 4 { v = 255 - v }
                    rgb[(y * size + x) * 3 + c] = UInt8(max(0, min(255, v)))
                }
            }
        }
        images.append(ImageDataset.Image(name: "synthetic\(i)", width: size, height: size, rgb: rgb))
    }
    return ImageDataset(images: images)
}

func tinyOptions(steps: Int) -> TrainingOptions {
    var o = TrainingOptions()
    o.steps = steps
    o.batchSize = 4
    o.crop = 16
    o.learningRate = 3e-3
    o.warmupSteps = 3
    o.seed = 42
    o.klWarmupSteps = 5
    return o
}

@Suite struct TrainingTests {
    static let tinyVQ = ModelConfig(family: .vq, channels: 8, latentChannels: 4, stages: 2, codebookSize: 16, deadThreshold: 0.01)
    static let tinyGaussian = ModelConfig(family: .gaussian, channels: 8, latentChannels: 4, klWeight: 0.01)

    /// 30 steps: the MSE falls, and dead-code restarts grow the codebook's usage back after the
    /// early collapse (the encoder's outputs contract in the first steps, leaving most data-initialised
    /// codes unused): with restarts the late perplexity is above its minimum and above that of the
    /// same run without restarts.
    @Test func vqSmokeRunLearnsAndUsesItsCodebook() throws {
        let data = syntheticDataset(count: 8, size: 40, seed: 1)
        var options = tinyOptions(steps: 30)
        options.crop = 32
        func run(deadThreshold: Float) throws -> (Trainer, [StepReport]) {
            var config = Self.tinyVQ
            config.decay = 0.8
            config.deadThreshold = deadThreshold
            let trainer = Trainer(config: config, options: options, dataVariance: 0.05)
            var reports: [StepReport] = []
            for _ in 0..<30 { reports.append(try trainer.trainStep(data: data)) }
            return (trainer, reports)
        }
        let (trainer, reports) = try run(deadThreshold: 0.3)

        let (_, frozen) = try run(deadThreshold: 0)
        let first = reports.prefix(5).map(\.mse).reduce(0, +) / 5
        let last = reports.suffix(5).map(\.mse).reduce(0, +) / 5
        #expect(last < 0.7 * first, "MSE went from \(first) to \(last)")
        #expect(reports.allSatisfy { $0.loss.isFinite })
        let usage = reports.map { $0.perplexity[0] }, frozenUsage = frozen.map { $0.perplexity[0] }
        let late = usage.suffix(10).reduce(0, +) / 10, frozenLate = frozenUsage.suffix(10).reduce(0, +) / 10
        #expect(late > usage.min()! * 1.2, "stage-1 perplexity did not grow back: \(usage)")
        #expect(late > frozenLate, "restarts did not raise usage: \(late) vs \(frozenLate) without")
        // Validation against the same network after its first step (its codebooks initialised):
        // measured 6.6 dB → 12.2 dB at both levels; a validation that does not see the trained
        // weights, or a training that does not improve reconstruction, stays near the first.
        var config = Self.tinyVQ
        config.deadThreshold = 0.3
        let early = Trainer(config: config, options: options, dataVariance: 0.05)
        _ = try early.trainStep(data: data)
        let before = early.validate(data.centerCrops(crop: 32))
        let validation = trainer.validate(data.centerCrops(crop: 32))
        #expect(validation.psnr.count == 2)
        for (b, a) in zip(before.psnr, validation.psnr) { #expect(a > b + 3, "PSNR \(b) dB after one step, \(a) dB after 30") }
        #expect(validation.bpp == [4.0 / 64, 8.0 / 64])
    }

    @Test func gaussianSmokeRunLearns() throws {
        let data = syntheticDataset(count: 8, size: 32, seed: 2)
        let trainer = Trainer(config: Self.tinyGaussian, options: tinyOptions(steps: 30), dataVariance: 0.05)
        var reports: [StepReport] = []
        for _ in 0..<30 { reports.append(try trainer.trainStep(data: data)) }
        let first = reports.prefix(5).map(\.loss).reduce(0, +) / 5
        let last = reports.suffix(5).map(\.loss).reduce(0, +) / 5
        // Measured: 94 → 8.6 (×0.09); a loss that merely drifts down does not pass.
        #expect(last < 0.3 * first, "loss went from \(first) to \(last)")
        #expect(reports.allSatisfy { $0.auxiliary >= 0 })
        let validation = trainer.validate(data.centerCrops(crop: 16))
        #expect(validation.psnr.count == Self.tinyGaussian.quantSteps.count)
    }

    @Test(arguments: [ModelFamily.vq, .gaussian])
    func resumeContinuesExactly(family: ModelFamily) throws {
        let config = family == .vq ? Self.tinyVQ : Self.tinyGaussian
        let data = syntheticDataset(count: 6, size: 24, seed: 3)
        let straight = Trainer(config: config, options: tinyOptions(steps: 9), dataVariance: 0.05)
        var expected: [Float] = []
        for _ in 0..<9 { expected.append(try straight.trainStep(data: data).loss) }

        let first = Trainer(config: config, options: tinyOptions(steps: 9), dataVariance: 0.05)
        for _ in 0..<6 { _ = try first.trainStep(data: data) }
        let tensors = Dictionary(uniqueKeysWithValues: first.stateTensors(includeOptimizer: true))
        let metadata = Dictionary(uniqueKeysWithValues: first.stateMetadata)
        let resumed = Trainer(config: config, options: tinyOptions(steps: 9), dataVariance: 0.05)
        try resumed.restore(tensors: tensors, metadata: metadata)
        #expect(resumed.step == 6)
        var after: [Float] = []
        for _ in 0..<3 { after.append(try resumed.trainStep(data: data).loss) }
        #expect(after == Array(expected[6...]), "resumed losses \(after) vs uninterrupted \(Array(expected[6...]))")
    }

    /// `--init-from`: a model grown from a trained one (latent 4 → 8 channels, 2 → 3 stages)
    /// computes what its source did — the same unquantized reconstruction, the same tokens and the
    /// same decoded pixels — seeds the stage it lacks at its first step, and then trains.
    @Test func warmStartGrowsTheLatentAndKeepsTheFunction() throws {
        let data = syntheticDataset(count: 6, size: 24, seed: 7)
        let source = Trainer(config: Self.tinyVQ, options: tinyOptions(steps: 8), dataVariance: 0.05)
        for _ in 0..<8 { _ = try source.trainStep(data: data) }
        var grownConfig = Self.tinyVQ
        grownConfig.latentChannels = 8
        grownConfig.stages = 3
        let grown = Trainer(config: grownConfig, options: tinyOptions(steps: 4), dataVariance: 0.05)
        let report = try grown.warmStart(from: source.modelFile(checkpoint: true))
        #expect(report.grown == ["enc.conv3.weight", "enc.conv3.bias", "dec.conv1.weight"])
        #expect(report.stages == 2)
        #expect(grown.vq!.quantizer.initializedStages == 2)

        let x = data.centerCrops(crop: 16)
        let a = source.vq!.reconstructUnquantized(x), b = grown.vq!.reconstructUnquantized(x)
        #expect(zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()! < 1e-5)
        let tokens = source.vq!.encode(x, levels: 2)
        #expect(grown.vq!.encode(x, levels: 2) == tokens)
        let (n, h, w) = (x.shape[0], x.shape[2] / 8, x.shape[3] / 8)
        let da = source.vq!.decode(tokens, n: n, h: h, w: w), db = grown.vq!.decode(tokens, n: n, h: h, w: w)
        #expect(zip(da.scalars, db.scalars).map { abs($0 - $1) }.max()! < 1e-5)

        // The encoder's new latent channels are live (random rows), the decoder reads them from 0.
        let z = grown.vq!.latents(x)
        #expect((0..<z.shape[0]).contains { r in (4..<8).contains { z.scalars[r * 8 + $0] != 0 } })
        let first = try grown.trainStep(data: data)
        #expect(first.loss.isFinite)
        #expect(grown.vq!.quantizer.initialized)
        #expect(grown.vq!.quantizer.codebooks[2].scalars.contains { $0 != 0 })
        // ... the codebooks' EMA pulls them into the new dimensions, and from the second step the
        // decoder's weights on the new channels leave 0.
        #expect(grown.vq!.quantizer.codebooks[0].scalars.enumerated().contains { $0.offset % 8 >= 4 && $0.element != 0 })
        _ = try grown.trainStep(data: data)
        let weight = grown.parameters.first { $0.name == "dec.conv1.weight" }!.value  // [4N, D, 3, 3]
        var newColumns: [Float] = []
        for o in 0..<weight.shape[0] {
            for c in 4..<8 { for k in 0..<9 { newColumns.append(weight.scalars[(o * 8 + c) * 9 + k]) } }
        }
        #expect(newColumns.contains { $0 != 0 })

        // Not the same width: one sentence, nothing changed.
        var wider = Self.tinyVQ
        wider.channels = 12
        let other = Trainer(config: wider, options: tinyOptions(steps: 4), dataVariance: 0.05)
        #expect(throws: TrainingError.self) { try other.warmStart(from: source.modelFile(checkpoint: true)) }
        var narrower = grownConfig
        narrower.latentChannels = 2
        let smaller = Trainer(config: narrower, options: tinyOptions(steps: 4), dataVariance: 0.05)
        #expect(throws: TrainingError.self) { try smaller.warmStart(from: source.modelFile(checkpoint: true)) }
    }

    /// `--init-from` with `--dec-res-blocks`: decoder-only blocks (here of a width past D, so the
    /// projection's extra outputs and `dec.conv1`'s new inputs are exercised) start as the identity —
    /// the same tokens, the same decoded pixels to float rounding — and then train: the second
    /// convolutions leave 0. Blocks cannot be changed or removed by a warm start.
    @Test(arguments: [4, 6])
    func warmStartAddsDecoderBlocksAsTheIdentity(width: Int) throws {
        let data = syntheticDataset(count: 6, size: 24, seed: 9)
        let source = Trainer(config: Self.tinyVQ, options: tinyOptions(steps: 8), dataVariance: 0.05)
        for _ in 0..<8 { _ = try source.trainStep(data: data) }
        var config = Self.tinyVQ
        config.decoderBlocks = 2
        config.decoderWidth = width
        #expect(config.architecture == "rvqvae-vdoord2017-decres" && config.tileMargin == 7)
        #expect(try ModelConfig(metadata: Dictionary(config.metadata) { a, _ in a }) == config)
        let grown = Trainer(config: config, options: tinyOptions(steps: 4), dataVariance: 0.05)
        let report = try grown.warmStart(from: source.modelFile(checkpoint: true))
        #expect(report.added.count == 10 && report.added.allSatisfy { $0.hasPrefix("dec.proj") || $0.hasPrefix("dec.res") })
        #expect(report.grown == (width > Self.tinyVQ.latentChannels ? ["dec.conv1.weight"] : []))

        let x = data.centerCrops(crop: 16)
        let tokens = source.vq!.encode(x, levels: 2)
        #expect(grown.vq!.encode(x, levels: 2) == tokens)
        let (n, h, w) = (x.shape[0], x.shape[2] / 8, x.shape[3] / 8)
        let da = source.vq!.decode(tokens, n: n, h: h, w: w), db = grown.vq!.decode(tokens, n: n, h: h, w: w)
        #expect(zip(da.scalars, db.scalars).map { abs($0 - $1) }.max()! < 1e-5)

        for _ in 0..<2 { #expect(try grown.trainStep(data: data).loss.isFinite) }
        let conv2 = grown.parameters.first { $0.name == "dec.res1.conv2.weight" }!.value
        #expect(conv2.scalars.contains { $0 != 0 })

        // A model that has blocks cannot lose or change them by a warm start.
        let withBlocks = try grown.modelFile(checkpoint: true)
        let plain = Trainer(config: Self.tinyVQ, options: tinyOptions(steps: 4), dataVariance: 0.05)
        #expect(throws: TrainingError.self) { try plain.warmStart(from: withBlocks) }
        var three = config
        three.decoderBlocks = 3
        let more = Trainer(config: three, options: tinyOptions(steps: 4), dataVariance: 0.05)
        #expect(throws: TrainingError.self) { try more.warmStart(from: withBlocks) }
    }

    /// `--dec-res-blocks` / `--dec-width`: the width defaults to D; not with `--res-blocks`, no
    /// width without blocks; fixed when resuming.
    @Test func decoderBlockOptions() throws {
        var a = TrainingArguments()
        a.family = .vq
        a.latentChannels = 6
        a.decoderBlocks = 2
        let (config, _) = try a.newRun()
        #expect(config.decoderBlocks == 2 && config.decoderWidth == 6 && config.architecture.hasSuffix("-decres"))
        var both = a
        both.residualBlocks = 1
        #expect(throws: TrainingArgumentError.self) { try both.newRun() }
        var widthOnly = TrainingArguments()
        widthOnly.family = .vq
        widthOnly.decoderWidth = 8
        #expect(throws: TrainingArgumentError.self) { try widthOnly.newRun() }

        // Resuming a model without blocks may add them: the same decoded pixels, the checkpoint's
        // Adam state for the old weights, a fresh one for the new; then the count is fixed.
        let data = syntheticDataset(count: 6, size: 24, seed: 11)
        let base = Trainer(config: Self.tinyVQ, options: tinyOptions(steps: 6), dataVariance: 0.05)
        for _ in 0..<6 { _ = try base.trainStep(data: data) }
        var add = TrainingArguments()
        add.steps = 10
        add.decoderBlocks = 1
        let resumed = try add.resume(base.modelFile(checkpoint: true))
        #expect(resumed.config.decoderBlocks == 1 && resumed.config.decoderWidth == Self.tinyVQ.latentChannels && resumed.step == 6)
        let x = data.centerCrops(crop: 16)
        let tokens = base.vq!.encode(x, levels: 2)
        #expect(resumed.vq!.encode(x, levels: 2) == tokens)
        let (n, h, w) = (x.shape[0], x.shape[2] / 8, x.shape[3] / 8)
        let da = base.vq!.decode(tokens, n: n, h: h, w: w), db = resumed.vq!.decode(tokens, n: n, h: h, w: w)
        #expect(zip(da.scalars, db.scalars).map { abs($0 - $1) }.max()! < 1e-5)
        let old = Dictionary(uniqueKeysWithValues: base.stateTensors(includeOptimizer: true))
        let now = Dictionary(uniqueKeysWithValues: resumed.stateTensors(includeOptimizer: true))
        #expect(now["adam.m.enc.conv1.weight"] == old["adam.m.enc.conv1.weight"])
        #expect(now["adam.m.dec.res1.conv2.weight"]!.scalars.allSatisfy { $0 == 0 })
        #expect(try resumed.trainStep(data: data).loss.isFinite)
        var change = TrainingArguments()
        change.decoderBlocks = 2
        #expect(throws: TrainingArgumentError.self) { try change.resume(resumed.modelFile(checkpoint: true)) }
        var keep = TrainingArguments()
        keep.decoderBlocks = 1
        #expect(try keep.resume(resumed.modelFile(checkpoint: true)).config.decoderBlocks == 1)
    }

    @Test func cropsAreSeededAndInRange() {
        let data = syntheticDataset(count: 3, size: 20, seed: 4)
        var a = Xoshiro256(seed: 5), b = Xoshiro256(seed: 5)
        let x = data.randomBatch(size: 5, crop: 16, rng: &a)
        #expect(x == data.randomBatch(size: 5, crop: 16, rng: &b))
        #expect(x.shape == [5, 3, 16, 16])
        #expect(x.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    }
}
