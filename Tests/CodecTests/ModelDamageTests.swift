// Models that load but would crash or mislead later: non-finite weights are refused when the file
// is loaded (for coding and for resuming training), naming the array; Gaussian latents beyond the
// container's ±32 767 are reported, not clamped silently.

import Codec
import Container
import Models
import Testing
import Training

@Suite struct ModelDamageTests {
    /// `bytes` (a model file) with value `index` of array `name` replaced by `value`.
    static func damaged(_ bytes: [UInt8], array name: String, index: Int = 0, value: Float) throws -> [UInt8] {
        var file = try ModelFile(bytes: bytes)
        let i = try #require(file.arrays.firstIndex { $0.name == name })
        var floats = try #require(file.arrays[i].floats)
        floats[index] = value
        file.arrays[i] = ModelFile.NamedArray(name: name, shape: file.arrays[i].shape, floats: floats, dtype: file.arrays[i].dtype)
        return try file.serialized()
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteWeightsAreRefusedNamingTheArray(value: Float) throws {
        let gaussian = try TinyModels.bytes(ModelConfig(family: .gaussian, channels: 4, latentChannels: 3, quantSteps: [0.5, 0.1]), seed: 3)
        let vq = try TinyModels.bytes(ModelConfig(family: .vq, channels: 4, latentChannels: 3, stages: 3, codebookSize: 16), seed: 1)
        for (bytes, name) in [(gaussian, try ModelFile(bytes: gaussian).arrays[0].name), (vq, "vq.codebook.2")] {
            let bad = try Self.damaged(bytes, array: name, index: 5, value: value)
            let error = #expect(throws: ModelLoadError.self) { try LoadedModel(bytes: bad, name: "bad") }
            #expect(error?.description.hasPrefix("bad: tensor \(name) holds a non-finite value") == true, "\(String(describing: error))")
        }
    }

    @Test func aCheckpointWithNonFiniteWeightsIsNotResumed() throws {
        var options = TrainingOptions()
        options.steps = 10
        options.warmupSteps = 1
        let trainer = Trainer(config: ModelConfig(family: .gaussian, channels: 4, latentChannels: 3), options: options, dataVariance: 0.05)
        let bytes = try trainer.modelFile(checkpoint: true).serialized()
        #expect(throws: Never.self) { try Trainer(resuming: ModelFile(bytes: bytes)) }
        let name = try ModelFile(bytes: bytes).arrays[1].name
        let bad = try Self.damaged(bytes, array: name, value: .nan)
        let error = #expect(throws: TrainingError.self) { try Trainer(resuming: ModelFile(bytes: bad)) }
        #expect(error?.description.hasPrefix("tensor \(name) holds a non-finite value") == true, "\(String(describing: error))")
    }

    @Test func clampedGaussianLatentsAreReported() throws {
        // A step so small that ordinary latents exceed ±32 767 steps at level 1; level 2 fits.
        let bytes = try TinyModels.bytes(ModelConfig(family: .gaussian, channels: 4, latentChannels: 3, quantSteps: [1e-7, 0.5]), seed: 3)
        let model = try LoadedModel(bytes: bytes, name: "tiny")
        let image = testImage(width: 24, height: 16, format: .rgb, seed: 4)
        var notices: [EncodeNotice] = []
        let files = try ImageCodec.encode(image, model: model, levels: [1, 2]) { notices.append($0) }
        #expect(notices.count == 1)
        guard case let .clampedLatents(level, count)? = notices.first else { Issue.record("no notice"); return }
        #expect(level == 1 && count > 0 && count <= 3 * 3 * 2)
        // The clamped file is still valid: the alphabet stays within the format's 65 536.
        let header = try BitstreamHeader.parse(files[0])
        #expect(header.alphabetSizes == [65_535])
        #expect(try ImageCodec.decode(files[0], model: model).width == 24)
    }
}
