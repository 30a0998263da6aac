// Trainer state ↔ .vqzm model files (docs/MODEL-FORMAT.md). A checkpoint holds everything needed
// to resume (parameters, Adam moments, EMA codebooks, step); a released model holds the parameters,
// the codebooks and the metadata that describes them.

import Container
import Models
import NN
import TensorCore

extension Trainer {
    /// The model file of the current state.
    ///
    /// - Parameters:
    ///   - checkpoint: include Adam's moments and the EMA statistics (always f32), for `--resume`.
    ///   - dtype: storage of the weights in a released model (`.f16` halves the file).
    ///   - extra: more metadata (dataset, git commit, date, wall time…).
    public func modelFile(checkpoint: Bool, dtype: ModelFile.DType = .f32, extra: [(String, String)] = []) -> ModelFile {
        var metadata = [ModelFile.MetadataEntry("architecture", .string(config.architecture))]
        for (k, v) in stateMetadata + extra { metadata.append(ModelFile.MetadataEntry(k, .string(v))) }
        metadata.append(ModelFile.MetadataEntry("file.kind", .string(checkpoint ? "checkpoint" : "model")))
        let tensors = stateTensors(includeOptimizer: checkpoint).filter { checkpoint || !$0.0.hasPrefix("vq.ema.") }
        let arrays = tensors.map { name, t in
            // Codebooks and optimizer state stay f32: they are small and precision-sensitive.
            let keep32 = checkpoint || name.hasPrefix("vq.")
            return ModelFile.NamedArray(name: name, shape: t.shape, floats: t.scalars, dtype: keep32 ? .f32 : dtype)
        }
        return ModelFile(metadata: metadata, arrays: arrays)
    }

    /// A trainer restored from a checkpoint's model file (configuration and recipe from its metadata).
    ///
    /// - Parameter steps: a new total step count (the schedule is recomputed for it).
    public convenience init(resuming file: ModelFile, overriding steps: Int? = nil) throws {
        var options = try Self.recordedRun(file).options
        if let steps { options.steps = steps }
        try self.init(resuming: file, options: options)
    }

    /// A trainer restored from a checkpoint's model file with the recipe `options` (the checkpoint's
    /// own, or one with a changed `steps`, learning rates or clipping: `TrainingArguments.resume`).
    /// With `decoderBlocks` > 0 on a checkpoint whose model has none, the run goes on with that many
    /// decoder-only blocks of `decoderWidth` channels added as the identity (`identityStart`); their
    /// Adam state starts afresh, the rest keeps the checkpoint's.
    public convenience init(resuming file: ModelFile, options: TrainingOptions, addingDecoderBlocks blocks: Int = 0, width: Int = 0) throws {
        var (config, _) = try Self.recordedRun(file)
        if blocks > 0 {
            guard config.decoderBlocks == 0, config.residualBlocks == 0 else {
                throw TrainingError("decoder-only blocks can be added only to a model without residual or decoder blocks")
            }
            config.decoderBlocks = blocks
            config.decoderWidth = width
        }
        guard options.warmupSteps >= 0, options.restartStep >= 0, options.steps - options.restartStep > options.warmupSteps else {
            throw TrainingError("the run's learning-rate cycle (steps \(options.restartStep) to \(options.steps)) needs more steps than its warm-up (\(options.warmupSteps))")
        }
        self.init(config: config, options: options, dataVariance: try Self.float("train.data_variance", file.stringMetadata))
        try restore(tensors: Self.tensors(of: file), metadata: file.stringMetadata, addingDecoderBlocks: blocks > 0)
    }

