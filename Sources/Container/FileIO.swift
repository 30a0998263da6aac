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
    /// Reads a whole file of at most `maxBytes` bytes: one `read(2)` into an array of the file's
    /// size (no intermediate buffer; a 7 MB model file once cost 15–18 ms through `FileHandle`).
    public static func read(_ path: String, maxBytes: Int = 1 << 31) throws(FileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            switch errno {
            case ENOENT, ENOTDIR: throw FileError(path: path, reason: "no such file")
            case EACCES, EPERM: throw FileError(path: path, reason: "permission denied")
            default: throw FileError(path: path, reason: "cannot be read (\(String(cString: strerror(errno))))")
            }
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError(path: path, reason: "cannot be read (\(String(cString: strerror(errno))))") }
        let kind = info.st_mode & S_IFMT
        guard kind != S_IFDIR else { throw FileError(path: path, reason: "is a directory") }
        // Pipes, devices and the like have no size to trust: read them to their end.
        guard kind == S_IFREG else { return try readAll(fromDescriptor: fd, name: path, maxBytes: maxBytes) }
        let size = Int(info.st_size)
        guard size <= maxBytes else { throw FileError(path: path, reason: "the file is \(size) bytes, over the limit of \(maxBytes)") }
        var failure: String?
        var bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = 0
            while count < size {
                let n = Foundation.read(fd, buffer.baseAddress! + count, size - count)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                if n == 0 { return }  // the file shrank meanwhile: what is there
                count += n
            }
        }
        if let failure { throw FileError(path: path, reason: "cannot be read (\(failure))") }
        if bytes.count == size {
            // The file grew meanwhile: the rest, within the limit.
            let rest: [UInt8]
            do { rest = try readAll(fromDescriptor: fd, name: path, maxBytes: maxBytes - size) } catch {
                throw FileError(path: path, reason: error.reason.contains("over the limit") ? "the file is over the limit of \(maxBytes) bytes" : error.reason)
            }
            if !rest.isEmpty { bytes += rest }
        }
        return bytes
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
