// The training loop of both families: seeded batches, the loss and its gradient, Adam with
// warm-up + cosine decay and gradient clipping, quantizer dropout (VQ) or KL annealing (Gaussian),
// periodic validation, and a complete, restorable state for checkpoints.
//
// Determinism: every random draw of step `t` comes from a generator seeded with (seed, t), so a
// run resumed at step t draws exactly what the uninterrupted run drew, and the only state to save
// is the parameters, Adam's moments and the EMA codebooks.

import Foundation
import Metrics
import Models
import NN
import TensorCore

/// Hyperparameters of a training run (the recipe, recorded in the model file).
public struct TrainingOptions: Sendable, Equatable {
    public var steps = 10_000
    public var batchSize = 8
    public var crop = 128
    public var learningRate: Float = 1e-3
    public var finalLearningRate: Float = 1e-5
    public var warmupSteps = 200
    public var clipNorm: Float = 1
    public var seed: UInt64 = 0
    /// Gaussian: steps over which the KL weight ramps from 0 to `klWeight` (annealing).
    public var klWarmupSteps = 1000
    /// VQ: steps at the start during which the decoder gets the unquantized latents (autoencoder
    /// warm-up); the quantizer is switched on (and its codebooks seeded from data) after them.
    public var autoencoderSteps = 0
    /// VQ: the fraction of steps that decode every stage; the rest draw the stage count uniformly
    /// (quantizer dropout on only part of the batches protects full-rate quality: SoundStream, DAC).
    public var fullRateFraction: Float = 0
    /// VQ: λ of the entropy-constrained token choice in training (`ResidualVectorQuantizer.trainingLambda`).
    public var trainingLambda: Float = 0
    /// The step the current learning-rate cycle started at: 0 for a run's own schedule; a warm
    /// restart (`--restart` on resume) starts a new warm-up + cosine cycle from the resumed step to
    /// `steps` (SGDR: Loshchilov & Hutter 2017, https://arxiv.org/abs/1608.03983).
    public var restartStep = 0
    /// VQ: decoder tuning. The encoder and the codebooks are frozen and the decoder alone learns
    /// from the tokens `vqz encode` writes (each level's λ, zero codes, the refinement sweep) instead
    /// of the nearest codes training draws; a phase of a resumed run (`--tune-decoder`). The model
    /// writes the same tokens as its checkpoint, so a token prior trained for them still fits.
    public var decoderOnly = false
    /// VQ: the whole model trains on the tokens `vqz encode` writes at the drawn level (that level's
    /// λ, zero codes, the refinement sweep) instead of the nearest codes: the encoder's commitment
    /// pulls toward them and the codebooks' EMA follows them (`--codec-tokens`).
    public var codecTokens = false
    /// Loss normaliser `var(data)`; measured from the data when nil.
    public var dataVariance: Float?

    public init() {}

    public var metadata: [(String, String)] {
        [("train.steps", "\(steps)"), ("train.batch", "\(batchSize)"), ("train.crop", "\(crop)"),
         ("train.lr", "\(learningRate)"), ("train.final_lr", "\(finalLearningRate)"), ("train.warmup", "\(warmupSteps)"),
         ("train.clip_norm", "\(clipNorm)"), ("train.seed", "\(seed)"), ("train.kl_warmup", "\(klWarmupSteps)"),
         ("train.ae_steps", "\(autoencoderSteps)"), ("train.full_rate_fraction", "\(fullRateFraction)"),
         ("train.ecvq_lambda", "\(trainingLambda)"), ("train.restart_step", "\(restartStep)"),
         ("train.decoder_only", decoderOnly ? "1" : "0"), ("train.codec_tokens", codecTokens ? "1" : "0"),
         ("train.optimizer", "adam(beta1=0.9,beta2=0.999,eps=1e-8)"), ("train.schedule", "linear warm-up, cosine decay"),
         ("train.augment", "random crop, horizontal flip p=0.5")]
    }
}

