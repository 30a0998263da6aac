// Inputs and outputs as the CLI names them: a path, or `-` for stdin/stdout. Files are read whole
// with a size limit and written atomically (Container.FileIO); stdout is refused when it is a
// terminal, as zstd and cwebp do for binary data.

import Container
import Foundation

enum Streams {
    /// The largest input file any command reads (PNG, .vqz, .npy): 1 GiB. Pixels are limited
    /// separately, by --max-pixels (default 2^28 for both encode and decode).
    static let maxInputBytes = 1 << 30

    /// The bytes of `path`, or of stdin when `path` is `-`, refusing more than `maxBytes`.
    static func read(_ path: String, maxBytes: Int) throws -> [UInt8] {
        guard path == "-" else { return try FileIO.read(path, maxBytes: maxBytes) }
        let bytes = try FileIO.readAll(fromDescriptor: STDIN_FILENO, name: "stdin", maxBytes: maxBytes)
        guard !bytes.isEmpty else { throw RuntimeFailure("stdin: no input") }
        return bytes
    }

    /// Refuses an output that cannot be written before any work is done: the input itself, an
    /// existing file without `-f`, a terminal for binary data.
    static func checkOutput(_ output: String, input: String, overwrite: Bool) throws {
        if output == "-" {
            if isatty(STDOUT_FILENO) != 0 { throw RuntimeFailure("refusing to write binary data to a terminal; redirect stdout or use -o FILE") }
            return
        }
        if input != "-", sameFile(input, output) { throw RuntimeFailure("\(output): the output would overwrite the input") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory) {
            if isDirectory.boolValue { throw RuntimeFailure("\(output): is a directory") }
            if !overwrite { throw RuntimeFailure("\(output): already exists (use -f to overwrite it)") }
        }
    }

    /// Writes `bytes` to stdout (`-`) or atomically to a file.
    static func write(_ bytes: [UInt8], to output: String, overwrite: Bool) throws {
        if output == "-" {
            try FileIO.write(bytes, toDescriptor: STDOUT_FILENO, name: "stdout")
        } else {
            try FileIO.writeAtomically(bytes, to: output, overwrite: overwrite)
        }
    }

    /// Prints `text` and a newline on stdout; a failed write (a full disk, a closed pipe) throws
    /// instead of being lost.
    static func print(_ text: String, terminator: String = "\n") throws {
        try FileIO.write(Array((text + terminator).utf8), toDescriptor: STDOUT_FILENO, name: "stdout")
    }

    /// Whether two paths name the same existing file (hard links and symlinks included).
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// `name` with its extension `.from` (if any) replaced by `to`: `a.png` → `a.vqz`.
    static func replacingExtension(_ name: String, _ from: String, with to: String) -> String {
        name.lowercased().hasSuffix(from) ? String(name.dropLast(from.count)) + to : name + to
    }
}

/// Seconds since an instant, for the summaries.
func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}
