// Replays the .vqz fuzzing regressions (tools/fuzz/regressions/container and …/decode) through the
// container reader: every file has a recorded outcome, parsed or refused with the exact
// ContainerError. A new finding is added to `expected` with its fix.

import Container
import Foundation
import Testing

@Suite struct FuzzRegressionTests {
    static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools/fuzz/regressions")

    /// Per file (`folder/name`): nil when the container reader accepts it, else its error.
    static let expected: [String: ContainerError?] = [
        "decode/nan-pixels-crc-fixed.vqz": nil,
        "decode/nan-pixels.vqz": .headerChecksumMismatch(declared: 0xDF14_9603, computed: 0x6B22_CE47),
    ]

    @Test func everyFindingIsParsedOrRefusedAsRecorded() throws {
        var files: [String] = []
        for folder in ["container", "decode"] {
            let dir = Self.regressions.appendingPathComponent(folder)
            guard FileManager.default.fileExists(atPath: dir.path) else { continue }
            files += try FileManager.default.contentsOfDirectory(atPath: dir.path).map { "\(folder)/\($0)" }
        }
        #expect(!files.isEmpty, "no .vqz regression inputs under \(Self.regressions.path)")
        #expect(Set(files) == Set(Self.expected.keys), "every file needs a recorded outcome")
        for file in files.sorted() {
            let bytes = try [UInt8](Data(contentsOf: Self.regressions.appendingPathComponent(file)))
            let limits = BitstreamLimits(maxPixels: 1 << 20, maxTokenBytes: 1 << 22)
            if let error = Self.expected[file] ?? nil {
                #expect(throws: error, "\(file)") { try BitstreamFile.parse(bytes, limits: limits) }
            } else {
                #expect(throws: Never.self, "\(file)") { try BitstreamFile.parse(bytes, limits: limits) }
            }
        }
    }
}
