// `vqz tokens IN.png [-m MODEL] [-q L] [-o OUT.npy] [-f]`: the token grid `vqz encode` would write,
// as a NumPy .npy array (uint16, [stages, height/8, width/8]); `vqz decode OUT.npy -m MODEL` turns
// such a grid back into pixels.

import ArgumentParser
import Codec
import Container
import Foundation
import Imaging

struct Tokens: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the token grid of a PNG as a NumPy .npy array (VQ models).",
        discussion: """
            The array is uint16 with shape [stages, ceil(height/8), ceil(width/8)]: the codebook \
            indices vqz encode writes at that level, stage 1 first (numpy.load reads it). \
            vqz decode FILE.npy -m MODEL turns a grid back into an image of 8×width by 8×height \
            pixels. Several images or folders make a batch, one .npy per image (as vqz encode).

            Examples:
              vqz tokens photo.png -q 4 -o photo.npy
              vqz tokens -r dataset/ -o tokens/ --manifest tokens.jsonl
            """)

    @Argument(help: "PNG images or folders of them, or - for stdin (one image).") var inputs: [String] = []
    @Option(name: .shortAndLong, help: "The .npy file to write, or - for stdout; with several inputs, the folder to write into (default: beside each input).")
    var output: String?
    @Option(name: .shortAndLong, help: "A VQ model name from `vqz models` or a path to a .vqzm file (default: the default model).")
    var model: String?
    @Option(name: [.customShort("q"), .customLong("level")], help: "The rate level: the number of stages (default: the model's top level).")
    var level: Int?
    @Flag(name: .shortAndLong, help: "Overwrite outputs that exist (a batch otherwise skips them).") var force = false
    @Flag(name: [.customShort("s"), .long], help: "Print nothing on success.") var quiet = false
    @Flag(name: .shortAndLong, help: "In a batch, a line per file.") var verbose = false
    @Flag(help: "In a batch, one JSON line per file on stdout.") var json = false
    @OptionGroup var batch: BatchOptions

    var input: String { inputs[0] }
    var isBatchMode: Bool { isBatch(inputs: inputs, output: output, options: batch) }

    var outputPath: String {
        output ?? (input == "-" ? "-" : Streams.replacingExtension((input as NSString).lastPathComponent, ".png", with: ".npy")
            .withDirectory(of: input))
    }

    func validate() throws {
        if inputs.isEmpty && batch.filesFrom == nil { throw ValidationError("Give a PNG image, a folder, or --files-from LIST.") }
        if output == "-" && isBatchMode { throw ValidationError("-o - (stdout) takes one image; a batch writes into a folder.") }
        if json && !isBatchMode { throw ValidationError("--json is for batches; the single-image output is the .npy file.") }
        if quiet && verbose { throw ValidationError("--quiet and --verbose cannot be used together.") }
    }

    /// The .npy bytes of one image's token grid.
    static func grid(_ image: PixelImage, model loaded: LoadedModel, level: Int) throws -> (npy: [UInt8], shape: [Int]) {
        let grid = try ImageCodec.tokens(image, model: loaded, level: level)
        let shape = [grid.planes.count, grid.height, grid.width]
        return (NPY.encode(Array(grid.planes.joined()), shape: shape), shape)
    }

    func loadModel() throws -> (LoadedModel, Int) {
        let loaded = try LoadedModel(path: try ModelRegistry.standard().resolveOrDefault(model).path)
        let chosen = level ?? loaded.levels.last!
        return (loaded, chosen)
    }

    func run() throws {
        if isBatchMode { return try runBatch() }
        try reportingErrors {
            try batch.withThreads {
                let out = outputPath
                try Streams.checkOutput(out, input: input, overwrite: force)
                let (image, _) = try decodePNG(try Streams.read(input, maxBytes: Streams.maxInputBytes), name: input, maxPixels: PNGDecoder.defaultMaxPixels)
                let (loaded, chosen) = try loadModel()
                let (bytes, shape) = try Self.grid(image, model: loaded, level: chosen)
                try Streams.write(bytes, to: out, overwrite: force)
                if !quiet {
                    printError("\(input == "-" ? "stdin" : input) → \(out == "-" ? "stdout" : out): \(shape.map(String.init).joined(separator: " × ")) tokens, model \(loaded.name)")
                }
            }
        }
    }

    /// Several images: one .npy per image under -o DIR, the model loaded once.
    func runBatch() throws {
        try reportingErrors {
            let driver = BatchDriver(options: batch, verb: "written", inputExtensions: [".png"], outputExtension: ".npy",
                                     quiet: quiet, verbose: verbose, json: json)
            let jobs = try driver.plan(inputs: inputs, output: output)
            let (loaded, chosen) = try loadModel()
            let force = force
            let complete: @Sendable ([UInt8]) -> (bpp: Double?, level: Int?)? = { bytes in (try? NPY.decodeIntegers(bytes, maxElements: 1 << 30)) != nil ? (nil, chosen) : nil }
            try driver.run(jobs) { job in
                let start = DispatchTime.now()
                if !force && FileManager.default.fileExists(atPath: job.output) {
                    return existingOutputRecord(job, complete: complete)
                }
                do {
                    let input = try FileIO.read(job.input, maxBytes: Streams.maxInputBytes)
                    let (image, _) = try decodePNG(input, name: job.input)
                    let (bytes, _) = try Tokens.grid(image, model: loaded, level: chosen)
                    if try !writeBatchOutput(bytes, job: job, force: force) { return existingOutputRecord(job, complete: complete) }
                    return BatchRecord(input: job.input, output: job.output, status: .done, inputBytes: input.count, bytes: bytes.count,
                                       level: chosen, seconds: jsonFigure(seconds(since: start), 4))
                } catch {
                    return BatchRecord(input: job.input, output: job.output, status: .failed, error: naming(job.input, error))
                }
            }
        }
    }
}
