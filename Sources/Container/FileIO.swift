// Reading and writing whole files safely: reads refuse oversized inputs before allocating; writes go
// to a temporary file in the target directory and are renamed into place, so a failure never leaves
// a partial output and an existing file is kept unless overwriting was asked for.

import Foundation

/// A file-system failure, as one sentence naming the path.
public struct FileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// Whole-file reads and atomic writes.
public enum FileIO {
    /// Reads a whole file of at most `maxBytes` bytes.
    public static func read(_ path: String, maxBytes: Int = 1 << 31) throws(FileError) -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FileError(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw FileError(path: path, reason: "is a directory") }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw FileError(path: path, reason: "permission denied") }
        defer { try? handle.close() }
        do {
            let size = try handle.seekToEnd()
            guard size <= UInt64(maxBytes) else { throw FileError(path: path, reason: "the file is \(size) bytes, over the limit of \(maxBytes)") }
            try handle.seek(toOffset: 0)
            return [UInt8](try handle.readToEnd() ?? Data())
        } catch let error as FileError {
            throw error
        } catch {
            throw FileError(path: path, reason: "cannot be read (\(error.localizedDescription))")
        }
    }

    /// Writes `bytes` to `path` atomically: a temporary file beside it, flushed, then renamed.
    ///
    /// - Parameter overwrite: replace an existing file; without it an existing file is an error and
    ///   is left untouched.
    /// - Throws: `FileError` naming the path; no file is left behind, temporary or final.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, overwrite: Bool) throws(FileError) {
        let url = URL(fileURLWithPath: path)
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { throw FileError(path: path, reason: "is a directory") }
            if !overwrite { throw FileError(path: path, reason: "already exists (use -f to overwrite it)") }
        }
        let directory = url.deletingLastPathComponent().path
        let temp = directory + "/.\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw FileError(path: path, reason: "cannot be written (\(String(cString: strerror(errno))))") }
        var failure = writeAll(bytes, to: fd)
        if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        if close(fd) != 0, failure == nil { failure = String(cString: strerror(errno)) }
        if failure == nil {
            // rename() replaces atomically; link() refuses if someone created the file meanwhile.
            if overwrite {
                if rename(temp, path) != 0 { failure = String(cString: strerror(errno)) }
            } else if link(temp, path) != 0 {
                failure = errno == EEXIST ? "already exists (use -f to overwrite it)" : String(cString: strerror(errno))
            }
        }
        unlink(temp)  // after rename this is a no-op; after link or failure it removes the temporary name
        if let failure { throw FileError(path: path, reason: "cannot be written (\(failure))") }
    }

    /// Writes all of `bytes` to the open descriptor `fd` (a pipe, a terminal, a log opened for
    /// appending), retrying short writes.
    ///
    /// - Parameter name: how the error names the destination (`stdout`, a path).
    /// - Throws: `FileError` with the system's reason (`No space left on device`, `Broken pipe`).
    public static func write(_ bytes: some Collection<UInt8>, toDescriptor fd: Int32, name: String) throws(FileError) {
        let failure = bytes.withContiguousStorageIfAvailable { writeAll(UnsafeRawBufferPointer($0), to: fd) }
            ?? Array(bytes).withUnsafeBytes { writeAll($0, to: fd) }
        if let failure { throw FileError(path: name, reason: "cannot be written (\(failure))") }
    }

    /// Reads the open descriptor `fd` (stdin, a pipe) to its end, refusing more than `maxBytes`.
    ///
    /// - Throws: `FileError` naming `name`, with the system's reason or the limit.
    public static func readAll(fromDescriptor fd: Int32, name: String, maxBytes: Int) throws(FileError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: name, reason: "cannot be read (\(String(cString: strerror(errno))))")
            }
            if n == 0 { return bytes }
            guard bytes.count + n <= maxBytes else { throw FileError(path: name, reason: "the input is over the limit of \(maxBytes) bytes") }
            bytes += chunk[0..<n]
        }
    }

    /// `write(2)` until every byte is out; nil, or the system's reason for the failure.
    private static func writeAll(_ raw: UnsafeRawBufferPointer, to fd: Int32) -> String? {
        var offset = 0
        while offset < raw.count {
            let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            offset += n
        }
        return nil
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32) -> String? {
        bytes.withUnsafeBytes { writeAll($0, to: fd) }
    }
}