    /// The configuration and recipe a checkpoint records, after checking that it is a checkpoint
    /// whose weights are all finite.
    public static func recordedRun(_ file: ModelFile) throws -> (config: ModelConfig, options: TrainingOptions) {
        do { try file.checkFinite() } catch { throw TrainingError("\(error)") }
        let metadata = file.stringMetadata
        let config: ModelConfig
        do { config = try ModelConfig(metadata: metadata) } catch { throw TrainingError("\(error)") }
        guard metadata["file.kind"] == "checkpoint" else {
            throw TrainingError("this model file is not a checkpoint (it has no optimizer state); resume from the .ckpt.vqzm file")
        }
        var options = TrainingOptions()
        func int(_ key: String) throws -> Int {
            guard let v = metadata[key].flatMap(Int.init) else { throw TrainingError("the checkpoint lacks \(key)") }
            return v
        }
        options.steps = try int("train.steps")
        options.batchSize = try int("train.batch")
        options.crop = try int("train.crop")
        options.learningRate = try float("train.lr", metadata)
        options.finalLearningRate = try float("train.final_lr", metadata)
        options.warmupSteps = try int("train.warmup")
        options.clipNorm = try float("train.clip_norm", metadata)
        options.klWarmupSteps = try int("train.kl_warmup")
        options.autoencoderSteps = metadata["train.ae_steps"] == nil ? 0 : try int("train.ae_steps")  // absent before v3
        options.fullRateFraction = metadata["train.full_rate_fraction"] == nil ? 0 : try float("train.full_rate_fraction", metadata)
        options.trainingLambda = metadata["train.ecvq_lambda"] == nil ? 0 : try float("train.ecvq_lambda", metadata)
        options.restartStep = metadata["train.restart_step"] == nil ? 0 : try int("train.restart_step")  // absent before warm restarts
        options.decoderOnly = metadata["train.decoder_only"] == nil ? false : try int("train.decoder_only") != 0  // absent before decoder tuning
        options.codecTokens = metadata["train.codec_tokens"] == nil ? false : try int("train.codec_tokens") != 0  // absent before codec-token training
        guard let seed = metadata["train.seed"].flatMap(UInt64.init) else { throw TrainingError("the checkpoint lacks train.seed") }
        options.seed = seed
        return (config, options)
    }

    /// The step a checkpoint was written at.
    public static func recordedStep(_ file: ModelFile) throws -> Int {
        guard let s = file.stringMetadata["train.step"].flatMap(Int.init), s >= 0 else { throw TrainingError("the checkpoint has no train.step") }
        return s
    }

    /// The file's float arrays by name.
    static func tensors(of file: ModelFile) -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for a in file.arrays {
            guard let floats = a.floats else { continue }
            tensors[a.name] = Tensor(shape: a.shape, scalars: floats)
        }
        return tensors
    }

    static func float(_ key: String, _ metadata: [String: String]) throws -> Float {
        guard let v = metadata[key].flatMap(Float.init) else { throw TrainingError("the checkpoint lacks \(key)") }
        return v
    }
}

extension Trainer {
    /// What a warm start copied.
    public struct WarmStart: Sendable, Equatable {
        /// Tensors copied whole.
        public var copied: Int
        /// Tensors grown from a smaller source (latent channels, codebook dimension).
        public var grown: [String]
        /// Quantizer stages brought from the source; later stages are seeded from data.
        public var stages: Int
        /// Tensors the source lacks, started so the grown network computes what the source did:
        /// decoder-only blocks (`identityStart`).
        public var added: [String] = []
    }