/// One step's figures.
public struct StepReport: Sendable {
    public var step: Int
    public var loss: Float
    public var mse: Float
    /// VQ: commitment loss; Gaussian: KL in nats per image.
    public var auxiliary: Float
    public var learningRate: Float
    public var gradientNorm: Float
    /// VQ: stages decoded this step.
    public var levels: Int
    public var perplexity: [Float]
    public var deadCodes: [Int]
    public var milliseconds: Double
}

/// Validation figures: PSNR and a rate estimate per level.
public struct ValidationReport: Sendable {
    public var step: Int
    public var psnr: [Float]
    /// VQ: fixed-length bits per pixel (log2 K per token); Gaussian: empirical entropy of the integers.
    public var bpp: [Float]
    /// VQ: PSNR of the decoder fed the unquantized latents (the transform's ceiling); nil for Gaussian.
    public var ceiling: Float?
}

/// A training failure (non-finite loss, bad data).
public struct TrainingError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs the training of one model.
public final class Trainer {
    /// The model's configuration (only the encoder settings `lambdas`, `zeroCodeFrom` and `defaultLevel` may change during a run).
    public var config: ModelConfig
    public let options: TrainingOptions
    public let vq: VQVAE?
    public let gaussian: GaussianVAE?
    public let optimizer: Adam
    public let schedule: WarmupCosineSchedule
    /// Steps completed.
    public private(set) var step = 0
    public private(set) var dataVariance: Float

    public init(config: ModelConfig, options: TrainingOptions, dataVariance: Float) {
        self.config = config
        self.options = options
        self.dataVariance = dataVariance
        switch config.family {
        case .vq:
            vq = VQVAE(config: config, seed: options.seed)
            vq!.quantizer.trainingLambda = options.trainingLambda
            gaussian = nil
        case .gaussian:
            gaussian = GaussianVAE(config: config, seed: options.seed)
            vq = nil
        }
        optimizer = Adam(learningRate: options.learningRate)
        schedule = WarmupCosineSchedule(peak: options.learningRate, final: options.finalLearningRate, warmupSteps: options.warmupSteps,
                                        totalSteps: options.steps - options.restartStep, startStep: options.restartStep)
    }

    public var parameters: [Parameter] { vq?.parameters ?? gaussian!.parameters }

    /// Sets the loss normaliser `var(data)` (measured on the training data before step 1).
    public func setDataVariance(_ v: Float) {
        precondition(v > 0 && v.isFinite, "data variance must be positive")
        dataVariance = v
    }

    /// The generator of step `t`'s draws.
    static func generator(seed: UInt64, step: Int) -> Xoshiro256 {
        Xoshiro256(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(step) &+ 1)
    }

