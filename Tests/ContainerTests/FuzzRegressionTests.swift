// Replays tools/fuzz/regressions/container (empty until the container fuzzer finds something):
// every input must be parsed or refused with a ContainerError, never crash.

import Container
import Foundation
import Testing

@Suite struct FuzzRegressionTests {
    @Test func everyFindingIsParsedOrRefused() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tools/fuzz/regressions/container")
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted() {
            let bytes = try [UInt8](Data(contentsOf: dir.appendingPathComponent(name)))
            _ = try? BitstreamFile.parse(bytes, limits: BitstreamLimits(maxPixels: 1 << 20, maxTokenBytes: 1 << 22))
        }
    }
}
