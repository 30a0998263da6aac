// Replays tools/fuzz/regressions/decode through the whole decode path with the committed tiny test
// models, as the FuzzDecode target does. Every file has a recorded outcome (decoded to a given
// size, or refused with a given error): a new finding is added to `expected` with its fix.

import Codec
import Container
import Foundation
import Testing

@Suite struct FuzzRegressionTests {
    enum Outcome {
        case decoded(width: Int, height: Int)
        case refused(containing: String)
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let directory = root.appendingPathComponent("tools/fuzz/regressions/decode")

    /// What each finding does now (tools/fuzz/regressions/README.md says why).
    static let expected: [String: Outcome] = [
        // The latents drive the tiny Gaussian decoder to NaN: the pixels become 0 instead of a trap.
        "nan-pixels-crc-fixed.vqz": .decoded(width: 39, height: 39),
        // The fuzzer's original input: its header CRC no longer matches.
        "nan-pixels.vqz": .refused(containing: "the header is damaged: Header_CRC32 is 0xdf149603"),
    ]

    @Test func everyFindingHasItsRecordedOutcome() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).sorted()
        #expect(!names.isEmpty, "no regression inputs in \(Self.directory.path)")
        #expect(Set(names) == Set(Self.expected.keys), "every file needs a recorded outcome")
        let models = try ["tiny-vq", "tiny-gaussian"].map { try LoadedModel(path: Self.root.appendingPathComponent("Tests/Fixtures/models/codecs/\($0).vqzm").path) }
        for name in names {
            let bytes = try [UInt8](Data(contentsOf: Self.directory.appendingPathComponent(name)))
            let limits = BitstreamLimits(maxPixels: 1 << 16, maxTokenBytes: 1 << 20)
            switch Self.expected[name] {
            case let .decoded(width, height)?:
                // Decoded by the model it names; refused by the other (a different model id).
                let results = models.map { model in Result { try ImageCodec.decode(bytes, model: model, limits: limits) } }
                let images = results.compactMap { try? $0.get() }
                #expect(images.count == 1, "\(name)")
                #expect(images.first.map { $0.width == width && $0.height == height } == true, "\(name)")
            case let .refused(containing)?:
                for model in models {
                    #expect("\(name) with \(model.name)") {
                        try ImageCodec.decode(bytes, model: model, limits: limits)
                    } throws: { error in
                        "\(error)".contains(containing)
                    }
                }
            case nil:
                break
            }
        }
    }
}
