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
    public convenience init(resuming file: ModelFile, overriding steps: Int? = nil) throws {
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
        func float(_ key: String) throws -> Float {
            guard let v = metadata[key].flatMap(Float.init) else { throw TrainingError("the checkpoint lacks \(key)") }
            return v
        }
        options.steps = try steps ?? int("train.steps")
        options.batchSize = try int("train.batch")
        options.crop = try int("train.crop")
        options.learningRate = try float("train.lr")
        options.finalLearningRate = try float("train.final_lr")
        options.warmupSteps = try int("train.warmup")
        options.clipNorm = try float("train.clip_norm")
        options.klWarmupSteps = try int("train.kl_warmup")
        options.autoencoderSteps = metadata["train.ae_steps"] == nil ? 0 : try int("train.ae_steps")  // absent before v3
        options.fullRateFraction = metadata["train.full_rate_fraction"] == nil ? 0 : try float("train.full_rate_fraction")
        options.trainingLambda = metadata["train.ecvq_lambda"] == nil ? 0 : try float("train.ecvq_lambda")
        guard let seed = metadata["train.seed"].flatMap(UInt64.init) else { throw TrainingError("the checkpoint lacks train.seed") }
        options.seed = seed
        self.init(config: config, options: options, dataVariance: try float("train.data_variance"))
        var tensors: [String: Tensor] = [:]
        for a in file.arrays {
            guard let floats = a.floats else { continue }
            tensors[a.name] = Tensor(shape: a.shape, scalars: floats)
        }
        try restore(tensors: tensors, metadata: metadata)
    }
}