    /// One optimisation step on a batch drawn from `data`.
    public func trainStep(data: ImageDataset) throws -> StepReport {
        let start = DispatchTime.now().uptimeNanoseconds
        var rng = Self.generator(seed: options.seed, step: step)
        let x = data.randomBatch(size: options.batchSize, crop: options.crop, rng: &rng)
        for p in parameters { p.gradient.fill(0) }
        var report = StepReport(step: step, loss: 0, mse: 0, auxiliary: 0, learningRate: 0, gradientNorm: 0, levels: 0,
                                perplexity: [], deadCodes: [], milliseconds: 0)
        let xHat: Tensor
        if let vq, options.decoderOnly {
            // Decoder tuning: the level drawn as quantizer dropout does, the tokens chosen as the encoder does.
            let levels = drawLevels(&rng)
            let rows = vq.latents(x)
            let zq = codecLatents(rows, levels: levels)
            let h = x.shape[2] / config.downsampleFactor, w = x.shape[3] / config.downsampleFactor
            xHat = vq.decodeRows(zq, n: x.shape[0], h: h, w: w, mode: .training)
            let (mse, dMSE) = mseLoss(xHat, x)
            _ = vq.decoder.backward(dMSE * (1 / dataVariance))
            report.mse = mse
            report.loss = mse / dataVariance
            report.levels = levels
        } else if let vq {
            // Quantizer dropout: decode a uniformly drawn number of stages, so every level is trained.
            let levels = drawLevels(&rng)
            let codec = options.codecTokens ? codecChoice(levels: levels) : nil
            let out = vq.forward(x, levels: levels, bypassQuantizer: step < options.autoencoderSteps, codec: codec, rng: &rng)
            xHat = out.xHat
            let (mse, dMSE) = mseLoss(xHat, x)
            vq.backward(dMSE * (1 / dataVariance))
            report.mse = mse
            report.auxiliary = out.commitmentLoss
            report.loss = mse / dataVariance + out.commitmentLoss
            report.levels = levels
            report.perplexity = out.health.perplexity
            report.deadCodes = out.health.deadCodes
        } else {
            let model = gaussian!
            let beta = config.klWeight * min(1, Float(step + 1) / Float(max(1, options.klWarmupSteps)))
            let dims = Float(x.count)
            let out = model.forward(x, klScale: beta / dims, rng: &rng)
            xHat = out.xHat
            let (mse, dMSE) = mseLoss(xHat, x)
            model.backward(dMSE * (1 / dataVariance))
            report.mse = mse
            report.auxiliary = out.kl
            report.loss = mse / dataVariance + beta * out.kl * Float(options.batchSize) / dims
        }
        guard report.loss.isFinite else {
            throw TrainingError("the loss became \(report.loss) at step \(step + 1); the last checkpoint is kept")
        }
        let trained = options.decoderOnly ? vq!.decoder.parameters : parameters
        report.gradientNorm = clipGradientNorm(trained, maxNorm: options.clipNorm)
        report.learningRate = schedule.learningRate(at: step)
        optimizer.learningRate = report.learningRate
        optimizer.step(trained)
        step += 1
        report.milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return report
    }

    /// PSNR per level on `batch` (values in [0, 1]) and a rate estimate per level.
    public func validate(_ batch: Tensor) -> ValidationReport {
        let n = batch.shape[0], h = batch.shape[2] / 8, w = batch.shape[3] / 8
        var psnr: [Float] = [], bpp: [Float] = []
        var ceiling: Float?
        if let vq {
            // The encoder runs once; the nearest-code levels are prefixes of one greedy search.
            let rows = vq.latents(batch)
            ceiling = Self.psnr(vq.decodeRows(rows, n: n, h: h, w: w, mode: .inference), batch)
            let onCodecTokens = options.decoderOnly || options.codecTokens
            let nearest = onCodecTokens ? [] : vq.quantizer.quantize(rows, levels: config.stages).indices
            for level in config.levels {
                // Decoder tuning and codec-token training are judged on the tokens they learn from.
                let zq = onCodecTokens ? codecLatents(rows, levels: level)
                                             : vq.quantizer.dequantize(Array(nearest.prefix(level)), count: rows.shape[0])
                psnr.append(Self.psnr(vq.decodeRows(zq, n: n, h: h, w: w, mode: .inference), batch))
                bpp.append(Float(level) * Float(log2(Double(config.codebookSize))) / 64)
            }
        } else {
            let model = gaussian!
            let mu = model.posterior(batch).mu
            for step in config.quantSteps {
                let integers = mu.scalars.map { GaussianVAE.integer($0, step: step) }
                let xHat = model.decode(integers, step: step, n: n, h: h, w: w)
                psnr.append(Self.psnr(xHat, batch))
                bpp.append(Float(Self.entropyBits(integers, channels: config.latentChannels, plane: h * w)) / Float(n * h * w * 64))
            }
        }
        return ValidationReport(step: step, psnr: psnr, bpp: bpp, ceiling: ceiling)
    }

    /// The sum of the codes `vqz encode` chooses for latent rows `rows` at `levels` stages: the
    /// level's λ (`codec.lambdas`), the default beam and refinement, as `ImageCodec` does (tested equal).
    public func codecLatents(_ rows: Tensor, levels: Int) -> Tensor {
        let quantizer = vq!.quantizer, choice = codecChoice(levels: levels)
        let tokens = quantizer.quantize(rows, levels: levels, lambda: choice.lambda, refine: choice.refine, beam: choice.beam)
        return quantizer.dequantize(tokens, count: rows.shape[0])
    }

