// The options of a training run as the user gave them, turned into a configuration and a recipe:
// a new run fills the gaps with defaults and checks every value against what the model loader and
// the .vqz container accept (a model that trains for hours and cannot be loaded is refused before
// step 1); a resumed run takes every option from the checkpoint unless given, accepts a change only
// to the options that can change mid-run, and refuses the others.

import Container
import Foundation
import Models

/// An option the user gave that cannot be used: the CLI reports it as a usage error.
public struct TrainingArgumentError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The options of `vqz train`, nil where the user gave none.
public struct TrainingArguments: Sendable, Equatable {
    // The model: fixed for the whole run.
    public var family: ModelFamily?
    public var channels: Int?
    public var latentChannels: Int?
    public var residualBlocks: Int?
    public var latentWidth: Int?
    /// Decoder-only latent-resolution blocks (`ModelConfig.decoderBlocks`) and their width.
    public var decoderBlocks: Int?
    public var decoderWidth: Int?
    public var stages: Int?
    public var codebookSize: Int?
    public var decay: Float?
    public var commitment: Float?
    public var deadThreshold: Float?
    public var klWeight: Float?
    public var quantSteps: [Float]?
    // The recipe.
    public var steps: Int?
    public var batchSize: Int?
    public var crop: Int?
    public var learningRate: Float?
    public var finalLearningRate: Float?
    public var warmupSteps: Int?
    public var clipNorm: Float?
    public var seed: UInt64?
    public var klWarmupSteps: Int?
    public var autoencoderSteps: Int?
    public var fullRateFraction: Float?
    /// VQ: λ of the entropy-constrained token choice in training; may change on resume.
    public var trainingLambda: Float?
    /// On resume: start a new learning-rate cycle (warm-up to `--lr`, cosine to `--final-lr` at
    /// `--steps`) at the checkpoint's step instead of continuing the recorded one.
    public var restart = false
    /// On resume (VQ): train the decoder alone on the encoder's own tokens (`TrainingOptions.decoderOnly`).
    public var tuneDecoder = false
    /// VQ: train on the codec's tokens (`TrainingOptions.codecTokens`); may change on resume.
    public var codecTokens: Bool?
    /// The encoder's per-level λ recorded in the model (VQ); may change on resume.
    public var lambdas: [Float]?
    /// VQ: the first stage (1-based) with a zero code (`codec.zero_code_from`); on resume it may add
    /// zero codes to a trained quantizer (`ResidualVectorQuantizer.addZeroCodes(from:)`).
    public var zeroCodeFrom: Int?
    /// The level `vqz encode` uses by default (`codec.default_level`); may change on resume.
    public var defaultLevel: Int?

    public init() {}

    /// The configuration and recipe of a new run: defaults (`ModelConfig`, `TrainingOptions`) for
    /// what was not given, every value checked.
    ///
    /// - Throws: `TrainingArgumentError`, one sentence naming the option.
    public func newRun() throws(TrainingArgumentError) -> (config: ModelConfig, options: TrainingOptions) {
        guard let family else { throw TrainingArgumentError("--family must be vq or gaussian") }
        var config = ModelConfig(family: family)
        if let channels { config.channels = channels }
        if let latentChannels { config.latentChannels = latentChannels }
        if let stages { config.stages = stages }
        if let codebookSize { config.codebookSize = codebookSize }
        if let decay { config.decay = decay }
        if let commitment { config.commitment = commitment }
        if let deadThreshold { config.deadThreshold = deadThreshold }
        if let klWeight { config.klWeight = klWeight }
        if let quantSteps { config.quantSteps = quantSteps }
        config.residualBlocks = residualBlocks ?? 0
        config.latentWidth = config.residualBlocks > 0 ? (latentWidth ?? 2 * config.channels) : 0
        if latentWidth != nil, config.residualBlocks == 0 { throw TrainingArgumentError("--latent-width needs --res-blocks above 0") }
        config.decoderBlocks = decoderBlocks ?? 0
        if config.decoderBlocks > 0, config.residualBlocks > 0 { throw TrainingArgumentError("--dec-res-blocks and --res-blocks cannot be combined (the latter already gives the decoder its blocks)") }
        config.decoderWidth = config.decoderBlocks > 0 ? (decoderWidth ?? config.latentChannels) : 0
        if decoderWidth != nil, config.decoderBlocks == 0 { throw TrainingArgumentError("--dec-width needs --dec-res-blocks above 0") }
        if let lambdas { config.lambdas = lambdas }
        if let zeroCodeFrom {
            guard family == .vq else { throw TrainingArgumentError("--zero-codes applies to vq models only") }
            config.zeroCodeFrom = zeroCodeFrom
        }
        if let defaultLevel { config.defaultLevel = defaultLevel }
        var options = TrainingOptions()
        if let steps { options.steps = steps }
        if let batchSize { options.batchSize = batchSize }
        if let crop { options.crop = crop }
        if let learningRate { options.learningRate = learningRate }
        if let finalLearningRate { options.finalLearningRate = finalLearningRate }
        if let warmupSteps { options.warmupSteps = warmupSteps }
        if let clipNorm { options.clipNorm = clipNorm }
        if let seed { options.seed = seed }
        if let klWarmupSteps { options.klWarmupSteps = klWarmupSteps }
        if let autoencoderSteps { options.autoencoderSteps = autoencoderSteps }
        if let fullRateFraction { options.fullRateFraction = fullRateFraction }
        if let trainingLambda { options.trainingLambda = trainingLambda }
        try applyCodecTokens(to: &options, family: family)
        try Self.check(config)
        try Self.check(options, resumedAt: 0)
        return (config, options)
    }

