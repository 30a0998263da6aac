// The training loop around a Trainer: steps until the recipe's total, progress every `logEvery`
// steps (mean milliseconds over the interval), validation every `validateEvery` steps, an atomic
// checkpoint every `checkpointEvery` steps and when interrupted, and the released model at the end.
// The caller (the CLI, a test) decides what to print and log from the events.

import Container
import Foundation
import TensorCore

/// One training run from a trainer's current step to its total.
public final class TrainingRun {
    /// What happened, in order.
    public enum Event {
        /// A progress point: the last step's report and the mean step time since the previous one.
        case progress(StepReport, milliseconds: Double)
        case validation(ValidationReport)
        /// A checkpoint was written at the trainer's current step.
        case checkpoint(path: String)
    }

    /// How the run ended.
    public enum Outcome: Equatable {
        /// The total was reached: the checkpoint and the released model are written.
        case finished(modelBytes: Int, modelID: ModelID)
        /// `interrupted()` returned true: a checkpoint at the current step is written.
        case interrupted(step: Int)
    }

    public let trainer: Trainer
    public let train: ImageDataset
    /// Center crops of the validation images, or nil to skip validation.
    public let validationBatch: Tensor?
    public var logEvery = 50
    public var validateEvery = 500
    public var checkpointEvery = 500
    /// Where checkpoints and the released model go.
    public let checkpointPath: String
    public let outputPath: String
    /// Extra metadata written into both (data folder, commit, date …).
    public var metadata: [(String, String)] = []
    /// Storage of the released model's weights.
    public var dtype: ModelFile.DType = .f32

    public init(trainer: Trainer, train: ImageDataset, validation: ImageDataset, checkpointPath: String, outputPath: String) {
        self.trainer = trainer
        self.train = train
        let crop = min(256, validation.images.map { min($0.width, $0.height) }.min() ?? 256) / 8 * 8
        validationBatch = validation.images.isEmpty || crop == 0 ? nil : validation.centerCrops(crop: crop)
        self.checkpointPath = checkpointPath
        self.outputPath = outputPath
    }

    /// Trains to the end of the recipe, or until `interrupted()` is true after a step.
    ///
    /// - Parameters:
    ///   - started: when this run (this process) started, for the wall time recorded in the model.
    ///   - event: called for each event; an error it throws ends the run.
    /// - Throws: `TrainingError` (a non-finite loss), file errors, or what `event` throws.
    public func run(started: Date = Date(), interrupted: () -> Bool = { false }, event: (Event) throws -> Void) throws -> Outcome {
        var window: [Double] = []
        let total = trainer.options.steps
        while trainer.step < total {
            let report = try trainer.trainStep(data: train)
            window.append(report.milliseconds)
            if trainer.step % logEvery == 0 || trainer.step == total {
                try event(.progress(report, milliseconds: window.reduce(0, +) / Double(window.count)))
                window.removeAll()
            }
            if let validationBatch, trainer.step % validateEvery == 0 || trainer.step == total {
                try event(.validation(trainer.validate(validationBatch)))
            }
            let stop = interrupted()
            if trainer.step % checkpointEvery == 0 || stop {
                try writeCheckpoint()
                try event(.checkpoint(path: checkpointPath))
            }
            if stop { return .interrupted(step: trainer.step) }
        }
        try writeCheckpoint()
        // A Gaussian model's quantization follows its posterior: per-channel step scales (and the
        // inactive channels) measured on the held-out images (ModelConfig.channelScales).
        if let validationBatch, let (scales, _) = trainer.gaussianChannelScales(validationBatch) {
            trainer.config.channelScales = scales
        }
        let wall = Date().timeIntervalSince(started)
        let model = try trainer.modelFile(checkpoint: false, dtype: dtype, extra: metadata + [("train.wall_seconds_last_run", "\(Int(wall))")]).serialized()
        try FileIO.writeAtomically(model, to: outputPath, overwrite: true)
        return .finished(modelBytes: model.count, modelID: ModelID(modelFile: model))
    }

    func writeCheckpoint() throws {
        try FileIO.writeAtomically(try trainer.modelFile(checkpoint: true, extra: metadata).serialized(), to: checkpointPath, overwrite: true)
    }
}
