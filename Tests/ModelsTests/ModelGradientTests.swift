// Model-level gradients: the VQ-VAE's straight-through surrogate and the Gaussian VAE's
// reparameterized negative ELBO, both against central finite differences on encoder parameters.

import Foundation
import Models
import NN
import TensorCore
import Testing

/// Relative error `|a − b| / max(|a|, |b|, floor)`.
func relativeError(_ a: Double, _ b: Double, floor: Double = 1e-3) -> Double {
    abs(a - b) / max(abs(a), abs(b), floor)
}

/// Central differences (h = 1e-2) of `objective` at the `probesPerTensor` largest-gradient entries of
/// each parameter (where finite differences are meaningful in Float32) against the gradients the
/// parameters hold now, which are snapshotted first since `objective` may accumulate into them.
func expectFiniteDifferences(
    _ parameters: [Parameter], probesPerTensor: Int, objective: () -> Double,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let analytic = parameters.map(\.gradient)
    let h: Float = 1e-2
    for (p, gradient) in zip(parameters, analytic) {
        let probes = gradient.scalars.indices.sorted { abs(gradient.scalars[$0]) > abs(gradient.scalars[$1]) }.prefix(probesPerTensor)
        for i in probes {
            let v = p.value.scalars[i]
            p.value.scalars[i] = v + h
            let plus = objective()
            p.value.scalars[i] = v - h
            let minus = objective()
            p.value.scalars[i] = v
            let numeric = (plus - minus) / (2 * Double(h))
            let err = relativeError(numeric, Double(gradient.scalars[i]))
            #expect(err < 2e-2, "\(p.name)[\(i)]: analytic \(gradient.scalars[i]), numeric \(numeric)", sourceLocation: sourceLocation)
        }
    }
}

@Suite struct ModelGradientTests {
    static let tinyVQ = ModelConfig(family: .vq, channels: 4, latentChannels: 3, stages: 2, codebookSize: 8, decay: 1)
    static let tinyGaussian = ModelConfig(family: .gaussian, channels: 4, latentChannels: 3)

    /// The STE gradient equals that of its defined surrogate
    /// `S(θ) = Σ dOut ⊙ dec(z_e(θ) + sg(z_q − z_e)) + β·mean‖z_e(θ) − sg(z_q)‖²`,
    /// whose derivative in θ is what the straight-through estimator computes. (Finite differences of
    /// the true loss would measure the argmin's jumps instead.)
    @Test func straightThroughMatchesItsSurrogate() {
        let model = VQVAE(config: Self.tinyVQ, seed: 5)
        var rng = Xoshiro256(seed: 6)
        let x = Tensor.randomUniform([2, 3, 16, 16], low: 0, high: 1, using: &rng)
        let dOut = Tensor.randomNormal([2, 3, 16, 16], std: 1, using: &rng)
        var qrng = Xoshiro256(seed: 7)
        _ = model.forward(x, levels: 2, rng: &qrng)  // initialise the codebooks from data
        for p in model.parameters { p.gradient.fill(0) }
        // decay = 1 freezes the EMA, so the codebooks stay fixed across the probes below.
        let out = model.forward(x, levels: 2, rng: &qrng)
        model.backward(dOut)
        let ze0 = model.encoder.forward(Tensor(shape: x.shape, scalars: x.scalars.map { $0 - 0.5 }), mode: .inference)
        let zq0 = LatentLayout.map(model.quantizer.quantize(LatentLayout.rows(ze0), levels: 2).quantized,
                                   n: 2, h: 2, w: 2)
        let offset = zq0 - ze0  // sg(z_q − z_e), held fixed
        func surrogate() -> Double {
            let ze = model.encoder.forward(Tensor(shape: x.shape, scalars: x.scalars.map { $0 - 0.5 }), mode: .inference)
            let y = model.decoder.forward(ze + offset, mode: .inference)
            var s = 0.0
            for i in 0..<y.count { s += Double(y.scalars[i] + 0.5) * Double(dOut.scalars[i]) }
            let commit = Double(Self.tinyVQ.commitment) * (ze - zq0).squaredNorm() / Double(ze.count)
            return s + commit
        }
        #expect(abs(Double(out.commitmentLoss) - (surrogate() - (0..<out.xHat.count).reduce(0.0) { $0 + Double(out.xHat.scalars[$1]) * Double(dOut.scalars[$1]) })) < 1e-3)
        expectFiniteDifferences(model.encoder.parameters, probesPerTensor: 4, objective: surrogate)
    }

    /// `Σ dOut ⊙ x̂ + klScale·KL` with a fixed ε: its gradient in the encoder's parameters checks the
    /// reparameterization path and the KL gradient together.
    @Test(arguments: [false, true])
    func negativeELBOGradient(zeroUpstream: Bool) {
        let model = GaussianVAE(config: Self.tinyGaussian, seed: 8)
        var rng = Xoshiro256(seed: 9)
        let x = Tensor.randomUniform([2, 3, 16, 16], low: 0, high: 1, using: &rng)
        let dOut = zeroUpstream ? Tensor(shape: x.shape) : Tensor.randomNormal(x.shape, std: 1, using: &rng)
        let klScale: Float = 0.7
        func objective() -> Double {
            var r = Xoshiro256(seed: 10)
            let out = model.forward(x, klScale: klScale, rng: &r)
            model.backward(Tensor(shape: x.shape))  // consume the cache; gradients are zeroed below
            var s = 0.0
            for i in 0..<out.xHat.count { s += Double(out.xHat.scalars[i]) * Double(dOut.scalars[i]) }
            return s + Double(klScale) * Double(out.kl) * 2  // kl is per image; the batch holds 2
        }
        var r = Xoshiro256(seed: 10)
        _ = model.forward(x, klScale: klScale, rng: &r)
        for p in model.parameters { p.gradient.fill(0) }
        model.backward(dOut)
        expectFiniteDifferences(model.encoder.parameters, probesPerTensor: 3, objective: objective)
    }

    @Test func klMatchesClosedForm() {
        let mu = Tensor(shape: [1, 2, 1, 1], scalars: [0.5, -1])
        let lv = Tensor(shape: [1, 2, 1, 1], scalars: [0, log(0.25)])
        let (total, perChannel) = GaussianVAE.klDivergence(mu: mu, logVar: lv)
        let c0 = 0.5 * (0.25 + 1 - 1 - 0)
        let c1 = 0.5 * (1 + 0.25 - 1 - log(0.25))
        #expect(abs(perChannel[0] - c0) < 1e-6 && abs(perChannel[1] - c1) < 1e-6)
        #expect(abs(total - (c0 + c1)) < 1e-6)
    }

    @Test func configRoundTripsThroughMetadata() throws {
        for config in [Self.tinyVQ, Self.tinyGaussian] {
            let back = try ModelConfig(metadata: Dictionary(uniqueKeysWithValues: config.metadata))
            #expect(back == config)
        }
        var broken = Dictionary(uniqueKeysWithValues: Self.tinyVQ.metadata)
        broken["vq.codebook_size"] = "lots"
        #expect(throws: ModelConfigError.self) { try ModelConfig(metadata: broken) }
        broken["arch.family"] = nil
        #expect(throws: ModelConfigError(key: "arch.family", problem: "missing")) { try ModelConfig(metadata: broken) }
    }
}
