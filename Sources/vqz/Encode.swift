// `vqz encode IN.png [-o OUT.vqz] [-m MODEL] [-q LEVEL | --target-bpp X] [-f] [--quiet | -v] [--json]`:
// a PNG (any colour type and depth) to a .vqz file, with a cwebp-style summary on stderr; with
// several inputs, folders or --files-from, a batch (Batch.swift).

import ArgumentParser
import Codec
import Container
import Foundation
import Imaging
import TensorCore
import Metrics

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compress PNG images into .vqz files.",
        discussion: """
            The model is found by name among the model folders (see `vqz models`) or given as a path \
            to a .vqzm file; without -m the default model is used. Level 1 is the smallest file; \
            without -q or --target-bpp the model's default level is used (its middle level unless it names one). Gray images come back gray, alpha is \
            kept losslessly, and 16-bit images are reduced to 8 bits. Large images are coded in \
            tiles, so memory stays bounded. Use - for stdin or stdout (one image).

            Several images, folders (-r: with their sub-folders) or --files-from LIST make a batch: \
            the model is loaded once, files run in parallel (-j), outputs go under -o DIR (created; \
            default: beside each input), existing outputs are skipped unless -f (an interrupted batch \
            resumes), a bad file is named and the rest go on (exit status 1 at the end).

            Examples:
              vqz encode photo.png                      (photo.vqz, the default level)
              vqz encode photo.png -q 8 -o photo.vqz    (a higher level: more bytes, more detail)
              vqz encode photo.png --target-bpp 0.5     (the best level within 0.5 bits per pixel)
              vqz encode -r photos/ -o out/ -j 2        (a folder tree, two files at a time)
              vqz encode --files-from list.txt --shard 0/4 -o out/ --manifest shard0.jsonl
            """)

    @Argument(help: "PNG images or folders of them, or - for stdin (one image).") var inputs: [String] = []
    @Option(name: .shortAndLong, help: "The .vqz file to write, or - for stdout; with several inputs, the folder to write into (default: beside each input).")
    var output: String?
    @Option(name: .shortAndLong, help: "A model name from `vqz models` or a path to a .vqzm file.") var model: String?
    @Option(name: [.customShort("q"), .customLong("level")], help: "The rate level (1 = smallest file).") var level: Int?
    @Option(help: "Use the largest level whose file is at most this many bits per pixel.") var targetBpp: Double?
    @Option(help: "VQ models: the rate–distortion trade-off λ of the token choice (0: nearest codes; default: the model's per-level setting).")
    var lambda: Float?
    @Option(help: "VQ models: sweeps of token refinement after the greedy stage-by-stage search, each re-choosing every stage's token with the others fixed (0: greedy; each sweep costs about one more search).")
    var refine: Int = ImageCodec.defaultRefine
    @Option(help: "VQ models: token paths kept per position by the search through the stages (1: greedy, stage by stage; more: better files, slower encoding).")
    var beam: Int = ImageCodec.defaultBeam
    @Flag(name: .shortAndLong, help: "Overwrite outputs that exist (a batch otherwise skips them).") var force = false
    @Flag(name: [.customShort("s"), .long], help: "Print nothing on success.") var quiet = false
    @Flag(name: .shortAndLong, help: "Also decode the result and report its PSNR; in a batch, a line per file.") var verbose = false
    @Flag(help: "Print the summary as one JSON object on stdout (PSNR included); in a batch, one JSON line per file.") var json = false
    @Option(help: "Refuse images with more pixels than this, before reading them.")
    var maxPixels: Int = PNGDecoder.defaultMaxPixels
    @Option(help: "The PNG metadata to keep: none; icc (the colour profile and colour chunks); all (also EXIF, resolution, text, time).")
    var metadata: MetadataPolicy = .all
    @Option(help: "How the tokens are entropy-coded: auto (the model's learned token prior where it has one, NAME.vqzp beside it: 15–20 % smaller files; else zstd), zstd, or prior (the prior, an error without one; VQ models).")
    var entropy: String = "auto"
    @OptionGroup var batch: BatchOptions

    func validate() throws {
        if inputs.isEmpty && batch.filesFrom == nil { throw ValidationError("Give a PNG image, a folder, or --files-from LIST.") }
        if level != nil && targetBpp != nil { throw ValidationError("-q and --target-bpp cannot be used together.") }
        if let lambda, !(lambda >= 0 && lambda.isFinite) { throw ValidationError("--lambda must be a non-negative number.") }
        if !(0...8).contains(refine) { throw ValidationError("--refine must be between 0 and 8.") }
        if !(1...64).contains(beam) { throw ValidationError("--beam must be between 1 and 64.") }
        if let targetBpp, !(targetBpp > 0 && targetBpp.isFinite) { throw ValidationError("--target-bpp must be a positive number.") }
        if quiet && verbose { throw ValidationError("--quiet and --verbose cannot be used together.") }
        if maxPixels <= 0 { throw ValidationError("--max-pixels must be positive.") }
        if output == "-" && isBatchMode { throw ValidationError("-o - (stdout) takes one image; a batch writes into a folder.") }
        guard ["auto", "zstd", "prior"].contains(entropy) else { throw ValidationError("--entropy must be auto, zstd or prior, not \(entropy).") }
        if json && !isBatchMode && outputPath == "-" { throw ValidationError("--json prints on stdout, so the output cannot be stdout too; use -o FILE.") }
    }

    var isBatchMode: Bool { isBatch(inputs: inputs, output: output, options: batch) }
    var input: String { inputs[0] }

    var outputPath: String {
        output ?? (input == "-" ? "-" : Streams.replacingExtension((input as NSString).lastPathComponent, ".png", with: ".vqz")
            .withDirectory(of: input))
    }

    func run() throws {
        MemoryTuning.oneArena()
        if isBatchMode { return try runBatch() }
        try reportingErrors {
            try batch.withThreads {
                let out = outputPath
                try Streams.checkOutput(out, input: input, overwrite: force)
                let start = DispatchTime.now()
                // The model (and its prior) load on another thread while the PNG decodes: a Kodak
                // image's PNG takes ≈ 7 ms, the default model and prior ≈ 15 ms, and neither needs
                // the other. A bad PNG is still the error reported (the load is waited for, unread).
                let command = self
                let loading = Background { () throws -> (model: LoadedModel, prior: LoadedPrior?, seconds: Double) in
                    let loadStart = DispatchTime.now()
                    let (loaded, prior) = try Profile.measure("model load (and prior)") { try command.loadModel() }
                    return (loaded, prior, seconds(since: loadStart))
                }
                let image: PixelImage, source: PNGSourceInfo
                do {
                    (image, source) = try Profile.measure("PNG read") {
                        try decodePNG(try Streams.read(input, maxBytes: Streams.maxInputBytes), name: input, maxPixels: maxPixels)
                    }
                } catch {
                    _ = try? loading.wait()
                    throw error
                }
                let readSeconds = seconds(since: start)
                if source.bitDepth == 16 && !quiet && !json {
                    printError("vqz: note: \(input) has 16 bits per sample; it is coded at 8 bits")
                }
                let (loaded, prior, loadSeconds) = try loading.wait()
                try checkLevel(loaded)
                let codeStart = DispatchTime.now()
                let notice: (EncodeNotice) -> Void = { if !quiet { printError("vqz: note: \(input == "-" ? "stdin" : input): \($0)") } }
                let entries = try metadata.entries(source, name: input)
                let (chosen, bytes, overTarget) = try encodeImage(image, sourceBitDepth: source.bitDepth, metadata: entries, model: loaded, prior: prior, notice: notice)
                if let overTarget, !quiet && !json { printError(overTarget) }
                let encodeSeconds = readSeconds + seconds(since: codeStart)
                var psnr: Double?
                if verbose || json {
                    let decoded = try ImageCodec.decode(bytes, model: loaded, prior: prior)
                    psnr = Metrics.cappedPSNR(decoded.rgb, image.rgb)
                }
                try Profile.measure("file write") { try Streams.write(bytes, to: out, overwrite: force) }
                if Profile.enabled { printError(Profile.processReport()) }

                let bpp = 8 * Double(bytes.count) / Double(image.width * image.height)
                let summary = EncodeSummary(
                    input: input, output: out, width: image.width, height: image.height, format: image.format,
                    sourceBitDepth: source.bitDepth, model: loaded, level: chosen, bytes: bytes.count, bpp: bpp, psnr: psnr,
                    encodeSeconds: encodeSeconds, loadSeconds: loadSeconds)
                if json { try JSONOutput.print(summary.json) } else if !quiet { printError(summary.text) }
            }
        }
    }

    /// The model, and its token prior (NAME.vqzp beside it) with `--entropy prior`, or with `auto`
    /// where the model has one that codes every level it has.
    func loadModel() throws -> (LoadedModel, LoadedPrior?) {
        let entry = try ModelRegistry.standard().resolveOrDefault(model)
        let loaded = try LoadedModel(path: entry.path)
        guard entropy != "zstd" else { return (loaded, nil) }
        let path = LoadedPrior.path(forModel: entry.path)
        let auto = entropy == "auto"
        if auto {
            guard loaded.vq != nil, FileManager.default.fileExists(atPath: path) else { return (loaded, nil) }
        } else {
            guard loaded.vq != nil else { throw RuntimeFailure("--entropy prior is for VQ models; \(loaded.name) is a Gaussian model") }
            guard FileManager.default.fileExists(atPath: path) else {
                throw RuntimeFailure("model \(loaded.name) has no token prior (\(path)); train one with vqz train-prior -m \(entry.path)")
            }
        }
        let prior: LoadedPrior
        do {
            prior = try LoadedPrior(path: path, model: loaded)
        } catch let error where auto {
            throw RuntimeFailure("the token prior of \(loaded.name) cannot be used (--entropy zstd codes without it): \(error)")
        }
        // auto: only a prior that codes every level the model has (else zstd for all of them).
        if auto { return (loaded, prior.stages >= loaded.levels.last! ? prior : nil) }
        if let level, level > prior.stages {
            throw RuntimeFailure("the token prior of \(loaded.name) codes levels 1–\(prior.stages), not \(level)")
        }
        return (loaded, prior)
    }

    /// Refuses a `-q` level the model does not have.
    func checkLevel(_ loaded: LoadedModel) throws {
        if let level, !loaded.levels.contains(level) {
            throw RuntimeFailure("level \(level) does not exist in model \(loaded.name) (levels \(loaded.levels.first!)–\(loaded.levels.last!))")
        }
    }

    /// The file for one image at the level this command line asks for; the third value is the
    /// note to print when even the lowest level is over `--target-bpp`.
    func encodeImage(_ image: PixelImage, sourceBitDepth: Int, metadata entries: [MetadataEntry], model loaded: LoadedModel,
                     prior: LoadedPrior? = nil, notice: ((EncodeNotice) -> Void)?) throws -> (level: Int, bytes: [UInt8], overTarget: String?) {
        if let targetBpp {
            let result = try ImageCodec.encode(image, model: loaded, targetBpp: targetBpp, sourceBitDepth: sourceBitDepth, lambda: lambda, refine: refine, beam: beam,
                                               metadata: entries, prior: prior, notice: notice)
            let bpp = 8 * Double(result.bytes.count) / Double(image.width * image.height)
            let note = result.fits ? nil : String(format: "vqz: note: even level %d is %.4f bpp, over the target %.4f; using it", result.level, bpp, targetBpp)
            return (result.level, result.bytes, note)
        }
        let chosen = level ?? loaded.config.encodeLevel
        return (chosen, try ImageCodec.encode(image, model: loaded, level: chosen, sourceBitDepth: sourceBitDepth, lambda: lambda, refine: refine, beam: beam,
                                              metadata: entries, prior: prior, notice: notice), nil)
    }

    /// Several images: the model loaded once, files in parallel, a summary at the end.
    func runBatch() throws {
        try reportingErrors {
            let driver = BatchDriver(options: batch, verb: "encoded", inputExtensions: [".png"], outputExtension: ".vqz",
                                     quiet: quiet, verbose: verbose, json: json)
            let jobs = try driver.plan(inputs: inputs, output: output)
            let (loaded, prior) = try loadModel()
            try checkLevel(loaded)
            let (force, maxPixels, command) = (force, maxPixels, self)
            let complete: @Sendable ([UInt8]) -> (bpp: Double?, level: Int?)? = { bytes in
                guard let header = try? BitstreamHeader.parse(bytes), (try? header.checkPayload(of: bytes)) != nil else { return nil }
                return (jsonFigure(8 * Double(bytes.count) / Double(header.imageWidth * header.imageHeight), 6), header.level)
            }
            try driver.run(jobs) { job in
                let start = DispatchTime.now()
                if !force && FileManager.default.fileExists(atPath: job.output) {
                    return existingOutputRecord(job, complete: complete)
                }
                do {
                    let input = try FileIO.read(job.input, maxBytes: Streams.maxInputBytes)
                    let (image, source) = try decodePNG(input, name: job.input, maxPixels: maxPixels)
                    let entries = try command.metadata.entries(source, name: job.input)
                    let (chosen, bytes, _) = try command.encodeImage(image, sourceBitDepth: source.bitDepth, metadata: entries, model: loaded, prior: prior, notice: nil)
                    if try !writeBatchOutput(bytes, job: job, force: force) { return existingOutputRecord(job, complete: complete) }
                    return BatchRecord(input: job.input, output: job.output, status: .done, inputBytes: input.count, bytes: bytes.count,
                                       bpp: jsonFigure(8 * Double(bytes.count) / Double(image.width * image.height), 6), level: chosen,
                                       seconds: jsonFigure(seconds(since: start), 4))
                } catch {
                    return BatchRecord(input: job.input, output: job.output, status: .failed, error: naming(job.input, error))
                }
            }
        }
    }
}

