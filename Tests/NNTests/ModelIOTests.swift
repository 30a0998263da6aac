// Saving parameters to a .vqzm ModelFile and loading them back into layers, with errors that name
// the tensor.

import Container
import NN
import Testing
import TensorCore
import TestSupport

@Suite("Model files ↔ parameters")
struct ModelIOTests {
    let metadata: [ModelFile.MetadataEntry] = [
        .init("architecture", .string("tiny-ae-test")), .init("hparams.channels", .int(8)),
        .init("train.seed", .int(1)), .init("train.git_commit", .string("abc1234")),
    ]

    @Test func saveAndLoadRoundTrips() throws {
        let a = tinyAutoencoder()
        var rng = Xoshiro256(seed: 3)
        for p in a.parameters { p.value = Tensor.randomNormal(p.shape, using: &rng) }
        let bytes = try ModelFile(metadata: metadata, parameters: a.parameters).serialized()
        let b = tinyAutoencoder()
        try loadParameters(b.parameters, from: try ModelFile(bytes: bytes), architecture: "tiny-ae-test")
        for (p, q) in zip(a.parameters, b.parameters) { #expect(p.value == q.value, "\(p.name)") }
        let x = Tensor.randomUniform([1, 3, 8, 8], using: &rng)
        #expect(a.forward(x, mode: .inference) == b.forward(x, mode: .inference))
    }

    @Test func f16StorageIsCloseToF32() throws {
        let a = tinyAutoencoder()
        let bytes = try ModelFile(metadata: metadata, parameters: a.parameters, dtype: .f16).serialized()
        let b = tinyAutoencoder()
        for p in b.parameters { p.value.fill(0) }
        try loadParameters(b.parameters, from: try ModelFile(bytes: bytes))
        for (p, q) in zip(a.parameters, b.parameters) {
            // binary16 keeps 11 significant bits: relative error ≤ 2⁻¹¹ (normal range).
            expectClose(q.value, p.value, atol: 1e-6, rtol: 1.0 / 2048, "\(p.name) via f16")
        }
    }

    @Test func loadingErrorsNameTheTensor() throws {
        let a = tinyAutoencoder()
        let file = try ModelFile(bytes: try ModelFile(metadata: metadata, parameters: a.parameters).serialized())
        #expect(throws: ModelFileError.architectureMismatch(expected: "vqvae", found: "tiny-ae-test")) {
            try loadParameters(a.parameters, from: file, architecture: "vqvae")
        }
        var missing = file
        missing.arrays.removeAll { $0.name == "enc.gdn1.gamma_p" }
        #expect(throws: ModelFileError.missingTensor("enc.gdn1.gamma_p")) { try loadParameters(a.parameters, from: missing) }
        var shape = file
        shape.arrays[0] = .init(name: "enc.conv1.weight", shape: [8, 3, 3, 3], floats: [Float](repeating: 0, count: 216))
        #expect(throws: ModelFileError.shapeMismatch(tensor: "enc.conv1.weight", expected: [8, 3, 5, 5], found: [8, 3, 3, 3])) {
            try loadParameters(a.parameters, from: shape)
        }
        var extra = file
        extra.arrays.append(.init(name: "vq.codebook", shape: [4, 2], floats: [Float](repeating: 0, count: 8)))
        #expect(throws: ModelFileError.unexpectedTensor("vq.codebook")) { try loadParameters(a.parameters, from: extra) }
        var blob = file
        blob.arrays.append(.init(name: "codec.zstd_dictionary", bytes: [1, 2, 3]))
        try loadParameters(a.parameters, from: blob)  // opaque u8 arrays are not parameters
        var dtype = file
        dtype.arrays[1] = .init(name: "enc.conv1.bias", bytes: [UInt8](repeating: 0, count: 8))
        #expect(throws: ModelFileError.dtypeMismatch(tensor: "enc.conv1.bias", expected: "f32 or f16", found: "u8")) {
            try loadParameters(a.parameters, from: dtype)
        }
    }
}