    /// The start of a decoder-only block's tensor added to a model without them, so that the
    /// decoder computes exactly what it did: the projection `dec.proj` (D → W channels, 3×3) passes
    /// the latent through on its first min(D, W) outputs (centre tap 1, other taps 0, bias 0; the
    /// outputs past D keep their random draw, and `dec.conv1`'s inputs from them grow as zeros), and
    /// each block's second convolution is zero, so `x + conv2(lrelu(conv1(x)))` is `x`; its first
    /// convolution keeps 0.1× its draw (the gradient reaches conv2 at once, conv1 after). Why 0.1×:
    /// Adam moves every weight of the zero convolution by about the learning rate from the first
    /// step, so the block's output moves by lr·Σ|conv1's activations| per step: a smaller first
    /// convolution lets the blocks enter gently. (A first try on the D = 128 model with the full
    /// draw and `--init-from`, Adam afresh for every weight, logged single-step losses up to 0.27,
    /// mse 0.013, within 250 steps — perhaps hard crops at low levels; it was stopped, not studied.)
    /// Nil for a tensor that is not part of such a block.
    static func identityStart(_ p: Parameter) -> Tensor? {
        let name = p.name
        if name == "dec.proj.bias" || (name.hasPrefix("dec.res") && name.hasSuffix(".conv2.weight")) || (name.hasPrefix("dec.res") && name.hasSuffix(".bias")) {
            return name.hasSuffix("conv1.bias") ? p.value : Tensor(shape: p.value.shape)
        }
        if name.hasPrefix("dec.res"), name.hasSuffix(".conv1.weight") {
            var w = p.value
            w.scale(by: 0.1)
            return w
        }
        if name == "dec.proj.weight" {
            let s = p.value.shape  // [W, D, 3, 3]
            guard s.count == 4, s[2] == 3, s[3] == 3 else { return nil }
            var w = p.value
            let taps = s[1] * 9
            for o in 0..<s[0] {
                for t in 0..<taps { w.scalars[o * taps + t] = o < s[1] ? 0 : w.scalars[o * taps + t] }
                if o < s[1] { w.scalars[o * taps + o * 9 + 4] = 1 }
            }
            return w
        }
        return nil
    }