    /// `--codec-tokens` / `--no-codec-tokens` when given (VQ models only).
    private func applyCodecTokens(to options: inout TrainingOptions, family: ModelFamily) throws(TrainingArgumentError) {
        guard let codecTokens else { return }
        guard family == .vq || !codecTokens else { throw TrainingArgumentError("--codec-tokens applies to vq models only") }
        options.codecTokens = codecTokens
    }

    /// The trainer of a run resumed from `file` (a checkpoint), with the options given here.
    ///
    /// The model and the options that define the run's draws (`--batch`, `--crop`, `--seed`, the
    /// warm-ups, `--ae-steps`, `--full-rate`) cannot change mid-run: giving another value than the
    /// checkpoint's is refused; giving the same one is accepted. `--steps`, `--lr`, `--final-lr`,
    /// `--clip`, `--train-lambda`, `--lambdas`, `--default-level` and `--quant-steps` may change (the schedule is recomputed for them).
    ///
    /// - Throws: `TrainingArgumentError` for a refused option; `TrainingError` for a checkpoint
    ///   that cannot be resumed.
    public func resume(_ file: ModelFile) throws -> Trainer {
        let (config, recorded) = try Trainer.recordedRun(file)
        let step = try Trainer.recordedStep(file)
        func fixed<T: Equatable & CustomStringConvertible>(_ option: String, _ given: T?, _ recordedValue: T) throws(TrainingArgumentError) {
            guard let given, given != recordedValue else { return }
            throw TrainingArgumentError("\(option) cannot change when resuming: the checkpoint's run uses \(recordedValue) (start a new run to change it)")
        }
        try fixed("--family", family?.rawValue, config.family.rawValue)
        try fixed("--channels", channels, config.channels)
        try fixed("--latent", latentChannels, config.latentChannels)
        try fixed("--res-blocks", residualBlocks, config.residualBlocks)
        if config.residualBlocks > 0 { try fixed("--latent-width", latentWidth, config.latentWidth) }
        else if latentWidth != nil { throw TrainingArgumentError("--latent-width cannot change when resuming: the checkpoint's model has no residual blocks") }
        // Decoder-only blocks may be added when resuming a model without them (they start as the
        // identity: `Trainer.identityStart`), never changed.
        let addsBlocks = config.decoderBlocks == 0 && config.residualBlocks == 0 && (decoderBlocks ?? 0) > 0
        if !addsBlocks {
            try fixed("--dec-res-blocks", decoderBlocks, config.decoderBlocks)
            if config.decoderBlocks > 0 { try fixed("--dec-width", decoderWidth, config.decoderWidth) }
            else if decoderWidth != nil { throw TrainingArgumentError("--dec-width needs --dec-res-blocks when resuming a model without decoder-only blocks") }
        } else if (decoderBlocks ?? 0) > 16 || !(1...1024).contains(decoderWidth ?? config.latentChannels) {
            throw TrainingArgumentError("--dec-res-blocks must be in 0…16 and --dec-width in 1…1024")
        }
        if config.family == .vq {
            try fixed("--stages", stages, config.stages)
            try fixed("--codebook", codebookSize, config.codebookSize)
            try fixed("--decay", decay, config.decay)
            try fixed("--commitment", commitment, config.commitment)
            try fixed("--dead-threshold", deadThreshold, config.deadThreshold)
        } else {
            try fixed("--kl-weight", klWeight, config.klWeight)
        }
        try fixed("--batch", batchSize, recorded.batchSize)
        try fixed("--crop", crop, recorded.crop)
        try fixed("--seed", seed, recorded.seed)
        try fixed("--warmup", warmupSteps, recorded.warmupSteps)
        try fixed("--kl-warmup", klWarmupSteps, recorded.klWarmupSteps)
        try fixed("--ae-steps", autoencoderSteps, recorded.autoencoderSteps)
        try fixed("--full-rate", fullRateFraction, recorded.fullRateFraction)
        var options = recorded
        if let steps { options.steps = steps }
        if let learningRate { options.learningRate = learningRate }
        if let finalLearningRate { options.finalLearningRate = finalLearningRate }
        if let clipNorm { options.clipNorm = clipNorm }
        if let trainingLambda { options.trainingLambda = trainingLambda }
        if restart {
            guard let steps, steps > step else {
                throw TrainingArgumentError("--restart needs --steps above \(step), the step the checkpoint was written at (the new cycle's end)")
            }
            options.restartStep = step
        }
        if tuneDecoder {
            guard config.family == .vq else { throw TrainingArgumentError("--tune-decoder applies to vq models only") }
            options.decoderOnly = true
        }
        try applyCodecTokens(to: &options, family: config.family)
        if options.decoderOnly && options.codecTokens {
            throw TrainingArgumentError("--codec-tokens trains the whole model; decoder tuning (--tune-decoder) already uses the codec's tokens")
        }
        try Self.check(options, resumedAt: step)
        let trainer = addsBlocks
            ? try Trainer(resuming: file, options: options, addingDecoderBlocks: decoderBlocks!, width: decoderWidth ?? config.latentChannels)
            : try Trainer(resuming: file, options: options)
        if let quantSteps {
            // The rate ladder is a codec setting (training never quantizes): it may change.
            guard config.family == .gaussian else { throw TrainingArgumentError("--quant-steps applies to gaussian models only") }
            trainer.config.quantSteps = quantSteps
            try Self.check(trainer.config)
        }
        if let lambdas {
            guard config.family == .vq else { throw TrainingArgumentError("--lambdas applies to vq models only") }
            guard lambdas.count == config.stages else { throw TrainingArgumentError("--lambdas needs \(config.stages) values, one per level") }
            trainer.config.lambdas = lambdas
            try Self.check(trainer.config)
        }
        if let zeroCodeFrom, zeroCodeFrom != config.zeroCodeFrom {
            guard let quantizer = trainer.vq?.quantizer else { throw TrainingArgumentError("--zero-codes applies to vq models only") }
            guard (1...config.stages).contains(zeroCodeFrom) else { throw TrainingArgumentError("--zero-codes must be a stage in 1…\(config.stages)") }
            guard config.zeroCodeFrom == 0 || zeroCodeFrom < config.zeroCodeFrom else {
                throw TrainingArgumentError("--zero-codes can only add zero codes: this model has them from stage \(config.zeroCodeFrom)")
            }
            if quantizer.initialized { quantizer.addZeroCodes(from: zeroCodeFrom) } else { quantizer.zeroCodeFrom = zeroCodeFrom }
            trainer.config.zeroCodeFrom = zeroCodeFrom
        }
        if let defaultLevel {
            trainer.config.defaultLevel = defaultLevel
            try Self.check(trainer.config)
        }
        return trainer
    }

