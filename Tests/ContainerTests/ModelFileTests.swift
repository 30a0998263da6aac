// .vqzm model files: round trips, f16 conversion, the committed golden file, and one specific error
// for each kind of damage (truncation at every length, flipped bytes, version, reserved fields,
// limits, names, offsets, padding).

import Foundation
import Testing
@testable import Container

private let goldenURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures/models/tiny-v1.vqzm")

/// The model of docs/MODEL-FORMAT.md's worked example.
func tinyModel() -> ModelFile {
    ModelFile(
        metadata: [.init("architecture", .string("tiny-test")), .init("hparams.channels", .int(2))],
        arrays: [
            .init(name: "conv.weight", shape: [2, 1, 1, 1], floats: [1, -2]),
            .init(name: "conv.bias", shape: [2], floats: [0.5, -0.25], dtype: .f16),
            .init(name: "blob", bytes: [1, 2, 3]),
        ])
}

/// Recomputes Header_CRC32 and File_CRC32, so that a test reaches the rule after the checksums.
func resealed(_ bytes: [UInt8]) -> [UInt8] {
    var b = bytes
    let h = CRC32.checksum(b[0..<60])
    for i in 0..<4 { b[60 + i] = UInt8(truncatingIfNeeded: h >> (8 * UInt32(i))) }
    let end = b.count - 4
    let f = CRC32.checksum(b[0..<end])
    for i in 0..<4 { b[end + i] = UInt8(truncatingIfNeeded: f >> (8 * UInt32(i))) }
    return b
}

func putU32(_ v: UInt32, _ b: inout [UInt8], at o: Int) {
    for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
}

func putU64(_ v: UInt64, _ b: inout [UInt8], at o: Int) {
    for i in 0..<8 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
}

@Suite("Model files (.vqzm)")
struct ModelFileTests {
    /// f16 weights widen exactly as Swift's `Float(Float16)` does, for all 65,536 bit patterns
    /// (NaNs: still NaN, same sign).
    @Test func halfWideningIsExactForEveryBitPattern() {
        var wrong = 0
        for bits in 0...UInt16.max {
            let reference = Float(Float16(bitPattern: bits)), fast = widenHalf(bits)
            if reference.isNaN {
                if !fast.isNaN || fast.sign != reference.sign { wrong += 1 }
            } else if fast.bitPattern != reference.bitPattern {
                wrong += 1
            }
        }
        #expect(wrong == 0)
    }

    @Test func goldenFileIsReproducedByteForByte() throws {
        let bytes = try tinyModel().serialized()
        if ProcessInfo.processInfo.environment["VQZ_REGENERATE_GOLDEN"] == "1" {
            try Data(bytes).write(to: goldenURL)
        }
        guard let golden = FileManager.default.contents(atPath: goldenURL.path) else {
            Issue.record("missing \(goldenURL.path) (regenerate with VQZ_REGENERATE_GOLDEN=1)")
            return
        }
        #expect(bytes == [UInt8](golden))
        #expect(bytes.count == 452)
        #expect(try ModelFile(bytes: [UInt8](golden)) == tinyModel())
    }

    @Test func headerFieldsFollowTheSpec() throws {
        let b = try tinyModel().serialized()
        #expect(Array(b[0..<8]) == [0x89, 0x56, 0x51, 0x4D, 0x0D, 0x0A, 0x1A, 0x0A])
        var r = ByteReader(b, offset: 8)
        #expect(try r.u8() == 1 && r.u8() == 0 && r.u16() == 0)
        #expect(try r.u32() == 2 && r.u32() == 3 && r.u32() == 0)
        #expect(try r.u64() == 119 && r.u64() == 256 && r.u64() == 192 && r.u64() == 452)
        // The data of conv.bias (f16 0.5, −0.25) at Data_Offset + 64.
        #expect(Array(b[320..<324]) == [0x00, 0x38, 0x00, 0xB4])
    }

    @Test func roundTripKeepsEverything() throws {
        var model = tinyModel()
        model.metadata += [
            .init("train.seed", .int(-7)), .init("train.lr", .float(3e-4)),
            .init("train.date", .string("2026-11-21T18:00:00Z")), .init("train.note", .string("ünïcode ✓")),
        ]
        model.arrays.append(.init(name: "enc.scalar", shape: [], floats: [Float.pi]))
        model.arrays.append(.init(name: "enc.big", shape: [3, 5, 7], floats: (0..<105).map { Float($0) * 0.37 - 9 }))
        let bytes = try model.serialized()
        let back = try ModelFile(bytes: bytes)
        #expect(back == model)
        #expect(back["train.seed"] == .int(-7))
        #expect(back.architecture == "tiny-test")
        #expect(try back.serialized() == bytes)
        #expect(ModelFile.sha256(of: bytes).count == 32)
    }

