// `vqz decode IN.vqz [-o OUT.png] [-m MODEL.vqzm]... [-f]`: a .vqz file back to a PNG, with the model
// found by the id the file stores.

import ArgumentParser
import Codec
import Container
import Foundation
import Imaging

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decompress a .vqz file into a PNG image.",
        discussion: """
            The model is found by the model id stored in the file, among the model folders (see \
            `vqz models`) and the files given with -m. The PNG has the original size, gray or colour, \
            and alpha exactly as encoded. Use - for stdin or stdout.
            """)

    @Argument(help: "The .vqz file to decode, or - for stdin.") var input: String
    @Option(name: .shortAndLong, help: "The PNG file to write, or - for stdout (default: the input's name with .png).")
    var output: String?
    @Option(name: .shortAndLong, help: "A .vqzm model file to consider besides the model folders (repeatable).")
    var model: [String] = []
    @Flag(name: .shortAndLong, help: "Overwrite the output if it exists.") var force = false
    @Flag(help: "Print nothing on success.") var quiet = false
    @Flag(help: "Print the summary as one JSON object on stdout.") var json = false
    @Option(help: "zlib level of the PNG, 0 (none) … 9 (smallest, slowest).") var pngLevel: Int = PNGEncoder.defaultLevel
    @Option(help: "PNG row filter: \(PNGFilter.allCases.map(\.rawValue).joined(separator: ", ")).")
    var pngFilter: String = PNGEncoder.defaultFilter.rawValue
    @Option(help: "Refuse files declaring more pixels than this, before allocating (default \(BitstreamLimits.defaultMaxPixels)).")
    var maxPixels: Int = BitstreamLimits.defaultMaxPixels

    var outputPath: String {
        output ?? (input == "-" ? "-" : Streams.replacingExtension((input as NSString).lastPathComponent, input.hasSuffix(".npy") ? ".npy" : ".vqz", with: ".png")
            .withDirectory(of: input))
    }

    func validate() throws {
        if json && outputPath == "-" { throw ValidationError("--json prints on stdout, so the output cannot be stdout too; use -o FILE.") }
        if maxPixels <= 0 { throw ValidationError("--max-pixels must be positive.") }
        if !(0...9).contains(pngLevel) { throw ValidationError("--png-level must be in 0…9.") }
        if PNGFilter(rawValue: pngFilter) == nil {
            throw ValidationError("--png-filter must be one of \(PNGFilter.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
    }

    func run() throws {
        try reportingErrors {
            let out = outputPath
            try Streams.checkOutput(out, input: input, overwrite: force)
            let bytes = try Streams.read(input, maxBytes: 1 << 31)
            let name = input == "-" ? "stdin" : input
            if NPY.looksLikeNPY(bytes) { return try decodeTokenGrid(bytes, name: name, output: out) }
            let header: BitstreamHeader
            let limits = BitstreamLimits(maxPixels: maxPixels)
            do { header = try BitstreamHeader.parse(bytes, limits: limits) } catch { throw RuntimeFailure("\(name): \(error)") }
            for path in model where !FileManager.default.fileExists(atPath: path) {
                throw RuntimeFailure("\(path): no such model file")
            }
            let loadStart = DispatchTime.now()
            let loaded = try ModelRegistry.standard().model(withID: header.modelID, extraPaths: model)
            let loadSeconds = seconds(since: loadStart)
            let start = DispatchTime.now()
            let image: PixelImage
            do {
                let (header, content) = try BitstreamFile.parse(bytes, limits: limits)
                image = try ImageCodec.decode(header: header, content: content, model: loaded)
            } catch {
                throw RuntimeFailure("\(name): \(error)")
            }
            let png = try PNGEncoder.encode(image, level: pngLevel, filter: PNGFilter(rawValue: pngFilter)!)
            let decodeSeconds = seconds(since: start)
            try Streams.write(png, to: out, overwrite: force)
            if json {
                try JSONOutput.print(Summary(
                    input: input, output: out, width: image.width, height: image.height, format: image.format.name,
                    model: loaded.name, modelID: loaded.id.hex, level: header.level, bytes: bytes.count,
                    bpp: jsonFigure(8 * Double(bytes.count) / Double(image.width * image.height), 6),
                    decodeSeconds: jsonFigure(decodeSeconds, 4), modelLoadSeconds: jsonFigure(loadSeconds, 4)))
            } else if !quiet {
                printError("\(name) → \(out == "-" ? "stdout" : out)\n  \(image.width) × \(image.height) \(image.format.name), model \(loaded.name) (\(loaded.config.family.rawValue)), level \(header.level)\n"
                           + String(format: "  decoded in %.3f s (model loaded in %.3f s)", decodeSeconds, loadSeconds))
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
        let png = try PNGEncoder.encode(image, level: pngLevel, filter: PNGFilter(rawValue: pngFilter)!)
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
