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
    public convenience init(resuming file: ModelFile, options: TrainingOptions) throws {
        let (config, _) = try Self.recordedRun(file)
        guard options.warmupSteps >= 0, options.steps > options.warmupSteps else {
            throw TrainingError("the run needs more steps (\(options.steps)) than its warm-up (\(options.warmupSteps))")
        }
        self.init(config: config, options: options, dataVariance: try Self.float("train.data_variance", file.stringMetadata))
        var tensors: [String: Tensor] = [:]
        for a in file.arrays {
            guard let floats = a.floats else { continue }
            tensors[a.name] = Tensor(shape: a.shape, scalars: floats)
        }
        try restore(tensors: tensors, metadata: file.stringMetadata)
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
        guard let seed = metadata["train.seed"].flatMap(UInt64.init) else { throw TrainingError("the checkpoint lacks train.seed") }
        options.seed = seed
        return (config, options)
    }

    /// The step a checkpoint was written at.
    public static func recordedStep(_ file: ModelFile) throws -> Int {
        guard let s = file.stringMetadata["train.step"].flatMap(Int.init), s >= 0 else { throw TrainingError("the checkpoint has no train.step") }
        return s
    }

    static func float(_ key: String, _ metadata: [String: String]) throws -> Float {
        guard let v = metadata[key].flatMap(Float.init) else { throw TrainingError("the checkpoint lacks \(key)") }
        return v
    }
}
