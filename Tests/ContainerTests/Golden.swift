// The committed golden .vqz files (docs/FORMAT.md, "Worked example"), how they are built, and
// helpers to corrupt them. Set VQZ_REGENERATE_GOLDEN=1 to rewrite the committed files on purpose.

import Container
import Foundation

enum Golden {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/container")

    /// The zstd version that wrote the committed files: byte-exact comparison of the zstd frames
    /// is only meaningful with the same library version.
    static let zstdVersion = "1.5.4"

    static let modelID = ModelID(modelFile: Array("vqz golden model".utf8))

    /// v1-minimal.vqz: 20×12 RGB, VQ f=8, level 2 (two stages of K=256), grid 3×2.
    static let minimal = BitstreamFile(
        payloadKind: .vqTokens, downsampleFactor: 8, imageWidth: 20, imageHeight: 12, level: 2,
        planeCount: 2, alphabetSizes: [256], modelID: modelID,
        symbols: [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255])

    /// v1-gaussian-alpha.vqz: 5×3 gray+alpha, Gaussian latents, f=4, grid 2×1, 3 planes of −4…4.
    static let gaussianAlpha = BitstreamFile(
        payloadKind: .gaussianLatents, flags: [.gray], downsampleFactor: 4, imageWidth: 5, imageHeight: 3,
        level: 3, planeCount: 3, alphabetSizes: [9], quantStep: 0.5, modelID: modelID,
        symbols: [0, -1, 1, -4, 4, 2].map { BitstreamFile.zigzag($0) },
        alpha: [0, 17, 34, 51, 68, 85, 102, 119, 136, 153, 170, 187, 204, 221, 255])

    /// v1.1-metadata.vqz: `minimal` with a metadata section (version 1.1): gAMA and tEXt entries.
    static let withMetadata: BitstreamFile = {
        var f = minimal
        f.metadata = [MetadataEntry(type: "gAMA", data: [0x00, 0x00, 0xB1, 0x8F]), MetadataEntry(type: "tEXt", data: Array("Comment\u{0}hello".utf8))]
        return f
    }()

    static let files: [(name: String, content: BitstreamFile)] = [
        ("v1-minimal.vqz", minimal), ("v1-gaussian-alpha.vqz", gaussianAlpha), ("v1.1-metadata.vqz", withMetadata),
    ]

    /// How the golden files are written: one zstd block per frame.
    static let options = BitstreamWriteOptions(planeBlocks: false)

    static func bytes(_ name: String) throws -> [UInt8] {
        let url = fixtures.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["VQZ_REGENERATE_GOLDEN"] == "1",
            let content = files.first(where: { $0.name == name })?.content
        {
            try Data(try content.serialized(options: options)).write(to: url)
        }
        return [UInt8](try Data(contentsOf: url))
    }

    /// Recomputes Header_CRC32 (and Payload_CRC32) after a deliberate change, so that the change
    /// reaches the field checks instead of the checksum check.
    static func resealed(_ file: [UInt8]) -> [UInt8] {
        var f = file
        let headerSize = Int(f[10]) | Int(f[11]) << 8
        let payloadCRC = CRC32.checksum(f[min(headerSize, f.count)...])
        for i in 0..<4 { f[64 + i] = UInt8(truncatingIfNeeded: payloadCRC >> (8 * UInt32(i))) }
        let crc = CRC32.checksum(f[0..<headerSize - 4])
        for i in 0..<4 { f[headerSize - 4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        return f
    }

    static func setU32(_ f: inout [UInt8], at offset: Int, _ v: UInt32) {
        for i in 0..<4 { f[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }
}
