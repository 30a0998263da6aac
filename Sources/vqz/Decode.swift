// `vqz decode IN.vqz [-o OUT.png] [-m MODEL.vqzm]... [-f]`: a .vqz file back to a PNG, with the model
// found by the id the file stores.

import ArgumentParser
import Codec
import Container
import Foundation
import Imaging
import TensorCore

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decompress .vqz files into PNG images.",
        discussion: """
            The model is found by the model id stored in the file, among the model folders (see \
            `vqz models`) and the files given with -m. The PNG has the original size, gray or colour, \
            and alpha exactly as encoded. Use - for stdin or stdout (one file). Several files, \
            folders (-r) or --files-from make a batch, as for vqz encode: every model is looked up \
            once, files run in parallel, existing outputs are skipped unless -f.

            Examples:
              vqz decode photo.vqz                     (photo.png)
              vqz decode photo.vqz -o - | display      (to stdout)
              vqz decode out/*.vqz -o png/ -j 2        (many files)
              vqz decode photo.npy -m MODEL -o p.png   (a token grid from vqz tokens)
            """)

    @Argument(help: "The .vqz files or folders of them to decode, or - for stdin (one file).") var inputs: [String] = []
    @Option(name: .shortAndLong, help: "The PNG file to write, or - for stdout; with several inputs, the folder to write into (default: beside each input).")
    var output: String?
    @Option(name: .shortAndLong, help: "A .vqzm model file to consider besides the model folders (repeatable).")
    var model: [String] = []
    @Flag(name: .shortAndLong, help: "Overwrite outputs that exist (a batch otherwise skips them).") var force = false
    @Flag(name: [.customShort("s"), .long], help: "Print nothing on success.") var quiet = false
    @Flag(name: .shortAndLong, help: "Also print the file's rate and the model's path; in a batch, a line per file.") var verbose = false
    @Flag(help: "Print the summary as one JSON object on stdout; in a batch, one JSON line per file.") var json = false
    @Option(help: "zlib level of the PNG, 0 (none) … 9 (smallest, slowest).") var pngLevel: Int = PNGEncoder.defaultLevel
    @Option(help: "PNG row filter: \(PNGFilter.allCases.map(\.rawValue).joined(separator: ", ")).")
    var pngFilter: String = PNGEncoder.defaultFilter.rawValue
    @Option(help: "Refuse files declaring more pixels than this, before allocating.")
    var maxPixels: Int = BitstreamLimits.defaultMaxPixels
    @Option(help: "The stored metadata to write into the PNG: none; icc (the colour profile and colour chunks); all.")
    var metadata: MetadataPolicy = .all
    @OptionGroup var batch: BatchOptions

    var input: String { inputs[0] }
    var isBatchMode: Bool { isBatch(inputs: inputs, output: output, options: batch) }

    var outputPath: String {
        output ?? (input == "-" ? "-" : Streams.replacingExtension((input as NSString).lastPathComponent, input.hasSuffix(".npy") ? ".npy" : ".vqz", with: ".png")
            .withDirectory(of: input))
    }

    func validate() throws {
        if inputs.isEmpty && batch.filesFrom == nil { throw ValidationError("Give a .vqz file, a folder, or --files-from LIST.") }
        if output == "-" && isBatchMode { throw ValidationError("-o - (stdout) takes one file; a batch writes into a folder.") }
        if json && !isBatchMode && outputPath == "-" { throw ValidationError("--json prints on stdout, so the output cannot be stdout too; use -o FILE.") }
        if quiet && verbose { throw ValidationError("--quiet and --verbose cannot be used together.") }
        if maxPixels <= 0 { throw ValidationError("--max-pixels must be positive.") }
        if !(0...9).contains(pngLevel) { throw ValidationError("--png-level must be in 0…9.") }
        if PNGFilter(rawValue: pngFilter) == nil {
            throw ValidationError("--png-filter must be one of \(PNGFilter.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
    }

    /// What decoding one file gave.
    struct Decoded {
        var png: [UInt8]
        var image: PixelImage
        var header: BitstreamHeader
        var metadata: [MetadataEntry]
        var model: LoadedModel
        var loadSeconds, decodeSeconds: Double
    }

    /// A .vqz file's bytes to PNG bytes, the model found through `models`.
    func decodeFile(_ bytes: [UInt8], name: String, models: ModelCache) throws -> Decoded {
        let limits = BitstreamLimits(maxPixels: maxPixels)
        let header: BitstreamHeader
        do { header = try BitstreamHeader.parse(bytes, limits: limits) } catch { throw RuntimeFailure("\(name): \(error)") }
        let loadStart = DispatchTime.now()
        // The model, and the token prior the file names (found and read while the model loads).
        let (loaded, priorResult) = try Profile.measure("model load (and prior)") {
            try models.model(withID: header.modelID, prior: BitstreamFile.priorID(of: bytes, header: header))
        }
        let loadSeconds = seconds(since: loadStart)
        let start = DispatchTime.now()
        let image: PixelImage
        let stored: [MetadataEntry]
        do {
            let prior = try priorResult?.get()
            let (header, content) = try Profile.measure(prior == nil ? "entropy decoding (zstd)" : "entropy decoding (prior)") {
                try BitstreamFile.parse(bytes, limits: limits, prior: prior)
            }
            image = try ImageCodec.decode(header: header, content: content, model: loaded)
            stored = content.metadata
        } catch {
            throw RuntimeFailure("\(name): \(error)")
        }
        let png = try Profile.measure("PNG write (encode to bytes)") { try PNGEncoder.encode(image, level: pngLevel, filter: PNGFilter(rawValue: pngFilter)!, chunks: metadata.chunks(stored),
                                                                                               threads: ThreadPool.current.threadCount) }
        return Decoded(png: png, image: image, header: header, metadata: stored, model: loaded, loadSeconds: loadSeconds, decodeSeconds: seconds(since: start))
    }

    func checkModelPaths() throws {
        for path in model where !FileManager.default.fileExists(atPath: path) {
            throw RuntimeFailure("\(path): no such model file")
        }
    }

    func run() throws {
        MemoryTuning.oneArena()
        if isBatchMode { return try runBatch() }
        try reportingErrors {
            try batch.withThreads {
                let out = outputPath
                try Streams.checkOutput(out, input: input, overwrite: force)
                let bytes = try Profile.measure("file read") { try Streams.read(input, maxBytes: Streams.maxInputBytes) }
                let name = input == "-" ? "stdin" : input
                if NPY.looksLikeNPY(bytes) { return try decodeTokenGrid(bytes, name: name, output: out) }
                try checkModelPaths()
                let d = try decodeFile(bytes, name: name, models: ModelCache(registry: ModelRegistry.standard(), extraPaths: model))
                try Profile.measure("file write") { try Streams.write(d.png, to: out, overwrite: force) }
                if Profile.enabled { printError(Profile.processReport()) }
                let bpp = 8 * Double(bytes.count) / Double(d.image.width * d.image.height)
                if json {
                    try JSONOutput.print(Summary(
                        input: input, output: out, width: d.image.width, height: d.image.height, format: d.image.format.name,
                        model: d.model.name, modelID: d.model.id.hex, level: d.header.level, bytes: bytes.count,
                        bpp: jsonFigure(bpp, 6), decodeSeconds: jsonFigure(d.decodeSeconds, 4), modelLoadSeconds: jsonFigure(d.loadSeconds, 4)))
                } else if !quiet {
                    var text = "\(name) → \(out == "-" ? "stdout" : out)\n  \(d.image.width) × \(d.image.height) \(d.image.format.name), model \(d.model.name) (\(d.model.config.family.rawValue)), level \(d.header.level)\n"
                        + String(format: "  decoded in %.3f s (model loaded in %.3f s)", d.decodeSeconds, d.loadSeconds)
                    if verbose {
                        text += String(format: "\n  %d bytes, %.4f bpp, %d token plane%@ of %d × %d; PNG %d bytes (zlib level %d, filter %@)",
                                       bytes.count, bpp, d.header.planeCount, d.header.planeCount == 1 ? "" : "s", d.header.gridWidth,
                                       d.header.gridHeight, d.png.count, pngLevel, pngFilter)
                        text += "\n  model id \(d.model.id.hex)"
                        text += "\n  metadata: " + (d.metadata.isEmpty ? "none stored" : d.metadata.map { "\($0.type) (\($0.data.count) bytes)" }.joined(separator: ", "))
                            + (metadata == .all || d.metadata.isEmpty ? "" : "; written back: \(metadata.rawValue)")
                    }
                    printError(text)
                }
            }
        }
    }

    /// Several files: each model looked up and loaded once, files in parallel, a summary at the end.
    func runBatch() throws {
        try reportingErrors {
            try checkModelPaths()
            let driver = BatchDriver(options: batch, verb: "decoded", inputExtensions: [".vqz"], outputExtension: ".png",
                                     quiet: quiet, verbose: verbose, json: json)
            let jobs = try driver.plan(inputs: inputs, output: output)
            let models = ModelCache(registry: ModelRegistry.standard(), extraPaths: model)
            let (force, command) = (force, self)
            let complete: @Sendable ([UInt8]) -> (bpp: Double?, level: Int?)? = { bytes in isCompletePNG(bytes) ? (nil, nil) : nil }
            try driver.run(jobs) { job in
                let start = DispatchTime.now()
                if !force && FileManager.default.fileExists(atPath: job.output) {
                    return existingOutputRecord(job, complete: complete)
                }
                do {
                    let bytes = try FileIO.read(job.input, maxBytes: Streams.maxInputBytes)
                    let d = try command.decodeFile(bytes, name: job.input, models: models)
                    if try !writeBatchOutput(d.png, job: job, force: force) { return existingOutputRecord(job, complete: complete) }
                    return BatchRecord(input: job.input, output: job.output, status: .done, inputBytes: bytes.count, bytes: d.png.count,
                                       bpp: jsonFigure(8 * Double(bytes.count) / Double(d.image.width * d.image.height), 6),
                                       level: d.header.level, seconds: jsonFigure(seconds(since: start), 4))
                } catch {
                    return BatchRecord(input: job.input, output: job.output, status: .failed, error: naming(job.input, error))
                }
            }
        }
    }

    /// A token grid from `vqz tokens` (or NumPy) back to pixels: needs exactly one `-m` VQ model.
    func decodeTokenGrid(_ bytes: [UInt8], name: String, output out: String) throws {
        guard model.count == 1 else { throw RuntimeFailure("\(name): a token grid (.npy) records no model; give its VQ model with one -m") }
        let grid: (shape: [Int], values: [Int])
        do { grid = try NPY.decodeIntegers(bytes, maxElements: maxPixels / 16) } catch { throw RuntimeFailure("\(name): \(error)") }
        let entry = try ModelRegistry.standard().resolve(model[0])
        let loaded = try LoadedModel(path: entry.path)
        let image: PixelImage
        do { image = try ImageCodec.decode(tokens: grid.values, shape: grid.shape, model: loaded) } catch { throw RuntimeFailure("\(name): \(error)") }
        let png = try PNGEncoder.encode(image, level: pngLevel, filter: PNGFilter(rawValue: pngFilter)!, threads: ThreadPool.current.threadCount)
        try Streams.write(png, to: out, overwrite: force)
        if !quiet && !json {
            printError("\(name) → \(out == "-" ? "stdout" : out): \(image.width) × \(image.height) from a \(grid.shape) token grid, model \(loaded.name)")
        }
    }

    /// The `--json` object.
    struct Summary: Encodable {
        var input, output: String
        var width, height: Int
        var format, model, modelID: String
        var level, bytes: Int
        var bpp, decodeSeconds, modelLoadSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case input, output, width, height, format, model, modelID = "model_id", level, bytes, bpp
            case decodeSeconds = "decode_seconds", modelLoadSeconds = "model_load_seconds"
        }
    }
}

/// Whether `bytes` look like a whole PNG file: the signature first and the IEND chunk last (an
/// output written by vqz is whole, since it is renamed into place; this guards against others).
func isCompletePNG(_ bytes: [UInt8]) -> Bool {
    let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    let iend: [UInt8] = [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]
    return bytes.count >= 20 && Array(bytes.prefix(8)) == signature && Array(bytes.suffix(12)) == iend
}
