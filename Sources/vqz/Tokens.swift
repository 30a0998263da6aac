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
            pixels. Example: vqz tokens photo.png -q 4 -o photo.npy
            """)

    @Argument(help: "The PNG image, or - for stdin.") var input: String
    @Option(name: .shortAndLong, help: "The .npy file to write, or - for stdout (default: the input's name with .npy).")
    var output: String?
    @Option(name: .shortAndLong, help: "A VQ model name from `vqz models` or a path to a .vqzm file (default: the default model).")
    var model: String?
    @Option(name: [.customShort("q"), .customLong("level")], help: "The rate level: the number of stages (default: the model's top level).")
    var level: Int?
    @Flag(name: .shortAndLong, help: "Overwrite the output if it exists.") var force = false
    @Flag(help: "Print nothing on success.") var quiet = false

    var outputPath: String {
        output ?? (input == "-" ? "-" : Streams.replacingExtension((input as NSString).lastPathComponent, ".png", with: ".npy")
            .withDirectory(of: input))
    }

    func run() throws {
        try reportingErrors {
            let out = outputPath
            try Streams.checkOutput(out, input: input, overwrite: force)
            let (image, _) = try decodePNG(try Streams.read(input, maxBytes: 1 << 30), name: input, maxPixels: PNGDecoder.defaultMaxPixels)
            let registry = ModelRegistry.standard()
            let entry = try registry.resolveOrDefault(model)
            let loaded = try LoadedModel(path: entry.path)
            let chosen = level ?? loaded.levels.last!
            let grid = try ImageCodec.tokens(image, model: loaded, level: chosen)
            let bytes = NPY.encode(Array(grid.planes.joined()), shape: [grid.planes.count, grid.height, grid.width])
            try Streams.write(bytes, to: out, overwrite: force)
            if !quiet {
                printError("\(input == "-" ? "stdin" : input) → \(out == "-" ? "stdout" : out): \(grid.planes.count) × \(grid.height) × \(grid.width) tokens, model \(loaded.name)")
            }
        }
    }
}
