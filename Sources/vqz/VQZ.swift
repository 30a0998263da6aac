// The `vqz` command: a thin front over the library modules. It parses arguments, reads and writes
// files, prints, and maps errors to exit codes (0 ok, 1 data or I/O error, 64 usage error).

import ArgumentParser
import Container
import Foundation

@main
struct VQZ: ParsableCommand {
    static let version = "0.2.0"

    static let configuration = CommandConfiguration(
        commandName: "vqz",
        abstract: "A neural image codec: PNG in, a compact .vqz file out, and back.",
        discussion: """
            Exit status: 0 on success, 1 when a file is bad or cannot be read or written, 64 on a \
            usage error. Messages go to stderr; data and --json output go to stdout.
            """,
        version: "vqz \(version) (container format \(BitstreamFormat.versionMajor).\(BitstreamFormat.versionMinor), zstd \(Zstd.versionString))",
        subcommands: [Encode.self, Decode.self, Trim.self, Tokens.self, Info.self, Models.self, Bench.self, Train.self, TrainPrior.self, Eval.self])
}

/// A failure the CLI reports as one sentence on stderr, exiting with status 1.
struct RuntimeFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension ParsableCommand {
    /// Runs `body`; a thrown library error becomes `vqz: error: <sentence>` on stderr and exit 1.
    func reportingErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("vqz: error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Writes a line to stderr. A failure to write there cannot be reported anywhere, so it is
/// ignored (the exit status still tells).
func printError(_ message: String) {
    try? FileIO.write(Array((message + "\n").utf8), toDescriptor: STDERR_FILENO, name: "stderr")
}