/// An error as one sentence that names the file (once).
func naming(_ path: String, _ error: Error) -> String {
    let text = "\(error)"
    return text.hasPrefix(path) ? text : "\(path): \(text)"
}

/// PNG bytes to an image, with the CLI's wording for a bad file.
func decodePNG(_ bytes: [UInt8], name: String, maxPixels: Int = PNGDecoder.defaultMaxPixels) throws -> (PixelImage, PNGSourceInfo) {
    do {
        let (image, source) = try PNGDecoder.decode(bytes, maxPixels: maxPixels)
        return (image, source)
    } catch {
        throw RuntimeFailure("\(name == "-" ? "stdin" : name): not a readable PNG image (\(error))")
    }
}

struct EncodeSummary {
    var input, output: String
    var width, height: Int
    var format: PixelFormat
    var sourceBitDepth: Int
    var model: LoadedModel
    var level: Int
    var bytes: Int
    var bpp: Double
    var psnr: Double?
    var encodeSeconds, loadSeconds: Double

    var text: String {
        var lines = [
            "\(input == "-" ? "stdin" : input) → \(output == "-" ? "stdout" : output)",
            "  \(width) × \(height) \(format.name), model \(model.name) (\(model.config.family.rawValue)), level \(level) of \(model.levels.first!)–\(model.levels.last!)",
            String(format: "  %d bytes, %.4f bpp", bytes, bpp) + (psnr.map { String(format: ", PSNR %.2f dB", $0) } ?? ""),
            String(format: "  encoded in %.3f s (model loaded in %.3f s)", encodeSeconds, loadSeconds),
        ]
        if sourceBitDepth == 16 { lines[1] += ", from 16-bit" }
        return lines.joined(separator: "\n")
    }