    @Test func f16ConversionRoundsToNearestEvenAndRefusesOverflow() throws {
        // 1 + 2⁻¹¹ is halfway between two f16 values: ties to even → 1.0; 1 + 3·2⁻¹¹ → 1 + 2⁻⁹.
        let values: [Float] = [1 + 1.0 / 2048, 1 + 3.0 / 2048, 65504, -0.0, 6e-8, 0.1]
        let model = ModelFile(
            metadata: [.init("architecture", .string("t"))],
            arrays: [.init(name: "h", shape: [6], floats: values, dtype: .f16)])
        let back = try ModelFile(bytes: try model.serialized()).arrays[0].floats!
        #expect(back[0] == 1)
        #expect(back[1] == 1 + 1.0 / 512)
        #expect(back[2] == 65504)
        #expect(back[3] == 0 && back[3].sign == .minus)
        #expect(back[4] == Float(Float16(6e-8)))  // subnormal
        #expect(abs(back[5] - 0.1) < 1e-4)
        let overflow = ModelFile(
            metadata: [.init("architecture", .string("t"))],
            arrays: [.init(name: "h", shape: [1], floats: [70000], dtype: .f16)])
        #expect(throws: ModelFileError.f16Overflow(tensor: "h", value: 70000)) { try overflow.serialized() }
    }

