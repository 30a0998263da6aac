// The Gaussian VAE's own figures and its posterior-driven quantization: IWAE-k ordered in k on a
// fixed seed, the KL per channel summing to the total, per-channel step scales and inactive channels
// in the codec (an inactive channel is not coded and decodes as 0).

import Codec
import Foundation
import Container
import Imaging
import Models
import TensorCore
import Testing
import Training

@Suite struct GaussianFiguresTests {
    static func model(scales: [Float]) throws -> LoadedModel {
        var config = ModelConfig(family: .gaussian, channels: 4, latentChannels: 3, quantSteps: [0.5, 0.1])
        config.channelScales = scales
        return try LoadedModel(bytes: TinyModels.bytes(config, seed: 3), name: "tiny-gaussian-scaled")
    }

    @Test func iwaeIsOrderedInKAndTheKLAddsUp() throws {
        let model = TinyModels.gaussian
        let image = testImage(width: 24, height: 16, format: .rgb, seed: 5)
        let stats = try #require(GaussianStatistics.measure(model, image: image, samples: 64))
        #expect(stats.iwaeBitsPerDim.map(\.k) == [1, 8, 64])
        let values = stats.iwaeBitsPerDim.map(\.bitsPerDim)
        #expect(values.allSatisfy { $0.isFinite })
        #expect(values[0] >= values[1] && values[1] >= values[2], "IWAE-k is a tighter bound as k grows: \(values)")
        // IWAE-1 is the sampled ELBO; the reported ELBO uses the closed-form KL: the same expectation.
        #expect(abs(values[0] - stats.negativeELBOBitsPerDim) < 0.05 * abs(stats.negativeELBOBitsPerDim) + 0.05)
        // KL per channel (nats per position) sums to the total (bits per pixel), within float tolerance.
        let positions = Double((24 / 8) * (16 / 8)), pixels = Double(24 * 16)
        let total = stats.klPerChannel.reduce(0, +) * positions / log(2.0) / pixels
        #expect(abs(total - stats.klBitsPerPixel) <= 1e-9 * max(1, stats.klBitsPerPixel))
    }

    /// The β-VAE's own RD point: the PSNR of the image decoded from a posterior sample, recomputed
    /// here from the same seeded draw.
    @Test func samplePSNRIsThePosteriorSamplesDistortion() throws {
        let model = TinyModels.gaussian
        let g = try #require(model.gaussian)
        let image = testImage(width: 24, height: 16, format: .rgb, seed: 5)
        let stats = try #require(GaussianStatistics.measure(model, image: image, samples: 1))
        let x = ImageCodec.paddedTensor(image, factor: 8)
        let (mu, logVar) = g.posterior(x)
        var rng = Xoshiro256(seed: 0x1A7E)
        var z = mu
        for i in 0..<z.count { z.scalars[i] = Float(Double(mu.scalars[i]) + exp(0.5 * Double(logVar.scalars[i])) * Double(rng.nextNormal())) }
        let y = g.decode(latents: z)
        var se = 0.0
        for i in 0..<x.count { let d = min(max(Double(y.scalars[i]), 0), 1) - Double(x.scalars[i]); se += d * d }
        let expected = 10 * log10(Double(x.count) / se)
        #expect(abs(stats.samplePSNR - expected) < 1e-6, "\(stats.samplePSNR) vs \(expected)")
        #expect(stats.samplePSNR > 0 && stats.samplePSNR < 100)
    }

    @Test func channelScalesAndInactiveChannels() throws {
        let scaled = try Self.model(scales: [2, 0, 0.5])
        #expect(scaled.config.activeChannels == [0, 2])
        let image = testImage(width: 21, height: 13, format: .rgb, seed: 9)
        for level in scaled.levels {
            let bytes = try ImageCodec.encode(image, model: scaled, level: level)
            let (header, content) = try BitstreamFile.parse(bytes)
            #expect(header.planeCount == 2, "the inactive channel is not coded")
            // The planes are round(μ_c / (Δ·s_c)), and decoding puts 0 in the inactive channel.
            let g = try #require(scaled.gaussian)
            let x = ImageCodec.paddedTensor(image, factor: 8)
            let mu = g.posterior(x).mu
            let step = scaled.config.quantSteps[level - 1]
            let hw = header.gridWidth * header.gridHeight
            for (p, channel) in [0, 2].enumerated() {
                for i in 0..<hw {
                    let expected = Int32((mu.scalars[channel * hw + i] / (step * [2, 0, 0.5][channel])).rounded())
                    #expect(Int32(BitstreamFile.unzigzag(content.symbols[p * hw + i])) == expected)
                }
            }
            var z = Tensor(shape: [1, 3, header.gridHeight, header.gridWidth])
            for (p, channel) in [0, 2].enumerated() {
                for i in 0..<hw { z.scalars[channel * hw + i] = Float(BitstreamFile.unzigzag(content.symbols[p * hw + i])) * step * [2, 0, 0.5][channel] }
            }
            let expectedImage = g.decode(latents: z)
            let decoded = try ImageCodec.decode(bytes, model: scaled)
            // Same pixels as decoding z by hand (the codec crops to 21×13 and rounds to 8 bits).
            let ph = expectedImage.shape[2], pw = expectedImage.shape[3]
            var reference: [UInt8] = []
            for row in 0..<13 {
                for col in 0..<21 {
                    for c in 0..<3 {
                        let v = expectedImage.scalars[(c * ph + row) * pw + col]
                        reference.append(UInt8((min(max(v, 0), 1) * 255).rounded()))
                    }
                }
            }
            #expect(decoded.rgb == reference)
        }
        // The file of another model (all channels coded) does not fit this one.
        let other = try ImageCodec.encode(image, model: TinyModels.gaussian, level: 1)
        #expect(throws: CodecError.self) { _ = try ImageCodec.decode(other, model: scaled) }
    }

    @Test func scalesAreValidated() throws {
        var config = ModelConfig(family: .gaussian, channels: 4, latentChannels: 3)
        var metadata = Dictionary(uniqueKeysWithValues: config.metadata)
        for bad in ["1,2", "1,-1,1", "0,0,0", "1,nan,1"] {
            metadata["vae.channel_scales"] = bad
            #expect(throws: ModelConfigError.self, "\(bad)") { try ModelConfig(metadata: metadata) }
        }
        config.channelScales = [0.5, 0, 1.5]
        #expect(try ModelConfig(metadata: Dictionary(uniqueKeysWithValues: config.metadata)).channelScales == [0.5, 0, 1.5])
    }
}