    /// The model-size options against what the model loader (`ModelConfig(metadata:)`) and the
    /// container (255 planes and levels, alphabets of 65 536) accept.
    static func check(_ c: ModelConfig) throws(TrainingArgumentError) {
        func require(_ ok: Bool, _ sentence: String) throws(TrainingArgumentError) { if !ok { throw TrainingArgumentError(sentence) } }
        try require((1...1024).contains(c.channels), "--channels must be in 1…1024")
        try require((1...1024).contains(c.latentChannels), "--latent must be in 1…1024")
        try require((0...16).contains(c.residualBlocks), "--res-blocks must be in 0…16")
        try require(c.residualBlocks == 0 || (1...1024).contains(c.latentWidth), "--latent-width must be in 1…1024")
        try require((0...16).contains(c.decoderBlocks), "--dec-res-blocks must be in 0…16")
        try require(c.decoderBlocks == 0 || (1...1024).contains(c.decoderWidth), "--dec-width must be in 1…1024")
        switch c.family {
        case .vq:
            try require((1...255).contains(c.stages), "--stages must be in 1…255 (a .vqz file names at most 255 levels)")
            try require((2...65_536).contains(c.codebookSize), "--codebook must be in 2…65536 (the largest alphabet of a .vqz file)")
            try require(c.decay > 0 && c.decay < 1, "--decay must be between 0 and 1")
            try require(c.commitment >= 0 && c.commitment.isFinite, "--commitment must be a non-negative number")
            try require(c.deadThreshold >= 0 && c.deadThreshold.isFinite, "--dead-threshold must be a non-negative number")
            try require(c.lambdas.isEmpty || c.lambdas.count == c.stages, "--lambdas needs \(c.stages) values, one per level")
            try require(c.lambdas.allSatisfy { $0 >= 0 && $0.isFinite }, "--lambdas must be non-negative numbers")
            try require((0...c.stages).contains(c.zeroCodeFrom), "--zero-codes must be a stage in 1…\(c.stages)")
        case .gaussian:
            try require(c.latentChannels <= 255, "--latent must be at most 255 for gaussian models (a .vqz file holds at most 255 planes)")
            try require(c.klWeight >= 0 && c.klWeight.isFinite, "--kl-weight must be a non-negative number")
            try require((1...255).contains(c.quantSteps.count), "--quant-steps must list 1…255 steps (a .vqz file names at most 255 levels)")
            try require(c.quantSteps.allSatisfy { $0 > 0 && $0.isFinite }, "--quant-steps must be positive numbers")
        }
        try require(c.defaultLevel == 0 || c.levels.contains(c.defaultLevel), "--default-level must be a level in 1…\(c.levels.count)")
        // The loader's own verdict, so no check above can drift from it.
        do { _ = try ModelConfig(metadata: Dictionary(c.metadata) { a, _ in a }) } catch {
            throw TrainingArgumentError("the model options would write a model the loader refuses: \(error)")
        }
    }

