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

            Examples:
              vqz train --family vq -o my.vqzm --steps 8000            (the two-hour recipe, codecs/README.md)
              vqz train --resume my.ckpt.vqzm -o my.vqzm              (go on after Ctrl-C)
              vqz train --resume my.ckpt.vqzm -o my.vqzm --steps 20000 (train longer)
            """)

    @Option(help: "Model family: vq or gaussian (not needed with --resume).")
    var family: String?

    @Option(name: .customLong("data"), help: "Folder of training PNGs (with --resume: the checkpoint's folder).")
    var dataDirectory: String?

    @Option(name: .shortAndLong, help: "The model file to write (.vqzm).")
    var output: String

    @Option(help: """
        Resume from this checkpoint (.ckpt.vqzm). Every option not given comes from the checkpoint; \
        --steps, --lr, --final-lr, --clip, --train-lambda, --lambdas, --zero-codes, --default-level and --quant-steps may change, the others may not; \
        --restart starts a new learning-rate cycle.
        """)
    var resume: String?
    @Option(name: .customLong("init-from"), help: ArgumentHelp("""
        A new run that starts from this model's or checkpoint's weights (same family and N; its latent \
        may have fewer channels and its quantizer fewer stages: the network grows around them).
        """, valueName: "MODEL"))
    var initFrom: String?
    @Flag(help: """
        With --resume: a warm restart. A new learning-rate cycle (the run's warm-up to --lr, cosine to \
        --final-lr) runs from the checkpoint's step to --steps, instead of the rest of the recorded one.
        """)
    var restart = false
    @Flag(help: """
        With --resume (vq): decoder tuning. The encoder and codebooks stay frozen (the model writes the \
        checkpoint's tokens, so its token prior still fits) and the decoder learns from the tokens \
        `vqz encode` chooses (each level's λ, zero codes, refinement) instead of the nearest codes.
        """)
    var tuneDecoder = false
    @Flag(inversion: .prefixedNo, help: """
        (vq) Train the whole model on the tokens `vqz encode` writes at the drawn level (its λ from \
        --lambdas, zero codes, refinement) instead of the nearest codes: the commitment pulls the encoder \
        toward them and the codebooks learn as entropy-constrained VQ (off by default; may change on resume).
        """)
    var codecTokens: Bool?

    @Flag(help: "With --resume: accept a training folder whose PNG files differ from the recorded ones.")
    var allowDataChange = false

    // Recipe and model options: nil when not given (defaults for a new run, the checkpoint's on resume).
    @Option(help: "Training steps (total, including resumed ones; default 10000).") var steps: Int?
    @Option(help: "Batch size (default 8).") var batch: Int?
    @Option(help: "Crop size in pixels, a multiple of 8 (default 128).") var crop: Int?
    @Option(help: "Peak learning rate of Adam (default 0.001).") var lr: Float?
    @Option(help: "Final learning rate of the cosine decay (default 1e-5).") var finalLr: Float?
    @Option(help: "Linear warm-up steps (default 200).") var warmup: Int?
    @Option(help: "Gradient-norm clipping threshold (default 1).") var clip: Float?
    @Option(help: "Random seed of every draw (default 0).") var seed: UInt64?
    @Option(help: "Hidden channels N (default 64; 1…1024).") var channels: Int?
    @Option(help: "Latent channels D, the code dimension for vq (default 32; 1…1024, at most 255 for gaussian).") var latent: Int?
    @Option(help: "Residual blocks at the latent resolution in encoder and decoder (default 0: the original backbone; 0…16).") var resBlocks: Int?
    @Option(help: "Channels of the latent-resolution residual blocks (default 2N).") var latentWidth: Int?
    @Option(help: "Residual blocks at the latent resolution in the decoder only (default 0; 0…16; not with --res-blocks). Added to a model without them (--init-from, or --resume to go on with its optimizer state), they start as the identity.") var decResBlocks: Int?
    @Option(help: "Channels of the decoder-only blocks (default D, the latent channels).") var decWidth: Int?
    @Option(help: "Autoencoder warm-up (vq): steps before the quantizer is switched on (default 0).") var aeSteps: Int?
    @Option(help: "Fraction of steps that decode every stage (vq); the rest draw the stage count uniformly (default 0).") var fullRate: Float?
    @Option(help: "Rate-aware training (vq): λ of the entropy-constrained token choice, with the codebooks' own code probabilities (default 0; may change on resume).")
    var trainLambda: Float?
    @Option(help: "Residual quantizer stages (vq): the rate levels (default 8; 1…255).") var stages: Int?
    @Option(help: "Codebook size K per stage (vq; default 256; 2…65536).") var codebook: Int?
    @Option(help: "EMA decay of the codebooks (vq; default 0.99).") var decay: Float?
    @Option(help: "Commitment weight β (vq; default 0.25).") var commitment: Float?
    @Option(help: "EMA cluster size below which a code is restarted (vq; default 0.1).") var deadThreshold: Float?
    @Option(help: "KL weight β (gaussian; default 1).") var klWeight: Float?
    @Option(help: "KL annealing steps (gaussian; default 1000).") var klWarmup: Int?
    @Option(help: "Quantization steps of the rate ladder, comma-separated, level 1 first, in units of each channel's posterior σ measured on the held-out images when the model is written (gaussian; default 2,1,0.5,0.25; also with --resume).")
    var quantSteps: String?
    @Option(help: "Per level, the encoder's token-choice trade-off λ recorded in the model, comma-separated, level 1 first (vq; also with --resume).")
    var lambdas: String?
    @Option(name: .customLong("zero-codes"), help: "Zero codes (vq): stages from this one (1-based) on get the zero vector as their last code, a skip token for the encoder's token choice (also with --resume: adds them to a trained model).")
    var zeroCodes: Int?
    @Option(help: "The level `vqz encode` uses without -q or --target-bpp, recorded in the model (default: the middle level; also with --resume).")
    var defaultLevel: Int?
    @Option(help: "Print a progress line every N steps.") var logEvery: Int = 50
    @Option(help: "Validate every N steps.") var validateEvery: Int = 500
    @Option(help: "Write a checkpoint every N steps.") var checkpointEvery: Int = 500
    @Option(help: "Append machine-readable key:value lines to this file.") var log: String?
    @Flag(help: "Store the released model's weights as f16.") var f16 = false
    @Flag(name: .shortAndLong, help: "Overwrite OUTPUT if it exists.") var force = false

    /// The options as given, for the library (`TrainingArguments`).
    func arguments() throws -> TrainingArguments {
        var a = TrainingArguments()
        if let family {
            guard let f = ModelFamily(rawValue: family) else { throw ValidationError("--family must be vq or gaussian.") }
            a.family = f
        }
        a.channels = channels
        a.latentChannels = latent
        a.residualBlocks = resBlocks
        a.latentWidth = latentWidth
        a.decoderBlocks = decResBlocks
        a.decoderWidth = decWidth
        a.stages = stages
        a.codebookSize = codebook
        a.decay = decay
        a.commitment = commitment
        a.deadThreshold = deadThreshold
        a.klWeight = klWeight
        if let quantSteps {
            let values = quantSteps.split(separator: ",", omittingEmptySubsequences: false).map { Float($0) }
            guard values.allSatisfy({ $0 != nil }) else { throw ValidationError("--quant-steps must be numbers separated by commas.") }
            a.quantSteps = values.map { $0! }
        }
        if let lambdas {
            let values = lambdas.split(separator: ",", omittingEmptySubsequences: false).map { Float($0) }
            guard values.allSatisfy({ $0 != nil }) else { throw ValidationError("--lambdas must be numbers separated by commas.") }
            a.lambdas = values.map { $0! }
        }
        a.steps = steps
        a.batchSize = batch
        a.crop = crop
        a.learningRate = lr
        a.finalLearningRate = finalLr
        a.warmupSteps = warmup
        a.clipNorm = clip
        a.seed = seed
        a.klWarmupSteps = klWarmup
        a.autoencoderSteps = aeSteps
        a.fullRateFraction = fullRate
        a.trainingLambda = trainLambda
        a.zeroCodeFrom = zeroCodes
        a.defaultLevel = defaultLevel
        a.restart = restart
        a.tuneDecoder = tuneDecoder
        a.codecTokens = codecTokens
        return a
    }

    func validate() throws {
        guard output.hasSuffix(".vqzm") else { throw ValidationError("--output must end in .vqzm.") }
        guard logEvery > 0, validateEvery > 0, checkpointEvery > 0 else { throw ValidationError("The intervals must be positive.") }
        guard resume != nil || !restart else { throw ValidationError("--restart applies to --resume only.") }
        guard resume != nil || !tuneDecoder else { throw ValidationError("--tune-decoder applies to --resume only.") }
        guard resume != nil || !allowDataChange else { throw ValidationError("--allow-data-change applies to --resume only.") }
        guard resume == nil || initFrom == nil else { throw ValidationError("--init-from starts a new run; it cannot be combined with --resume.") }
        let given = try arguments()
        // A new run is checked completely here; a resumed one once the checkpoint is read.
        if resume == nil {
            do { _ = try given.newRun() } catch { throw ValidationError(error.description.prefix(1).uppercased() + error.description.dropFirst() + ".") }
        }
    }

    var checkpointPath: String { String(output.dropLast(".vqzm".count)) + ".ckpt.vqzm" }

    func run() throws {
        try reportingErrors {
            MemoryTuning.keepLargeAllocations()  // each step's large buffers stay mapped (~3–4% of a step)
            OneDNNConvolution.Backend.current = OneDNNConvolution.Backend.trainingDefault  // before any layer runs
            if !force, resume == nil, FileManager.default.fileExists(atPath: output) {
                throw RuntimeFailure("\(output): already exists (use -f to overwrite it)")
            }
            var directory = dataDirectory ?? ProcessInfo.processInfo.environment["VQZ_TRAIN_DATA"] ?? "../shared/data/train"
            let given = try arguments()
            let trainer: Trainer
            var warmStartMetadata: [(String, String)] = []
            if let resume {
                let file = try ModelFile(bytes: try FileIO.read(resume))
                do { trainer = try given.resume(file) } catch let error as TrainingArgumentError {
                    printError("vqz: error: \(error)")
                    throw ExitCode(64)
                }
                // A resumed run reads the data it was started with unless told otherwise, and checks
                // that the folder still holds the same files.
                let recorded = file.stringMetadata
                if let origin = recorded["train.init_from"] { warmStartMetadata = [("train.init_from", origin)] }
                if dataDirectory == nil, let folder = recorded["train.data"] { directory = folder }
                if let digest = recorded["train.data_digest"], !allowDataChange {
                    let now = try ImageDataset.fingerprint(directory: directory)
                    if now.digest != digest {
                        throw RuntimeFailure("\(directory): the PNG files differ from those the checkpoint was trained on (\(recorded["train.data_files"] ?? "?") recorded, \(now.files) now, or renamed or resized); pass --allow-data-change to resume with them")
                    }
                }
            } else {
                let (config, options) = try given.newRun()
                trainer = Trainer(config: config, options: options, dataVariance: 0)
                if let initFrom {
                    let source = try FileIO.read(initFrom)
                    let file: ModelFile
                    do { file = try ModelFile(bytes: source) } catch { throw RuntimeFailure("\(initFrom): \(error)") }
                    let w: Trainer.WarmStart
                    do { w = try trainer.warmStart(from: file) } catch { throw RuntimeFailure("\(initFrom): \(error)") }
                    warmStartMetadata = [("train.init_from", ModelID(modelFile: source).hex)]
                    printError("warm start from \(initFrom): \(w.copied) tensors copied, \(w.grown.count) grown (\(w.grown.joined(separator: ", "))), \(w.added.count) added as the identity, \(w.stages) quantizer stages")
                }
            }
            let started = Date()
            let (train, validation) = try ImageDataset.load(directory: directory, minSide: trainer.options.crop, holdOutEvery: 25)
            if trainer.dataVariance == 0 {
                var rng = Xoshiro256(seed: trainer.options.seed ^ 0x5EED)
                trainer.setDataVariance(train.pixelVariance(crop: trainer.options.crop, samples: 64, rng: &rng))
            }
            let fingerprint = try ImageDataset.fingerprint(directory: directory)
            let commit = SourceRevision.commit()
            let session = TrainingRun(trainer: trainer, train: train, validation: validation, checkpointPath: checkpointPath, outputPath: output)
            session.logEvery = logEvery
            session.validateEvery = validateEvery
            session.checkpointEvery = checkpointEvery
            session.dtype = f16 ? .f16 : .f32
            session.metadata = [("train.data", directory), ("train.data_files", "\(fingerprint.files)"), ("train.data_digest", fingerprint.digest),
                                ("train.images", "\(train.images.count)"), ("train.validation_images", "\(validation.images.count)"),
                                ("git.commit", commit), ("date", ISO8601DateFormatter().string(from: started))] + warmStartMetadata
            let logFile = try log.map { try LogFile(path: $0) }
            printConfiguration(trainer, directory: directory, trainCount: train.images.count, validationCount: validation.images.count, commit: commit)
            try logFile?.write(["event": "start", "step": "\(trainer.step)"] .merging(Dictionary(uniqueKeysWithValues: trainer.stateMetadata)) { a, _ in a })

            signal(SIGINT) { _ in interruptRequested = 1 }
            let outcome = try session.run(started: started, interrupted: { interruptRequested != 0 }) { event in
                switch event {
                case let .progress(report, ms):
                    printError(progressLine(report, trainer: trainer, ms: ms))
                    try logFile?.write(logEntry(report, ms: ms))
                case let .validation(v):
                    let cells = zip(v.psnr, v.bpp).enumerated().map { "L\($0 + 1) \(fmt($1.1, 3))bpp \(fmt($1.0, 2))dB" }
                    let ceiling = v.ceiling.map { " | unquantized \(fmt($0, 2))dB" } ?? ""
                    printError("validation step \(trainer.step): " + cells.joined(separator: " | ") + ceiling)
                    var entry = ["event": "validation", "step": "\(trainer.step)"]
                    if let c = v.ceiling { entry["psnr_unquantized"] = fmt(c, 3) }
                    for (i, (p, b)) in zip(v.psnr, v.bpp).enumerated() { entry["psnr\(i + 1)"] = fmt(p, 3); entry["bpp\(i + 1)"] = fmt(b, 4) }
                    try logFile?.write(entry)
                case let .checkpoint(path):
                    try logFile?.write(["event": "checkpoint", "step": "\(trainer.step)", "path": path])
                }
            }
            switch outcome {
            case let .interrupted(step):
                printError("interrupted at step \(step): checkpoint written to \(checkpointPath); continue with --resume \(checkpointPath)")
                throw ExitCode(130)
            case let .finished(bytes, id):
                try logFile?.write(["event": "done", "step": "\(trainer.step)", "path": output, "bytes": "\(bytes)"])
                printError("wrote \(output): \(bytes) bytes, model id \(id.hex), \(Int(Date().timeIntervalSince(started))) s")
            }
        }
    }

    func printConfiguration(_ t: Trainer, directory: String, trainCount: Int, validationCount: Int, commit: String) {
        var rows = t.stateMetadata
        rows.append(("data", "\(directory) (\(trainCount) training, \(validationCount) validation images)"))
        rows.append(("parameters", "\(t.parameters.reduce(0) { $0 + $1.value.count })"))
        rows.append(("output", "\(output) (checkpoints: \(checkpointPath))"))
        rows.append(("git.commit", commit))
        let backend = OneDNNConvolution.Backend.current
        rows.append(("convolutions", "\(backend.rawValue)" + (ProcessInfo.processInfo.environment["VQZ_CONV"] == nil
            ? (backend == .onednnBF16 ? " (the CPU computes bf16 natively; VQZ_CONV=onednn for f32)" : " (VQZ_CONV chooses: engine, onednn, onednn-bf16)") : " (VQZ_CONV)")))
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
