// Decoder tuning (`vqz train --resume … --tune-decoder`): the encoder and the codebooks stay as they
// were, so the tuned model writes the checkpoint's tokens (and a token prior trained for them still
// fits), while the decoder learns from exactly the tokens `vqz encode` writes.

import Codec
import Container
import Imaging
import Models
import TensorCore
import Testing
import Training

@Suite struct DecoderTuningTests {
    static func dataset() -> (ImageDataset, [PixelImage]) {
        let images = (0..<4).map { testImage(width: 40, height: 32, format: .rgb, seed: 30 + UInt64($0)) }
        return (ImageDataset(images: images.enumerated().map { i, image in
            ImageDataset.Image(name: "image\(i)", width: image.width, height: image.height, rgb: image.rgb)
        }), images)
    }

    @Test func decoderTuningKeepsTheTokensAndLearnsThem() throws {
        let (data, images) = Self.dataset()
        var config = ModelConfig(family: .vq, channels: 4, latentChannels: 3, stages: 3, codebookSize: 16)
        config.lambdas = [0.3, 0.1, 0.05]
        var options = TrainingOptions()
        options.steps = 8
        options.batchSize = 4
        options.crop = 16
        options.learningRate = 3e-3
        options.warmupSteps = 1
        options.seed = 5
        let base = Trainer(config: config, options: options, dataVariance: 0.05)
        for _ in 0..<8 { _ = try base.trainStep(data: data) }
        let checkpoint = base.modelFile(checkpoint: true)

        var arguments = TrainingArguments()
        arguments.steps = 48
        arguments.restart = true
        arguments.tuneDecoder = true
        let tuned = try arguments.resume(checkpoint)
        #expect(tuned.options.decoderOnly)
        let crops = data.centerCrops(crop: 32)
        let before = tuned.validate(crops)
        for _ in 8..<48 { _ = try tuned.trainStep(data: data) }
        let after = tuned.validate(crops)

        // Only the decoder moved.
        let old = Dictionary(uniqueKeysWithValues: base.stateTensors(includeOptimizer: false))
        let new = Dictionary(uniqueKeysWithValues: tuned.stateTensors(includeOptimizer: false))
        let decoderNames = Set(tuned.vq!.decoder.parameters.map(\.name))
        #expect(!decoderNames.isEmpty)
        for (name, value) in new {
            if decoderNames.contains(name) { continue }
            #expect(old[name] == value, "\(name) changed during decoder tuning")
        }
        #expect(decoderNames.contains { old[$0] != new[$0] }, "the decoder did not change")
        // On the tokens it learns from (the codec's), every level got better: measured +2.1 … +2.2 dB on this tiny model.
        for (level, (b, a)) in zip(before.psnr, after.psnr).enumerated() {
            #expect(a > b + 0.5, "level \(level + 1): \(b) dB before tuning, \(a) dB after")
        }

        // The files: the same tokens at every level, other pixels.
        let baseModel = try LoadedModel(bytes: base.modelFile(checkpoint: false).serialized(), name: "base")
        let tunedFile = tuned.modelFile(checkpoint: false)
        #expect(tunedFile.stringMetadata["train.decoder_only"] == "1")
        let tunedModel = try LoadedModel(bytes: tunedFile.serialized(), name: "tuned")
        for image in images.prefix(2) {
            let a = try ImageCodec.tokenPlanes(image, model: baseModel, levels: [1, 2, 3])
            let b = try ImageCodec.tokenPlanes(image, model: tunedModel, levels: [1, 2, 3])
            #expect(a == b)
            // What training quantized is what the codec writes.
            let rows = tuned.vq!.latents(ImageCodec.paddedTensor(image, factor: 8))
            for level in 1...3 {
                let indices = b[level - 1].map { $0.map { Int32($0) } }
                #expect(tuned.codecLatents(rows, levels: level) == tuned.vq!.quantizer.dequantize(indices, count: rows.shape[0]), "level \(level)")
            }
            #expect(try ImageCodec.encode(image, model: tunedModel, level: 3) != ImageCodec.encode(image, model: baseModel, level: 3),
                    "the files name different models")
        }