    /// The `--json` object.
    struct JSON: Encodable {
        var input, output: String
        var width, height: Int
        var format: String
        var sourceBitDepth: Int
        var model, modelID, family: String
        var level: Int
        var levels: [Int]
        var bytes: Int
        var bpp, psnr, encodeSeconds, modelLoadSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case input, output, width, height, format, sourceBitDepth = "source_bit_depth", model, modelID = "model_id"
            case family, level, levels, bytes, bpp, psnr, encodeSeconds = "encode_seconds", modelLoadSeconds = "model_load_seconds"
        }
    }

    var json: JSON {
        JSON(input: input, output: output, width: width, height: height, format: format.name, sourceBitDepth: sourceBitDepth,
             model: model.name, modelID: model.id.hex, family: model.config.family.rawValue, level: level, levels: model.levels,
             bytes: bytes, bpp: jsonFigure(bpp, 6), psnr: jsonFigure(psnr, 4), encodeSeconds: jsonFigure(encodeSeconds, 4),
             modelLoadSeconds: jsonFigure(loadSeconds, 4))
    }
}

extension PixelFormat {
    /// The name the CLI prints.
    var name: String {
        switch self {
        case .gray: "gray"
        case .grayAlpha: "gray+alpha"
        case .rgb: "RGB"
        case .rgba: "RGBA"
        }
    }
}

extension String {
    /// This file name placed in the folder of `path` (`a/b.png` → `a/NAME`).
    func withDirectory(of path: String) -> String {
        let dir = (path as NSString).deletingLastPathComponent
        return dir.isEmpty ? self : (dir as NSString).appendingPathComponent(self)
    }
}