    /// The λ, refinement and beam of the codec's token choice at `levels` stages (what `ImageCodec` uses).
    private func codecChoice(levels: Int) -> (lambda: Float, refine: Int, beam: Int) {
        (config.lambda(level: levels), ResidualVectorQuantizer.defaultRefine, ResidualVectorQuantizer.defaultBeam)
    }

    /// Quantizer dropout's draw: a uniform number of stages, or every stage on a `fullRateFraction`
    /// of the steps (two draws from `rng` either way when the fraction is positive).
    private func drawLevels(_ rng: inout Xoshiro256) -> Int {
        var levels = 1 + Int(rng.next() % UInt64(config.stages))
        if options.fullRateFraction > 0, Float(rng.next() >> 40) / Float(1 << 24) < options.fullRateFraction { levels = config.stages }
        return levels
    }

    /// PSNR of `xHat` (clamped to [0, 1] and rounded to 8 bits, as a decoded PNG would be) against `x`.
    public static func psnr(_ xHat: Tensor, _ x: Tensor) -> Float {
        func bytes(_ t: Tensor) -> [UInt8] { t.scalars.map { UInt8((min(max($0, 0), 1) * 255).rounded()) } }
        return Float(Metrics.cappedPSNR(bytes(xHat), bytes(x)))
    }

    /// Total bits of `integers` (`[N, C, plane]` layout) under each channel's empirical entropy.
    static func entropyBits(_ integers: [Int32], channels c: Int, plane: Int) -> Double {
        let n = integers.count / (c * plane)
        var bits = 0.0
        for channel in 0..<c {
            let values: [Int32] = (0..<n).flatMap { b -> ArraySlice<Int32> in
                let start = (b * c + channel) * plane
                return integers[start..<start + plane]
            }
            bits += empiricalEntropyBits(values)
        }
        return bits
    }

    // MARK: - State for checkpoints

    /// Every tensor a checkpoint needs, by name: parameters, Adam moments (`adam.m.*`, `adam.v.*`),
    /// and for VQ the codebooks and EMA state (`vq.codebook.<l>`, `vq.ema.cluster_size.<l>`,
    /// `vq.ema.embed_sum.<l>`).
    public func stateTensors(includeOptimizer: Bool) -> [(String, Tensor)] {
        var out = parameters.map { ($0.name, $0.value) }
        if let vq {
            for l in 0..<config.stages {
                out.append(("vq.codebook.\(l)", vq.quantizer.codebooks[l]))
                out.append(("vq.ema.cluster_size.\(l)", vq.quantizer.clusterSize[l]))
                out.append(("vq.ema.embed_sum.\(l)", vq.quantizer.embedSum[l]))
            }
        }
        if includeOptimizer {
            for p in parameters {
                let s = optimizer.states[p.name] ?? AdamState(shape: p.shape)
                out.append(("adam.m.\(p.name)", s.m))
                out.append(("adam.v.\(p.name)", s.v))
            }
        }
        return out
    }

    /// Metadata that goes with `stateTensors`.
    public var stateMetadata: [(String, String)] {
        var m = config.metadata + options.metadata
        m.append(("train.step", "\(step)"))
        m.append(("train.data_variance", "\(dataVariance)"))
        if let vq {
            m.append(("vq.initialized", vq.quantizer.initialized ? "1" : "0"))
            // A warm start may leave later stages to be seeded from data (Trainer.warmStart).
            if !vq.quantizer.initialized, vq.quantizer.initializedStages > 0 {
                m.append(("vq.initialized_stages", "\(vq.quantizer.initializedStages)"))
            }
        }
        return m
    }