    /// Starts a new run from the weights of another model of the same family and width, whose
    /// latent may be narrower (fewer channels `D`) and whose quantizer may have fewer stages: the
    /// network grows around what it has learned (Net2Net-style; Chen et al. 2016,
    /// https://arxiv.org/abs/1511.05641) instead of starting over.
    ///
    /// A tensor of the same shape is copied. A tensor larger in some dimension (the encoder's last
    /// layer, which outputs `D`; the decoder's first, which reads it) gets the source in its leading
    /// block; where an *old* output reads a *new* input (dimension 1 past the source's extent, dimension 0
    /// within it) it is zero, so the grown network computes exactly what the source did, and the new
    /// outputs keep their random draw, so gradients reach both sides after the first step.
    /// Codebooks (and their EMA sums) grow with zeros in the new dimensions; stages the source lacks
    /// are seeded from data at the first quantized step. Adam starts afresh; the step count is 0.
    public func warmStart(from file: ModelFile) throws -> WarmStart {
        do { try file.checkFinite() } catch { throw TrainingError("\(error)") }
        let source: ModelConfig
        do { source = try ModelConfig(metadata: file.stringMetadata) } catch { throw TrainingError("--init-from: \(error)") }
        guard source.family == config.family else {
            throw TrainingError("--init-from: the model is \(source.family.rawValue), this run is \(config.family.rawValue)")
        }
        guard source.channels == config.channels, source.residualBlocks == config.residualBlocks, source.latentWidth == config.latentWidth else {
            throw TrainingError("--init-from: the model has N = \(source.channels) and \(source.residualBlocks) residual blocks; this run needs the same (N = \(config.channels), \(config.residualBlocks))")
        }
        // Decoder-only blocks may be added to a model that has none (they start as the identity),
        // never changed or removed.
        guard source.decoderBlocks == config.decoderBlocks || (source.decoderBlocks == 0 && config.residualBlocks == 0) else {
            throw TrainingError("--init-from: the model has \(source.decoderBlocks) decoder-only blocks; this run has \(config.decoderBlocks) (blocks can be added to a model without them, not changed)")
        }
        guard source.decoderBlocks == 0 || source.decoderWidth == config.decoderWidth else {
            throw TrainingError("--init-from: the model's decoder-only blocks have \(source.decoderWidth) channels, this run's \(config.decoderWidth)")
        }
        let addsDecoderBlocks = source.decoderBlocks == 0 && config.decoderBlocks > 0
        guard source.latentChannels <= config.latentChannels else {
            throw TrainingError("--init-from: the model's latent has \(source.latentChannels) channels, more than this run's \(config.latentChannels)")
        }
        if config.family == .vq, source.codebookSize != config.codebookSize {
            throw TrainingError("--init-from: the model's codebooks have \(source.codebookSize) entries, this run's \(config.codebookSize)")
        }
        let tensors = Self.tensors(of: file)
        var report = WarmStart(copied: 0, grown: [], stages: 0)
        for p in parameters {
            if addsDecoderBlocks, tensors[p.name] == nil, let identity = Self.identityStart(p) {
                p.value = identity
                report.added.append(p.name)
                continue
            }
            guard let t = tensors[p.name] else { throw TrainingError("--init-from: the model has no tensor \(p.name)") }
            if t.shape == p.shape {
                p.value = t
                report.copied += 1
                continue
            }
            guard let grown = Self.grow(t, into: p.value, zeroNewInputs: true) else {
                throw TrainingError("--init-from: tensor \(p.name) has shape \(t.shape), which does not fit in \(p.shape)")
            }
            p.value = grown
            report.grown.append(p.name)
        }
        if let vq {
            let k = config.codebookSize, d = config.latentChannels
            let brought = min(source.stages, config.stages)
            for l in 0..<brought {
                guard let book = tensors["vq.codebook.\(l)"] else { throw TrainingError("--init-from: the model has no tensor vq.codebook.\(l)") }
                guard let grownBook = Self.grow(book, into: Tensor(shape: [k, d]), zeroNewInputs: false) else {
                    throw TrainingError("--init-from: vq.codebook.\(l) has shape \(book.shape), which does not fit in \([k, d])")
                }
                vq.quantizer.codebooks[l] = grownBook
                // A released model has no EMA state: each code starts as a cluster of one.
                let sizes = tensors["vq.ema.cluster_size.\(l)"].flatMap { $0.shape == [k] ? $0 : nil } ?? Tensor(shape: [k], repeating: 1)
                vq.quantizer.clusterSize[l] = sizes
                if let sums = tensors["vq.ema.embed_sum.\(l)"], let g = Self.grow(sums, into: Tensor(shape: [k, d]), zeroNewInputs: false) {
                    vq.quantizer.embedSum[l] = g
                } else {
                    var sums = grownBook
                    for j in 0..<k { for t in 0..<d { sums.scalars[j * d + t] *= sizes.scalars[j] } }
                    vq.quantizer.embedSum[l] = sums
                }
            }
            vq.quantizer.initializedStages = brought
            report.stages = brought
        }
        return report
    }

    /// `source` written into the leading block of a tensor shaped like `target` (same rank, no
    /// dimension smaller); outside it `target`'s values, except that with `zeroNewInputs`, elements
    /// whose dimension-0 index lies inside the source and dimension-1 index outside are zero.
    static func grow(_ source: Tensor, into target: Tensor, zeroNewInputs: Bool) -> Tensor? {
        let s = source.shape, t = target.shape
        guard s.count == t.count, !s.isEmpty, zip(s, t).allSatisfy({ $0 <= $1 }) else { return nil }
        var out = target
        let rank = t.count
        var strides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * t[i + 1] }
        var index = [Int](repeating: 0, count: rank)
        for flat in 0..<target.count {
            var rest = flat
            for i in 0..<rank { index[i] = rest / strides[i]; rest %= strides[i] }
            if zip(index, s).allSatisfy({ $0 < $1 }) {
                var sFlat = 0
                for i in 0..<rank { sFlat = sFlat * s[i] + index[i] }
                out.scalars[flat] = source.scalars[sFlat]
            } else if zeroNewInputs, rank >= 2, index[0] < s[0], index[1] >= s[1] {
                out.scalars[flat] = 0
            }
        }
        return out
    }
}