    /// The recipe, for a run at `step` (0 for a new run).
    static func check(_ o: TrainingOptions, resumedAt step: Int) throws(TrainingArgumentError) {
        func require(_ ok: Bool, _ sentence: String) throws(TrainingArgumentError) { if !ok { throw TrainingArgumentError(sentence) } }
        try require(o.steps > 0, "--steps must be positive")
        try require(o.steps >= step, "--steps must be at least \(step), the step the checkpoint was written at")
        try require(o.batchSize > 0, "--batch must be positive")
        try require(o.crop > 0 && o.crop % 8 == 0, "--crop must be a positive multiple of 8")
        try require(o.learningRate > 0 && o.learningRate.isFinite, "--lr must be a positive number")
        try require(o.finalLearningRate >= 0 && o.finalLearningRate.isFinite, "--final-lr must be a non-negative number")
        try require(o.warmupSteps >= 0 && o.warmupSteps < o.steps,
                    "--steps (\(o.steps)) must be above the warm-up of \(o.warmupSteps) steps" + (o.warmupSteps < 0 ? "; --warmup must not be negative" : ""))
        try require(o.clipNorm > 0 && o.clipNorm.isFinite, "--clip must be a positive number")
        try require(o.klWarmupSteps >= 0, "--kl-warmup must not be negative")
        try require(o.autoencoderSteps >= 0, "--ae-steps must not be negative")
        try require((0...1).contains(o.fullRateFraction), "--full-rate must be in 0…1")
        try require(o.trainingLambda >= 0 && o.trainingLambda.isFinite, "--train-lambda must be a non-negative number")
        try require(o.restartStep >= 0 && o.warmupSteps < o.steps - o.restartStep,
                    "--steps (\(o.steps)) must leave the learning-rate cycle restarted at step \(o.restartStep) more than its warm-up of \(o.warmupSteps) steps")
    }
}
