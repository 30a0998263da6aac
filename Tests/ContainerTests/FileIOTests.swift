// Atomic writes: an existing file is kept unless overwriting is asked for; failures leave nothing.

import Container
import Foundation
import Testing

@Suite struct FileIOTests {
    let dir: URL = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("vqz-fileio-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }()

    func leftovers() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".tmp") }
    }

    @Test func writesReadsAndRefusesToOverwrite() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.bin").path
        try FileIO.writeAtomically([1, 2, 3], to: path, overwrite: false)
        #expect(try FileIO.read(path) == [1, 2, 3])
        #expect(throws: FileError(path: path, reason: "already exists (use -f to overwrite it)")) {
            try FileIO.writeAtomically([9], to: path, overwrite: false)
        }
        #expect(try FileIO.read(path) == [1, 2, 3])
        try FileIO.writeAtomically([4, 5], to: path, overwrite: true)
        #expect(try FileIO.read(path) == [4, 5])
        #expect(try leftovers().isEmpty)
    }

    @Test func failuresLeaveNothingBehind() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let missingDir = dir.appendingPathComponent("no/such/dir/out.bin").path
        #expect(throws: FileError.self) { try FileIO.writeAtomically([1], to: missingDir, overwrite: true) }
        #expect(throws: FileError(path: dir.path, reason: "is a directory")) {
            try FileIO.writeAtomically([1], to: dir.path, overwrite: true)
        }
        #expect(try leftovers().isEmpty)
        #expect(throws: FileError(path: "/nonexistent", reason: "no such file")) { try FileIO.read("/nonexistent") }
        #expect(throws: FileError(path: dir.path, reason: "is a directory")) { try FileIO.read(dir.path) }
    }

    @Test func readRefusesOversizedFiles() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("big.bin").path
        try FileIO.writeAtomically([UInt8](repeating: 0, count: 100), to: path, overwrite: false)
        #expect(throws: FileError(path: path, reason: "the file is 100 bytes, over the limit of 99")) {
            try FileIO.read(path, maxBytes: 99)
        }
    }
}
