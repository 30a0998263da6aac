// `vqz encode IN.png [-o OUT.vqz] [-m MODEL] [-q LEVEL | --target-bpp X] [-f] [--quiet | -v] [--json]`:
// a PNG (any colour type and depth) to a .vqz file, with a cwebp-style summary on stderr.

import ArgumentParser
import Codec
import Container
import Foundation
import Imaging
import Metrics

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compress a PNG image into a .vqz file.",
        discussion: """
            The model is found by name among the model folders (see `vqz models`) or given as a path \
            to a .vqzm file; without -m the default model is used. Level 1 is the smallest file; \
            without -q or --target-bpp a middle level is used. Gray images come back gray, alpha is \
            kept losslessly, and 16-bit images are reduced to 8 bits. Large images are coded in \
            tiles, so memory stays bounded. Use - for stdin or stdout.
            """)

    @Argument(help: "The PNG image to compress, or - for stdin.") var input: String
    @Option(name: .shortAndLong, help: "The .vqz file to write, or - for stdout (default: the input's name with .vqz).")
    var output: String?
    @Option(name: .shortAndLong, help: "A model name from `vqz models` or a path to a .vqzm file.") var model: String?
    @Option(name: [.customShort("q"), .customLong("level")], help: "The rate level (1 = smallest file).") var level: Int?
    @Option(help: "Use the largest level whose file is at most this many bits per pixel.") var targetBpp: Double?
    @Option(help: "VQ models: the rate–distortion trade-off λ of the token choice (0: nearest codes; default: the model's per-level setting).")
    var lambda: Float?
    @Flag(name: .shortAndLong, help: "Overwrite the output if it exists.") var force = false
    @Flag(help: "Print nothing on success.") var quiet = false
    @Flag(name: .shortAndLong, help: "Also decode the result and report its PSNR.") var verbose = false
    @Flag(help: "Print the summary as one JSON object on stdout (PSNR included).") var json = false
    @Option(help: "Refuse images with more pixels than this, before reading them (default \(PNGDecoder.defaultMaxPixels)).")
    var maxPixels: Int = PNGDecoder.defaultMaxPixels

    func validate() throws {
        if level != nil && targetBpp != nil { throw ValidationError("-q and --target-bpp cannot be used together.") }
        if let lambda, !(lambda >= 0 && lambda.isFinite) { throw ValidationError("--lambda must be a non-negative number.") }
        if let targetBpp, !(targetBpp > 0 && targetBpp.isFinite) { throw ValidationError("--target-bpp must be a positive number.") }
        if quiet && verbose { throw ValidationError("--quiet and --verbose cannot be used together.") }
        if maxPixels <= 0 { throw ValidationError("--max-pixels must be positive.") }
        if json && outputPath == "-" { throw ValidationError("--json prints on stdout, so the output cannot be stdout too; use -o FILE.") }
    }

    var outputPath: String {
        output ?? (input == "-" ? "-" : Streams.replacingExtension((input as NSString).lastPathComponent, ".png", with: ".vqz")
            .withDirectory(of: input))
    }

    func run() throws {
        try reportingErrors {
            let out = outputPath
            try Streams.checkOutput(out, input: input, overwrite: force)
            let registry = ModelRegistry.standard()
            let loadStart = DispatchTime.now()
            let entry = try registry.resolveOrDefault(model)
            let loaded = try LoadedModel(path: entry.path)
            let loadSeconds = seconds(since: loadStart)

            let start = DispatchTime.now()
            let (image, source) = try decodePNG(try Streams.read(input, maxBytes: 1 << 30), name: input, maxPixels: maxPixels)
            if source.bitDepth == 16 && !quiet && !json {
                printError("vqz: note: \(input) has 16 bits per sample; it is coded at 8 bits")
            }
            let levels = loaded.levels
            let notice: (EncodeNotice) -> Void = { if !quiet { printError("vqz: note: \(input == "-" ? "stdin" : input): \($0)") } }
            let chosen: Int
            let bytes: [UInt8]
            let pixels = Double(image.width * image.height)
            if let targetBpp {
                let result = try ImageCodec.encode(image, model: loaded, targetBpp: targetBpp, sourceBitDepth: source.bitDepth, lambda: lambda, notice: notice)
                if !result.fits && !quiet && !json {
                    printError(String(format: "vqz: note: even level %d is %.4f bpp, over the target %.4f; using it", result.level, 8 * Double(result.bytes.count) / pixels, targetBpp))
                }
                (chosen, bytes) = (result.level, result.bytes)
            } else {
                chosen = level ?? levels[(levels.count - 1) / 2]
                guard levels.contains(chosen) else {
                    throw RuntimeFailure("level \(chosen) does not exist in model \(loaded.name) (levels \(levels.first!)–\(levels.last!))")
                }
                bytes = try ImageCodec.encode(image, model: loaded, level: chosen, sourceBitDepth: source.bitDepth, lambda: lambda, notice: notice)
            }
            let encodeSeconds = seconds(since: start)
            var psnr: Double?
            if verbose || json {
                let decoded = try ImageCodec.decode(bytes, model: loaded)
                psnr = Metrics.cappedPSNR(decoded.rgb, image.rgb)
            }
            try Streams.write(bytes, to: out, overwrite: force)

            let bpp = 8 * Double(bytes.count) / pixels
            let summary = EncodeSummary(
                input: input, output: out, width: image.width, height: image.height, format: image.format,
                sourceBitDepth: source.bitDepth, model: loaded, level: chosen, bytes: bytes.count, bpp: bpp, psnr: psnr,
                encodeSeconds: encodeSeconds, loadSeconds: loadSeconds)
            if json { try JSONOutput.print(summary.json) } else if !quiet { printError(summary.text) }
        }
    }
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
