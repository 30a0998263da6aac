// Replays tools/fuzz/regressions/png: inputs that once crashed the PNG reader must now be refused.

import Foundation
import Imaging
import Testing

@Suite struct FuzzRegressionTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools/fuzz/regressions/png")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }

    @Test func everyFindingIsRefused() throws {
        #expect(!Self.files.isEmpty)
        for name in Self.files {
            let bytes = try [UInt8](Data(contentsOf: Self.directory.appendingPathComponent(name)))
            #expect(throws: ImagingError.self, "\(name)") { try PNGDecoder.decode(bytes, maxPixels: 1 << 20) }
        }
    }

    @Test func aHugeDeclaredSizeIsTooLargeNotATrap() throws {
        let bytes = try [UInt8](Data(contentsOf: Self.directory.appendingPathComponent("ihdr-size-product-overflow-crc-fixed.png")))
        do {
            _ = try PNGDecoder.decode(bytes)
            Issue.record("decoded")
        } catch {
            guard case .tooLarge = error else { Issue.record("\(error)"); return }
        }
    }
}