    @Test func everyTruncationIsRejected() throws {
        let bytes = try tinyModel().serialized()
        for length in 0..<bytes.count {
            let prefix = Array(bytes[0..<length])
            let expected = ModelFileError.truncated(expected: length < 64 ? 64 : 452, available: length)
            #expect(throws: expected, "length \(length)") { try ModelFile(bytes: prefix) }
        }
        #expect(throws: ModelFileError.trailingBytes(declared: 452, actual: 453)) {
            try ModelFile(bytes: bytes + [0])
        }
    }

    @Test func everyFlippedByteIsRejected() throws {
        let bytes = try tinyModel().serialized()
        for i in 0..<bytes.count {
            var b = bytes
            b[i] ^= 0x10
            do {
                _ = try ModelFile(bytes: b)
                Issue.record("flip at \(i) accepted")
            } catch {
                switch error {
                case .badSignature: #expect(i < 8)
                case .unsupportedVersion: #expect(i == 8)
                case .headerChecksumMismatch: #expect(i < 64)
                case .fileChecksumMismatch: #expect(i >= 64)
                default: Issue.record("flip at \(i): unexpected \(error)")
                }
            }
        }
    }

    @Test func headerRulesAfterTheChecksum() throws {
        let bytes = try tinyModel().serialized()
        var v = bytes
        v[8] = 2
        #expect(throws: ModelFileError.unsupportedVersion(major: 2, minor: 0)) { try ModelFile(bytes: resealed(v)) }
        var minor = bytes
        minor[9] = 7
        #expect(try ModelFile(bytes: resealed(minor)) == tinyModel())  // any minor version is read
        var flags = bytes
        flags[10] = 1
        #expect(throws: ModelFileError.reservedFieldSet(field: "Flags", value: 1)) { try ModelFile(bytes: resealed(flags)) }
        var reserved = bytes
        reserved[57] = 1
        #expect(throws: ModelFileError.reservedFieldSet(field: "Reserved_2", value: 256)) { try ModelFile(bytes: resealed(reserved)) }
        var count = bytes
        putU32(5000, &count, at: 12)
        #expect(throws: ModelFileError.limitExceeded(field: "Metadata_Count", value: 5000, limit: 4096)) { try ModelFile(bytes: resealed(count)) }
        var tensors = bytes
        putU32(70000, &tensors, at: 16)
        #expect(throws: ModelFileError.limitExceeded(field: "Tensor_Count", value: 70000, limit: 65536)) { try ModelFile(bytes: resealed(tensors)) }
        var size = bytes
        putU64(1 << 40, &size, at: 48)
        #expect(throws: ModelFileError.limitExceeded(field: "File_Size", value: 1 << 40, limit: 1 << 32)) { try ModelFile(bytes: resealed(size)) }
        var table = bytes
        putU64(120, &table, at: 24)
        #expect(throws: ModelFileError.offsetMismatch(field: "Tensor_Table_Offset", declared: 120, expected: 119)) { try ModelFile(bytes: resealed(table)) }
        var data = bytes
        putU64(192, &data, at: 32)
        #expect(throws: ModelFileError.offsetMismatch(field: "Data_Offset", declared: 192, expected: 256)) { try ModelFile(bytes: resealed(data)) }
    }

    @Test func contentRulesNameTheKeyOrTensor() throws {
        let bytes = try tinyModel().serialized()
        // Metadata key "architecture" starts at 66; tensor "conv.weight" at 121; its DType at 132.
        var name = bytes
        name[66] = UInt8(ascii: "A")
        #expect(throws: ModelFileError.invalidName(kind: "metadata key", bytes: Array("Architecture".utf8))) { try ModelFile(bytes: resealed(name)) }
        var type = bytes
        type[78] = 9
        #expect(throws: ModelFileError.unknownValueType(key: "architecture", code: 9)) { try ModelFile(bytes: resealed(type)) }
        var dtype = bytes
        dtype[132] = 7
        #expect(throws: ModelFileError.unknownDType(tensor: "conv.weight", code: 7)) { try ModelFile(bytes: resealed(dtype)) }
        var dim = bytes
        putU32(0, &dim, at: 134)
        #expect(throws: ModelFileError.invalidDimensions(tensor: "conv.weight", dims: [0, 1, 1, 1])) { try ModelFile(bytes: resealed(dim)) }
        var huge = bytes  // 2³¹−1 per dimension: each dim is legal, the product is not
        for d in 0..<4 { putU32(UInt32(Int32.max), &huge, at: 134 + 4 * d) }
        #expect(throws: ModelFileError.invalidDimensions(tensor: "conv.weight", dims: [UInt64](repeating: UInt64(Int32.max), count: 4))) {
            try ModelFile(bytes: resealed(huge))
        }
        var offset = bytes
        putU64(64, &offset, at: 150)
        #expect(throws: ModelFileError.offsetMismatch(field: "conv.weight Data_Offset_In_Section", declared: 64, expected: 0)) { try ModelFile(bytes: resealed(offset)) }
        var padding = bytes
        padding[264] = 1  // between conv.weight (8 bytes at 256) and conv.bias (at 320)
        #expect(throws: ModelFileError.nonZeroPadding(offset: 264)) { try ModelFile(bytes: resealed(padding)) }
        var long = bytes
        long[64] = 0
        long[65] = 0
        #expect(throws: ModelFileError.limitExceeded(field: "metadata key name length", value: 0, limit: 255)) { try ModelFile(bytes: resealed(long)) }
    }

    @Test func writerRefusesInvalidModels() {
        let arch = ModelFile.MetadataEntry("architecture", .string("t"))
        #expect(throws: ModelFileError.missingMetadata(key: "architecture")) {
            try ModelFile(metadata: [.init("x", .int(1))], arrays: []).serialized()
        }
        #expect(throws: ModelFileError.duplicateKey("architecture")) {
            try ModelFile(metadata: [arch, arch], arrays: []).serialized()
        }
        #expect(throws: ModelFileError.invalidName(kind: "tensor", bytes: Array("enc..w".utf8))) {
            try ModelFile(metadata: [arch], arrays: [.init(name: "enc..w", shape: [1], floats: [0])]).serialized()
        }
        #expect(throws: ModelFileError.duplicateTensor("w")) {
            try ModelFile(metadata: [arch], arrays: [.init(name: "w", shape: [1], floats: [0]), .init(name: "w", shape: [1], floats: [0])]).serialized()
        }
        #expect(throws: ModelFileError.nonFiniteValue(key: "lr")) {
            try ModelFile(metadata: [arch, .init("lr", .float(.nan))], arrays: []).serialized()
        }
        for bad in ["", ".a", "a.", "A", "a-b", String(repeating: "a", count: 256)] {
            #expect(!ModelFile.isValidName(Array(bad.utf8)), "\(bad)")
        }
        #expect(ModelFile.isValidName(Array("enc.res2.conv_b.bias".utf8)))
    }

    @Test func errorsReadAsSentences() {
        #expect(ModelFileError.shapeMismatch(tensor: "enc.conv1.weight", expected: [64, 3, 5, 5], found: [64, 3, 3, 3]).description
            == "enc.conv1.weight: expected [64, 3, 5, 5], file has [64, 3, 3, 3]")
        #expect(ModelFileError.missingTensor("vq.codebook").description.contains("vq.codebook"))
    }
}
