// Replays tools/fuzz/regressions/decode (empty until the decode fuzzer finds something) through the
// whole decode path with the committed tiny test models, as the FuzzDecode target does.

import Codec
import Container
import Foundation
import Testing

@Suite struct FuzzRegressionTests {
    @Test func everyFindingIsDecodedOrRefused() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = root.appendingPathComponent("tools/fuzz/regressions/decode")
        let models = try ["tiny-vq", "tiny-gaussian"].map { try LoadedModel(path: root.appendingPathComponent("Tests/Fixtures/models/codecs/\($0).vqzm").path) }
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted() {
            let bytes = try [UInt8](Data(contentsOf: dir.appendingPathComponent(name)))
            for model in models { _ = try? ImageCodec.decode(bytes, model: model, limits: BitstreamLimits(maxPixels: 1 << 16, maxTokenBytes: 1 << 20)) }
        }
    }
}