        // A resumed tuning run stays one.
        let again = try TrainingArguments().resume(tuned.modelFile(checkpoint: true))
        #expect(again.options.decoderOnly)
    }

    /// `--codec-tokens`: recorded in the checkpoint, kept by a plain resume, switched off by
    /// `--no-codec-tokens`; the whole model trains (encoder and codebooks move too); validation is
    /// on the codec's tokens; refused beside decoder tuning.
    @Test func codecTokenTrainingIsRecordedAndResumed() throws {
        let (data, _) = Self.dataset()
        var config = ModelConfig(family: .vq, channels: 4, latentChannels: 3, stages: 3, codebookSize: 16)
        config.lambdas = [0.3, 0.1, 0.05]
        config.zeroCodeFrom = 2
        var options = TrainingOptions()
        options.steps = 6
        options.batchSize = 4
        options.crop = 16
        options.warmupSteps = 1
        options.seed = 5
        let base = Trainer(config: config, options: options, dataVariance: 0.05)
        for _ in 0..<6 { _ = try base.trainStep(data: data) }
        var arguments = TrainingArguments()
        arguments.steps = 12
        arguments.codecTokens = true
        let run = try arguments.resume(base.modelFile(checkpoint: true))
        #expect(run.options.codecTokens)
        for _ in 6..<12 { _ = try run.trainStep(data: data) }
        let old = Dictionary(uniqueKeysWithValues: base.stateTensors(includeOptimizer: false))
        let new = Dictionary(uniqueKeysWithValues: run.stateTensors(includeOptimizer: false))
        for network in [run.vq!.encoder.parameters, run.vq!.decoder.parameters] {
            #expect(network.contains { old[$0.name] != new[$0.name] })
        }
        #expect(run.vq!.quantizer.codebooks != base.vq!.quantizer.codebooks)
        // Validation decodes the codec's tokens.
        let crops = data.centerCrops(crop: 32)
        let rows = run.vq!.latents(crops)
        let report = run.validate(crops)
        for level in 1...3 {
            let xHat = run.vq!.decodeRows(run.codecLatents(rows, levels: level), n: crops.shape[0], h: 4, w: 4, mode: .inference)
            #expect(report.psnr[level - 1] == Trainer.psnr(xHat, crops), "level \(level)")
        }
        let checkpoint = run.modelFile(checkpoint: true)
        #expect(checkpoint.stringMetadata["train.codec_tokens"] == "1")
        #expect(try TrainingArguments().resume(checkpoint).options.codecTokens)
        var off = TrainingArguments()
        off.codecTokens = false
        #expect(try !off.resume(checkpoint).options.codecTokens)
        var both = TrainingArguments()
        both.tuneDecoder = true
        #expect(throws: TrainingArgumentError("--codec-tokens trains the whole model; decoder tuning (--tune-decoder) already uses the codec's tokens")) {
            try both.resume(checkpoint)
        }
    }

    @Test func tuneDecoderIsRefusedForGaussianModels() throws {
        let (data, _) = Self.dataset()
        var options = TrainingOptions()
        options.steps = 2
        options.batchSize = 2
        options.crop = 16
        options.warmupSteps = 1
        let trainer = Trainer(config: ModelConfig(family: .gaussian, channels: 4, latentChannels: 3, klWeight: 0.01), options: options, dataVariance: 0.05)
        _ = try trainer.trainStep(data: data)
        var arguments = TrainingArguments()
        arguments.tuneDecoder = true
        #expect(throws: TrainingArgumentError("--tune-decoder applies to vq models only")) { try arguments.resume(trainer.modelFile(checkpoint: true)) }
        var codec = TrainingArguments()
        codec.codecTokens = true
        #expect(throws: TrainingArgumentError("--codec-tokens applies to vq models only")) { try codec.resume(trainer.modelFile(checkpoint: true)) }
    }
}
