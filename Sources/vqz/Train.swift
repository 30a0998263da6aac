// `vqz train`: trains a VQ-VAE or a Gaussian VAE on a folder of PNGs, with a configuration table at
// start, one progress line per interval on stderr, an append-only key:value log, periodic
// validation, atomic checkpoints, `--resume`, and a checkpoint on SIGINT.

import ArgumentParser
import Container
import Foundation
import Models
import TensorCore
import Training

/// Set by the SIGINT handler; read between steps.
nonisolated(unsafe) private var interruptRequested: sig_atomic_t = 0

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a vqz model (VQ-VAE or Gaussian VAE baseline).",
        discussion: """
            Reads every PNG in --data (default: $VQZ_TRAIN_DATA, else ../shared/data/train), holds \
            every 25th file out for validation, and trains on seeded random crops with horizontal \
            flips. Writes OUTPUT (the model) at the end and OUTPUT minus .vqzm plus .ckpt.vqzm (the \
            full state) every --checkpoint-every steps and on Ctrl-C; --resume CHECKPOINT continues \
            a run exactly where it stopped. Long runs belong in the background: \
            nohup vqz train ... > train.log 2>&1 &
            """)

    @Option(help: "Model family: vq or gaussian (not needed with --resume).")
    var family: String?

    @Option(name: .customLong("data"), help: "Folder of training PNGs.")
    var dataDirectory: String?

    @Option(name: .shortAndLong, help: "The model file to write (.vqzm).")
    var output: String

    @Option(help: "Resume from this checkpoint (.ckpt.vqzm); the recipe comes from the checkpoint.")
    var resume: String?

    @Option(help: "Training steps (total, including resumed ones).") var steps: Int = 10_000
    @Option(help: "Batch size.") var batch: Int = 8
    @Option(help: "Crop size in pixels (a multiple of 8).") var crop: Int = 128
    @Option(help: "Peak learning rate (Adam).") var lr: Float = 1e-3
    @Option(help: "Final learning rate of the cosine decay.") var finalLr: Float = 1e-5
    @Option(help: "Linear warm-up steps.") var warmup: Int = 200
    @Option(help: "Gradient-norm clipping threshold.") var clip: Float = 1
    @Option(help: "Random seed of every draw.") var seed: UInt64 = 0
    @Option(help: "Hidden channels N.") var channels: Int = 64
    @Option(help: "Latent channels D (the code dimension for vq).") var latent: Int = 32
    @Option(help: "Residual blocks at the latent resolution in encoder and decoder (0: the original backbone).") var resBlocks: Int = 0
    @Option(help: "Channels of the latent-resolution residual blocks (default 2N).") var latentWidth: Int?
    @Option(help: "Autoencoder warm-up (vq): steps before the quantizer is switched on.") var aeSteps: Int = 0
    @Option(help: "Fraction of steps that decode every stage (vq); the rest draw the stage count uniformly.") var fullRate: Float = 0
    @Option(help: "Rate-aware training (vq): λ of the entropy-constrained token choice, with the codebooks' own code probabilities.") var trainLambda: Float = 0
    @Option(help: "Residual quantizer stages (vq): the rate levels.") var stages: Int = 8
    @Option(help: "Codebook size K per stage (vq).") var codebook: Int = 256
    @Option(help: "EMA decay of the codebooks (vq).") var decay: Float = 0.99
    @Option(help: "Commitment weight β (vq).") var commitment: Float = 0.25
    @Option(help: "EMA cluster size below which a code is restarted (vq).") var deadThreshold: Float = 0.1
    @Option(help: "KL weight β (gaussian).") var klWeight: Float = 1
    @Option(help: "KL annealing steps (gaussian).") var klWarmup: Int = 1000
    @Option(help: "Quantization steps of the rate ladder, comma-separated, level 1 first (gaussian).")
    var quantSteps: String = "2,1,0.5,0.25"
    @Option(help: "Per level, the encoder's token-choice trade-off λ recorded in the model, comma-separated, level 1 first (vq; also with --resume).")
    var lambdas: String?
    @Option(help: "Print a progress line every N steps.") var logEvery: Int = 50
    @Option(help: "Validate every N steps.") var validateEvery: Int = 500
    @Option(help: "Write a checkpoint every N steps.") var checkpointEvery: Int = 500
    @Option(help: "Append machine-readable key:value lines to this file.") var log: String?
    @Flag(help: "Store the released model's weights as f16.") var f16 = false
    @Flag(name: .shortAndLong, help: "Overwrite OUTPUT if it exists.") var force = false

    func validate() throws {
        guard resume != nil || family.flatMap(ModelFamily.init(rawValue:)) != nil else { throw ValidationError("--family must be vq or gaussian.") }
        guard crop > 0, crop % 8 == 0 else { throw ValidationError("--crop must be a positive multiple of 8.") }
        guard (0...16).contains(resBlocks), (latentWidth ?? 1) > 0, (latentWidth ?? 1) <= 1024, aeSteps >= 0, (0...1).contains(fullRate), trainLambda >= 0, trainLambda.isFinite else {
            throw ValidationError("--res-blocks must be in 0…16, --latent-width in 1…1024, --ae-steps not negative, --full-rate in 0…1, --train-lambda not negative.")
        }
        guard steps > 0, batch > 0, logEvery > 0, validateEvery > 0, checkpointEvery > 0 else {
            throw ValidationError("--steps, --batch and the intervals must be positive.")
        }
        guard resume != nil || (warmup >= 0 && warmup < steps) else { throw ValidationError("--warmup must be below --steps.") }
        guard output.hasSuffix(".vqzm") else { throw ValidationError("--output must end in .vqzm.") }
        guard quantSteps.split(separator: ",").allSatisfy({ Float($0).map { $0 > 0 } ?? false }) else {
            throw ValidationError("--quant-steps must be positive numbers separated by commas.")
        }
    }

    var checkpointPath: String { String(output.dropLast(".vqzm".count)) + ".ckpt.vqzm" }

    func run() throws {
        try reportingErrors {
            MemoryTuning.keepLargeAllocations()  // each step's large buffers stay mapped (~3–4% of a step)
            if !force, resume == nil, FileManager.default.fileExists(atPath: output) {
                throw RuntimeFailure("\(output): already exists (use -f to overwrite it)")
            }
            var directory = dataDirectory ?? ProcessInfo.processInfo.environment["VQZ_TRAIN_DATA"] ?? "../shared/data/train"
            let trainer: Trainer
            if let resume {
                let file = try ModelFile(bytes: try FileIO.read(resume))
                trainer = try Trainer(resuming: file, overriding: steps)
                // A resumed run reads the data it was started with unless told otherwise.
                if dataDirectory == nil, let recorded = file.stringMetadata["train.data"] { directory = recorded }
            } else {
                var config = ModelConfig(
                    family: ModelFamily(rawValue: family!)!, channels: channels, latentChannels: latent, stages: stages,
                    codebookSize: codebook, decay: decay, commitment: commitment, deadThreshold: deadThreshold,
                    klWeight: klWeight, quantSteps: quantSteps.split(separator: ",").map { Float($0)! })
                config.residualBlocks = resBlocks
                config.latentWidth = resBlocks > 0 ? (latentWidth ?? 2 * channels) : 0
                var options = TrainingOptions()
                options.steps = steps
                options.batchSize = batch
                options.crop = crop
                options.learningRate = lr
                options.finalLearningRate = finalLr
                options.warmupSteps = warmup
                options.clipNorm = clip
                options.seed = seed
                options.klWarmupSteps = klWarmup
                options.autoencoderSteps = aeSteps
                options.fullRateFraction = fullRate
                options.trainingLambda = trainLambda
                trainer = Trainer(config: config, options: options, dataVariance: 0)
            }
            if let lambdas {
                guard trainer.config.family == .vq, let values = try? ModelConfig.lambdas(lambdas, stages: trainer.config.stages) else {
                    throw RuntimeFailure("--lambdas needs \(trainer.config.stages) non-negative numbers separated by commas (vq models)")
                }
                trainer.config.lambdas = values
            }
            let started = Date()
            let (train, validation) = try ImageDataset.load(directory: directory, minSide: trainer.options.crop, holdOutEvery: 25)
            if trainer.dataVariance == 0 {
                var rng = Xoshiro256(seed: trainer.options.seed ^ 0x5EED)
                trainer.setDataVariance(train.pixelVariance(crop: trainer.options.crop, samples: 64, rng: &rng))
            }
            let validationCrop = min(256, validation.images.map { min($0.width, $0.height) }.min() ?? 256) / 8 * 8
            let validationBatch = validation.images.isEmpty ? nil : validation.centerCrops(crop: validationCrop)
            let logFile = try log.map { try LogFile(path: $0) }
            let extra = [("train.data", directory), ("train.images", "\(train.images.count)"),
                         ("train.validation_images", "\(validation.images.count)"), ("git.commit", gitCommit()),
                         ("date", ISO8601DateFormatter().string(from: started))]
            printConfiguration(trainer, directory: directory, trainCount: train.images.count, validationCount: validation.images.count)
            try logFile?.write(["event": "start", "step": "\(trainer.step)"] .merging(Dictionary(uniqueKeysWithValues: trainer.stateMetadata)) { a, _ in a })

            signal(SIGINT) { _ in interruptRequested = 1 }
            var window: [Double] = []
            while trainer.step < trainer.options.steps {
                let report: StepReport
                do { report = try trainer.trainStep(data: train) } catch {
                    printError("vqz: error: \(error)")
                    throw ExitCode(1)
                }
                window.append(report.milliseconds)
                if trainer.step % logEvery == 0 || trainer.step == trainer.options.steps {
                    let ms = window.reduce(0, +) / Double(window.count)
                    window.removeAll()
                    printError(progressLine(report, trainer: trainer, ms: ms))
                    try logFile?.write(logEntry(report, ms: ms))
                }
                if let validationBatch, trainer.step % validateEvery == 0 || trainer.step == trainer.options.steps {
                    let v = trainer.validate(validationBatch)
                    let cells = zip(v.psnr, v.bpp).enumerated().map { "L\($0 + 1) \(fmt($1.1, 3))bpp \(fmt($1.0, 2))dB" }
                    let ceiling = v.ceiling.map { " | unquantized \(fmt($0, 2))dB" } ?? ""
                    printError("validation step \(trainer.step): " + cells.joined(separator: " | ") + ceiling)
                    var entry = ["event": "validation", "step": "\(trainer.step)"]
                    if let c = v.ceiling { entry["psnr_unquantized"] = fmt(c, 3) }
                    for (i, (p, b)) in zip(v.psnr, v.bpp).enumerated() { entry["psnr\(i + 1)"] = fmt(p, 3); entry["bpp\(i + 1)"] = fmt(b, 4) }
                    try logFile?.write(entry)
                }
                if trainer.step % checkpointEvery == 0 || interruptRequested != 0 {
                    try saveCheckpoint(trainer, extra: extra)
                    try logFile?.write(["event": "checkpoint", "step": "\(trainer.step)", "path": checkpointPath])
                }
                if interruptRequested != 0 {
                    printError("interrupted at step \(trainer.step): checkpoint written to \(checkpointPath); continue with --resume \(checkpointPath)")
                    throw ExitCode(130)
                }
            }
            try saveCheckpoint(trainer, extra: extra)
            let wall = Date().timeIntervalSince(started)
            let model = trainer.modelFile(checkpoint: false, dtype: f16 ? .f16 : .f32, extra: extra + [("train.wall_seconds_last_run", "\(Int(wall))")])
            let bytes = try model.serialized()
            try FileIO.writeAtomically(bytes, to: output, overwrite: true)
            try logFile?.write(["event": "done", "step": "\(trainer.step)", "path": output, "bytes": "\(bytes.count)"])
            printError("wrote \(output): \(bytes.count) bytes, model id \(ModelID(modelFile: bytes).hex), \(Int(wall)) s")
        }
    }

    func saveCheckpoint(_ trainer: Trainer, extra: [(String, String)]) throws {
        try FileIO.writeAtomically(try trainer.modelFile(checkpoint: true, extra: extra).serialized(), to: checkpointPath, overwrite: true)
    }

    func printConfiguration(_ t: Trainer, directory: String, trainCount: Int, validationCount: Int) {
        var rows = t.stateMetadata
        rows.append(("data", "\(directory) (\(trainCount) training, \(validationCount) validation images)"))
        rows.append(("parameters", "\(t.parameters.reduce(0) { $0 + $1.value.count })"))
        rows.append(("output", "\(output) (checkpoints: \(checkpointPath))"))
        rows.append(("git.commit", gitCommit()))
        let width = rows.map(\.0.count).max() ?? 0
        printError("vqz train " + (resume != nil ? "(resumed at step \(t.step))" : "(new run)"))
        for (k, v) in rows { printError("  " + k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v) }
    }

    func progressLine(_ r: StepReport, trainer t: Trainer, ms: Double) -> String {
        let total = t.options.steps
        let eta = Double(total - t.step) * ms / 1000
        var line = "step \(String(t.step).leftPad(String(total).count))/\(total) | loss \(fmt(r.loss, 5)) | mse \(fmt(r.mse, 5))"
        if t.config.family == .vq {
            line += " | commit \(fmt(r.auxiliary, 5)) | ppl \(r.perplexity.map { fmt($0, 1) }.joined(separator: ","))"
            line += " | dead \(r.deadCodes.map(String.init).joined(separator: ","))"
        } else {
            line += " | kl \(fmt(r.auxiliary, 1)) nats/img"
        }
        line += " | lr \(String(format: "%.2e", r.learningRate)) | \(fmt(ms, 0)) ms/step | ETA \(formatDuration(eta))"
        return line
    }

    func logEntry(_ r: StepReport, ms: Double) -> [String: String] {
        var e = ["event": "step", "step": "\(r.step + 1)", "loss": fmt(r.loss, 6), "mse": fmt(r.mse, 6),
                 "aux": fmt(r.auxiliary, 6), "lr": String(format: "%.3e", r.learningRate), "gnorm": fmt(r.gradientNorm, 4),
                 "ms": fmt(ms, 1)]
        if !r.perplexity.isEmpty {
            e["ppl"] = r.perplexity.map { fmt($0, 2) }.joined(separator: ",")
            e["dead"] = r.deadCodes.map(String.init).joined(separator: ",")
        }
        return e
    }
}

/// An append-only log of `key:value` tokens, one event per line.
final class LogFile {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RuntimeFailure("\(path): cannot be opened for writing (\(String(cString: strerror(errno))))") }
    }

    deinit { close(fd) }

    /// Appends one event; a failed write (a full disk) throws, naming the log.
    func write(_ fields: [String: String]) throws {
        let ordered = fields.sorted { a, b in a.key == "event" || (b.key != "event" && a.key < b.key) }
        let line = ordered.map { "\($0.key):\($0.value.replacingOccurrences(of: " ", with: "_"))" }.joined(separator: " ")
        try FileIO.write(Array((line + "\n").utf8), toDescriptor: fd, name: path)
    }
}

func fmt(_ v: Float, _ decimals: Int) -> String { String(format: "%.\(decimals)f", v) }
func fmt(_ v: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", v) }

func formatDuration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", s / 60 % 60))m" : "\(s / 60)m\(String(format: "%02d", s % 60))s"
}

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

/// The short commit of the repository the command runs in, or "unknown".
func gitCommit() -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["git", "rev-parse", "--short", "HEAD"]
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return "unknown" }
    p.waitUntilExit()
    let s = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    return p.terminationStatus == 0 && !s.isEmpty ? s : "unknown"
}
