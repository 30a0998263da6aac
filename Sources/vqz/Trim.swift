// `vqz trim IN.vqz -q L [-o OUT.vqz] [-f]`: the same image at a lower level, cut from a residual-VQ
// file without the original image, the model or re-encoding (docs/FORMAT.md, "Trimming").

import ArgumentParser
import Container
import Foundation

struct Trim: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a lower-level copy of a VQ .vqz file (no model, no re-encoding).",
        discussion: """
            Residual VQ is embedded: the first L token planes of a level-N file are a valid level-L \
            file. The trimmed file decodes exactly as the first L planes of the original; it can \
            differ from encoding the image at level L directly, whose token choice may use another λ and \
            searches and refines the tokens for level L itself (a direct encode is then better; \
            `vqz encode --beam 1 --refine 0` writes planes that are exactly a direct encode's). \
            Metadata (the colour profile, EXIF) comes along.

            Examples:
              vqz trim photo.vqz -q 3 -o photo-small.vqz
              vqz trim photo.vqz -q 1 -o - | vqz decode - -o thumb.png
            """)

    @Argument(help: "The .vqz file to trim, or - for stdin.") var input: String
    @Option(name: .shortAndLong, help: "The level to keep (1 … the file's level).") var quality: Int
    @Option(name: .shortAndLong, help: "The .vqz file to write, or - for stdout (default: the input's name with -qL.vqz).")
    var output: String?
    @Flag(name: .shortAndLong, help: "Overwrite the output if it exists.") var force = false
    @Flag(name: [.customShort("s"), .long], help: "Print nothing on success.") var quiet = false

    var outputPath: String {
        output ?? (input == "-" ? "-" : Streams.replacingExtension((input as NSString).lastPathComponent, ".vqz", with: "-q\(quality).vqz")
            .withDirectory(of: input))
    }

    func validate() throws {
        if quality < 1 { throw ValidationError("-q must be a level of 1 or more.") }
    }

    func run() throws {
        try reportingErrors {
            let out = outputPath
            try Streams.checkOutput(out, input: input, overwrite: force)
            let bytes = try Streams.read(input, maxBytes: Streams.maxInputBytes)
            let name = input == "-" ? "stdin" : input
            let trimmed: [UInt8]
            do {
                let header = try BitstreamHeader.parse(bytes)
                if header.flags.contains(.tokenPrior) {
                    trimmed = try BitstreamFile.trimmedPriorCoded(bytes, toLevel: quality)
                } else {
                    let (_, content) = try BitstreamFile.parse(bytes)
                    trimmed = try content.trimmed(toLevel: quality).serialized()
                }
            } catch {
                throw RuntimeFailure("\(name): \(error)")
            }
            try Streams.write(trimmed, to: out, overwrite: force)
            if !quiet {
                printError("\(name) → \(out == "-" ? "stdout" : out): level \(quality), \(bytes.count) → \(trimmed.count) bytes")
            }
        }
    }
}