    /// Restores the state saved by `stateTensors`/`stateMetadata`.
    ///
    /// With `addingDecoderBlocks`, the checkpoint's model lacks this one's decoder-only blocks: they
    /// start as the identity (`identityStart`) and `dec.conv1` grows to their width with zero
    /// weights on the new inputs, so the decoder computes what the checkpoint's did.
    public func restore(tensors: [String: Tensor], metadata: [String: String], addingDecoderBlocks: Bool = false) throws {
        func tensor(_ name: String, shape: [Int]) throws -> Tensor {
            guard let t = tensors[name] else { throw TrainingError("the checkpoint has no tensor \(name)") }
            guard t.shape == shape else { throw TrainingError("tensor \(name) has shape \(t.shape), the model needs \(shape)") }
            return t
        }
        guard let s = metadata["train.step"].flatMap(Int.init), s >= 0 else { throw TrainingError("the checkpoint has no train.step") }
        for p in parameters {
            if addingDecoderBlocks, tensors[p.name] == nil, let start = Self.identityStart(p) {
                p.value = start
            } else if addingDecoderBlocks, p.name == "dec.conv1.weight", let t = tensors[p.name], t.shape != p.shape {
                guard let grown = Self.grow(t, into: p.value, zeroNewInputs: true) else { throw TrainingError("tensor \(p.name) has shape \(t.shape), which does not fit in \(p.shape)") }
                p.value = grown
            } else {
                p.value = try tensor(p.name, shape: p.shape)
            }
        }
        if let vq {
            let k = config.codebookSize, d = config.latentChannels
            for l in 0..<config.stages {
                vq.quantizer.codebooks[l] = try tensor("vq.codebook.\(l)", shape: [k, d])
                vq.quantizer.clusterSize[l] = try tensor("vq.ema.cluster_size.\(l)", shape: [k])
                vq.quantizer.embedSum[l] = try tensor("vq.ema.embed_sum.\(l)", shape: [k, d])
            }
            vq.quantizer.initialized = metadata["vq.initialized"] == "1"
            if !vq.quantizer.initialized, let n = metadata["vq.initialized_stages"].flatMap(Int.init), (0...config.stages).contains(n) {
                vq.quantizer.initializedStages = n
            }
        }
        for p in parameters {
            var state = AdamState(shape: p.shape)
            if let m = tensors["adam.m.\(p.name)"], let v = tensors["adam.v.\(p.name)"], m.shape == p.shape || !addingDecoderBlocks {
                guard m.shape == p.shape, v.shape == p.shape else { throw TrainingError("Adam state of \(p.name) has the wrong shape") }
                state.m = m
                state.v = v
                state.step = s
            }
            optimizer.setState(state, for: p.name)
        }
        if let v = metadata["train.data_variance"].flatMap(Float.init) { dataVariance = v }
        step = s
    }
}

extension Trainer {
    /// Per latent channel of the Gaussian VAE on `batch` (held-out images): the scale of its
    /// quantization step (`ModelConfig.channelScales`: the RMS posterior σ over positions and
    /// images) and its KL in nats per position; a channel whose KL is below `inactiveKL` gets
    /// scale 0 (inactive: not coded). Nil for a VQ model.
    public func gaussianChannelScales(_ batch: Tensor, inactiveKL: Double = 0.01) -> (scales: [Float], klPerChannel: [Double])? {
        guard let g = gaussian else { return nil }
        let (mu, logVar) = g.posterior(batch)
        let (_, klPerChannel) = GaussianVAE.klDivergence(mu: mu, logVar: logVar)
        let (n, c, hw) = (mu.shape[0], mu.shape[1], mu.shape[2] * mu.shape[3])
        var scales = [Float](repeating: 0, count: c)
        for ch in 0..<c {
            var sum = 0.0
            for b in 0..<n { for i in 0..<hw { sum += exp(Double(logVar.scalars[(b * c + ch) * hw + i])) } }
            scales[ch] = Float(sqrt(sum / Double(n * hw)))
        }
        // klDivergence sums over the batch and the positions; per position:
        let perPosition = klPerChannel.map { $0 / Double(n * hw) }
        for ch in 0..<c where perPosition[ch] < inactiveKL { scales[ch] = 0 }
        if !scales.contains(where: { $0 > 0 }), let best = perPosition.indices.max(by: { perPosition[$0] < perPosition[$1] }) {
            scales[best] = 1  // never a model with nothing to code
        }
        return (scales, perPosition)
    }
}
