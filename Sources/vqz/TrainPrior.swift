// `vqz train-prior -m MODEL`: fit the token prior of a VQ model on the frozen tokens of the training
// images and write NAME.vqzp beside the model (docs/design/prior.md). Prints, per stage, what the
// prior saves on the held-out images against zstd, the coder `--entropy zstd` uses.

import ArgumentParser
import Codec
import Container
import Foundation
import Imaging
import TokenPrior

struct TrainPrior: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-prior",
        abstract: "Train the token prior of a VQ model (for vqz encode --entropy prior).",
        discussion: """
            Encodes the training PNGs (--data, default $VQZ_TRAIN_DATA, else ../shared/data/train) at \
            the model's top level, holds every 25th file out, fits one small network per quantizer \
            stage on the others and writes it, in integer form, to MODEL.vqzp beside the model (or \
            -o). The report compares, on the held-out images, the prior's coded bytes with zstd's.

            Examples:
              vqz train-prior -m rvqvae-k256-d32-f8-v3z
              vqz train-prior -m my.vqzm --epochs 2 -o /tmp/my.vqzp
              vqz train-prior -m v9.vqzm --initial v8.vqzp --lr 0.0005 --epochs 2   (the prior of the model v9 was trained from, fine-tuned)
            """)

    @Option(name: .shortAndLong, help: "A VQ model name from `vqz models` or a path to a .vqzm file (default: the default model).")
    var model: String?
    @Option(help: "Folder of training PNGs.") var data: String?
    @Option(name: .shortAndLong, help: "The prior file to write (default: the model's path with .vqzp).") var output: String?
    @Option(help: "Hidden units per stage (8…512).") var hidden = 64
    @Option(help: "Epochs per stage.") var epochs = 4
    @Option(help: "Training examples per stage and epoch.") var samples = 400_000
    @Option(help: "Use every n-th training image (1: all).") var every = 1
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "A prior file to start from (e.g. the prior of the model this one was trained from): each stage begins from its weights and keeps them unless an epoch does better on the held-out images. Its hidden size is used.")
    var initial: String?
    @Option(help: "Adam's learning rate at the start of each stage, cosine down to a tenth of it (0.0005 suits --initial).")
    var lr: Float = 2e-3
    @Flag(name: .shortAndLong, help: "Overwrite the output if it exists.") var force = false

    func validate() throws {
        guard (8...512).contains(hidden) else { throw ValidationError("--hidden must be 8 … 512, not \(hidden).") }
        guard (1...100).contains(epochs) else { throw ValidationError("--epochs must be 1 … 100, not \(epochs).") }
        guard samples >= 1024 else { throw ValidationError("--samples must be at least 1024, not \(samples).") }
        guard every >= 1 else { throw ValidationError("--every must be at least 1, not \(every).") }
        guard lr > 0, lr < 1 else { throw ValidationError("--lr must be in (0, 1), not \(lr).") }
    }

    func run() throws {
        try reportingErrors {
            let entry = try ModelRegistry.standard().resolveOrDefault(model)
            let loaded = try LoadedModel(path: entry.path)
            guard let vq = loaded.vq else { throw CodecError("\(loaded.name) is a Gaussian model; the token prior is for VQ models") }
            let out = output ?? Streams.replacingExtension(entry.path, ".vqzm", with: PriorFile.fileExtension)
            try Streams.checkOutput(out, input: entry.path, overwrite: force)
            var initialPrior: IntegerPrior?
            if let initial {
                let file: PriorFile
                do { file = try PriorFile(bytes: try Streams.read(initial, maxBytes: 1 << 28)) } catch let e as PriorFile.ReadError {
                    throw CodecError("\(initial): \(e)")
                }
                guard file.codebookSize == vq.quantizer.codebookSize, file.latentChannels == vq.quantizer.dimension else {
                    throw CodecError("\(initial) is a prior for K \(file.codebookSize), D \(file.latentChannels); \(loaded.name) has K \(vq.quantizer.codebookSize), D \(vq.quantizer.dimension)")
                }
                initialPrior = file.prior(codebooks: vq.quantizer.codebooks.map { $0.scalars })
            }
            let hidden = initialPrior?.hidden ?? self.hidden
            let dir = data ?? ProcessInfo.processInfo.environment["VQZ_TRAIN_DATA"] ?? "../shared/data/train"
            let names: [String]
            do { names = try PNGFolder.names(in: dir) } catch { throw CodecError("\(error)") }
            guard !names.isEmpty else { throw CodecError("no PNG files in \(dir)") }
            let top = loaded.levels.last!
            var train: [TokenGrid] = [], heldOut: [TokenGrid] = []
            let started = Date()
            for (i, name) in names.enumerated() where i % 25 == 0 || i % every == 0 {
                let path = (dir as NSString).appendingPathComponent(name)
                let (image, _) = try decodePNG(try Streams.read(path, maxBytes: Streams.maxInputBytes), name: path)
                // Every level's tokens: the encoder's token choice (its λ) differs by level.
                let f = loaded.config.downsampleFactor
                let (gh, gw) = (BitstreamHeader.gridSize(image.height, factor: f), BitstreamHeader.gridSize(image.width, factor: f))
                for planes in try ImageCodec.tokenPlanes(image, model: loaded, levels: loaded.levels) {
                    let grid = TokenGrid(planes: planes, height: gh, width: gw)
                    if i % 25 == 0 { heldOut.append(grid) } else { train.append(grid) }
                }
            }
            printError("tokens of \(train.count / top) training and \(heldOut.count / top) held-out images at levels 1…\(top) in \(Int(Date().timeIntervalSince(started))) s")
            guard !train.isEmpty, !heldOut.isEmpty else { throw CodecError("\(dir) needs at least 26 PNG files (every 25th is held out)") }

            var options = PriorTrainingOptions()
            options.hidden = hidden
            options.epochs = epochs
            options.samplesPerEpoch = samples
            options.seed = seed
            options.lr = lr
            options.finalLR = lr / 10
            options.initial = initialPrior
            let codebooks = vq.quantizer.codebooks.map { $0.scalars }
            let trainer = PriorTrainer(codebooks: codebooks, codebookSize: vq.quantizer.codebookSize,
                                       latentChannels: vq.quantizer.dimension, grids: train, options: options)
            let (prior, reports) = trainer.train(grids: train, validation: heldOut) { printError($0) }

            // Held-out report, per level: the level's token planes coded by zstd (level 19, one frame
            // per plane) and by the prior; decoding must give the tokens back.
            print("level | zstd bits/token | prior ideal | prior coded | saving")
            for level in 1...top {
                var zstdBytes = 0, priorBytes = 0, ideal = 0.0, tokens = 0
                for g in heldOut where g.level == level {
                    tokens += g.height * g.width
                    let streams = prior.encode(planes: g.planes, height: g.height, width: g.width)
                    let back = try prior.decode(streams: streams.map { $0[...] }, height: g.height, width: g.width)
                    guard back == g.planes else { throw CodecError("the prior's decoder did not give back the encoded tokens") }
                    ideal += prior.codeLength(planes: g.planes, height: g.height, width: g.width).reduce(0, +)
                    priorBytes += streams.map(\.count).reduce(0, +)
                    for plane in g.planes { zstdBytes += try Zstd.compress(plane.map { UInt8(truncatingIfNeeded: $0) }, level: 19).count }
                }
                let z = Double(zstdBytes * 8) / Double(tokens), p = Double(priorBytes * 8) / Double(tokens)
                print(String(format: "%5d | %15.3f | %11.3f | %11.3f | %5.1f %%", level, z, ideal / Double(tokens), p, 100 * (1 - p / z)))
            }
            _ = reports
            let file = PriorFile(modelID: loaded.id, modelName: loaded.name, codebookSize: prior.codebookSize,
                                 latentChannels: prior.latentChannels, hidden: prior.hidden, inputShift: prior.inputShift,
                                 stages: prior.stages, provenance: [
                                    ("train.data", dir), ("train.images", "\(train.count)"), ("train.epochs", "\(epochs)"),
                                    ("train.samples", "\(samples)"), ("train.seed", "\(seed)"), ("train.lr", "\(lr)"),
                                 ] + (initial.map { [("train.initial", ($0 as NSString).lastPathComponent)] } ?? []))
            let bytes: [UInt8]
            do { bytes = try file.serialized() } catch { throw CodecError("cannot write the prior: \(error)") }
            try Streams.write(bytes, to: out, overwrite: force)
            printError("wrote \(out) (\(bytes.count) bytes) in \(Int(Date().timeIntervalSince(started))) s")
        }
    }
}
