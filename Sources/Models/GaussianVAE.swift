// The Gaussian VAE baseline on the same backbone: the encoder predicts μ and log σ² per latent,
// z = μ + σ⊙ε is decoded, and the loss is the negative ELBO (reconstruction + β·KL to N(0, I)).
//
// References: Kingma & Welling 2014, https://arxiv.org/abs/1312.6114 (VAE, reparameterization);
// Higgins et al. 2017 (β-VAE); Burda et al. 2016, https://arxiv.org/abs/1509.00519 (IWAE bound).

import Foundation
import NN
import TensorCore

/// What one training forward pass of the Gaussian VAE produced.
public struct GaussianVAEOutput {
    public var xHat: Tensor
    /// `KL(q(z|x) ‖ N(0, I))` summed over latents, averaged over the batch (nats per image).
    public var kl: Float
    /// KL per latent channel, averaged over positions and batch (nats), for the active-unit count.
    public var klPerChannel: [Float]
}

/// A Gaussian VAE. `log σ²` is clamped to `[logVarMin, logVarMax]` (gradient 0 outside), which
/// keeps `σ = exp(½ log σ²)` finite and bounded away from 0 early in training.
public final class GaussianVAE {
    public static let logVarMin: Float = -12
    public static let logVarMax: Float = 6

    public let config: ModelConfig
    public let encoder: Sequential
    public let decoder: Sequential
    private var cache: (mu: Tensor, logVar: Tensor, clamped: [Bool], epsilon: Tensor, klScale: Float)?

    public convenience init(config: ModelConfig, seed: UInt64) {
        var rng = Xoshiro256(seed: seed)
        self.init(config: config, rng: &rng)
    }

    /// Layers initialised from `rng` (`NoDraws`: zeros, for a model about to be loaded).
    public init(config: ModelConfig, rng: inout some RandomNumberGenerator) {
        precondition(config.family == .gaussian, "GaussianVAE needs a gaussian configuration")
        self.config = config
        encoder = Backbone.encoder(config, outputChannels: 2 * config.latentChannels, rng: &rng)
        decoder = Backbone.decoder(config, rng: &rng)
    }

    public var parameters: [Parameter] { encoder.parameters + decoder.parameters }

    /// Splits the encoder's `[N, 2C, h, w]` output into μ and log σ² (`[N, C, h, w]` each).
    static func split(_ h: Tensor) -> (mu: Tensor, logVar: Tensor) {
        let n = h.shape[0], c = h.shape[1] / 2, plane = h.shape[2] * h.shape[3]
        var mu = Tensor(shape: [n, c, h.shape[2], h.shape[3]]), lv = mu
        for b in 0..<n {
            for i in 0..<(c * plane) {
                mu.scalars[b * c * plane + i] = h.scalars[b * 2 * c * plane + i]
                lv.scalars[b * c * plane + i] = h.scalars[b * 2 * c * plane + c * plane + i]
            }
        }
        return (mu, lv)
    }

    static func join(_ mu: Tensor, _ lv: Tensor) -> Tensor {
        let n = mu.shape[0], c = mu.shape[1], plane = mu.shape[2] * mu.shape[3]
        var h = Tensor(shape: [n, 2 * c, mu.shape[2], mu.shape[3]])
        for b in 0..<n {
            for i in 0..<(c * plane) {
                h.scalars[b * 2 * c * plane + i] = mu.scalars[b * c * plane + i]
                h.scalars[b * 2 * c * plane + c * plane + i] = lv.scalars[b * c * plane + i]
            }
        }
        return h
    }

    /// The clamped `log σ²` and which entries the clamp cut.
    static func clamp(_ lv: Tensor) -> (Tensor, [Bool]) {
        var out = lv
        var cut = [Bool](repeating: false, count: lv.count)
        for i in 0..<lv.count where lv.scalars[i] < logVarMin || lv.scalars[i] > logVarMax {
            out.scalars[i] = min(max(lv.scalars[i], logVarMin), logVarMax)
            cut[i] = true
        }
        return (out, cut)
    }

    /// `KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²)` elementwise, summed per channel.
    public static func klDivergence(mu: Tensor, logVar: Tensor) -> (total: Double, perChannel: [Double]) {
        let c = mu.shape[1], plane = mu.shape[2] * mu.shape[3]
        var perChannel = [Double](repeating: 0, count: c)
        for i in 0..<mu.count {
            let m = Double(mu.scalars[i]), lv = Double(logVar.scalars[i])
            perChannel[(i / plane) % c] += 0.5 * (m * m + exp(lv) - 1 - lv)
        }
        return (perChannel.reduce(0, +), perChannel)
    }

    /// Training forward pass: samples `z = μ + σ⊙ε` (ε from `rng`). `klScale` multiplies the KL
    /// gradient that `backward` adds (β / number of image dimensions, as the loss is written).
    public func forward(_ x: Tensor, klScale: Float, rng: inout some RandomNumberGenerator) -> GaussianVAEOutput {
        let h = encoder.forward(Backbone.shifted(x, by: -0.5), mode: .training)
        let (mu, rawLogVar) = Self.split(h)
        let (logVar, cut) = Self.clamp(rawLogVar)
        let epsilon = Tensor.randomNormal(mu.shape, std: 1, using: &rng)
        var z = mu
        for i in 0..<z.count { z.scalars[i] += exp(0.5 * logVar.scalars[i]) * epsilon.scalars[i] }
        cache = (mu, logVar, cut, epsilon, klScale)
        let y = decoder.forward(z, mode: .training)
        let (kl, perChannel) = Self.klDivergence(mu: mu, logVar: logVar)
        let n = Double(mu.shape[0]), positions = Double(mu.shape[2] * mu.shape[3])
        return GaussianVAEOutput(xHat: Backbone.shifted(y, by: 0.5), kl: Float(kl / n),
                                 klPerChannel: perChannel.map { Float($0 / n / positions) })
    }

    /// Backward pass from `dL/dxHat`, adding `klScale · ∂KL/∂(μ, log σ²)`:
    /// `∂KL/∂μ = μ`, `∂KL/∂log σ² = ½(σ² − 1)`; through the sample, `∂z/∂μ = 1`,
    /// `∂z/∂log σ² = ½σε`.
    public func backward(_ dXHat: Tensor) {
        guard let c = cache else { preconditionFailure("GaussianVAE.backward without a training forward") }
        cache = nil
        let dz = decoder.backward(dXHat)
        var dMu = dz, dLogVar = dz
        for i in 0..<dz.count {
            let lv = c.logVar.scalars[i], sigma = exp(0.5 * lv)
            dMu.scalars[i] = dz.scalars[i] + c.klScale * c.mu.scalars[i]
            let g = dz.scalars[i] * 0.5 * sigma * c.epsilon.scalars[i] + c.klScale * 0.5 * (sigma * sigma - 1)
            dLogVar.scalars[i] = c.clamped[i] ? 0 : g
        }
        _ = encoder.backward(Self.join(dMu, dLogVar))
    }

    /// μ and log σ² of `x` (inference).
    public func posterior(_ x: Tensor) -> (mu: Tensor, logVar: Tensor) {
        posterior(centered: Backbone.shifted(x, by: -0.5))
    }

    /// `posterior(_:)` of an input already shifted to −0.5 … 0.5 (`x − 0.5`).
    public func posterior(centered x: Tensor) -> (mu: Tensor, logVar: Tensor) {
        let (mu, lv) = Self.split(encoder.forward(x, mode: .inference))
        return (mu, Self.clamp(lv).0)
    }

    /// The integers `round(μ_c / (Δ·s_c))` of `x` for the active channels (`ModelConfig.
    /// channelScales`), channel-major `[N, A, h, w]`.
    public func encode(_ x: Tensor, step: Float) -> [Int32] {
        let mu = posterior(x).mu
        let (n, c, hw) = (mu.shape[0], mu.shape[1], mu.shape[2] * mu.shape[3])
        var out: [Int32] = []
        for b in 0..<n {
            for ch in config.activeChannels {
                let s = config.channelStep(ch, step)
                for i in 0..<hw { out.append(Self.integer(mu.scalars[(b * c + ch) * hw + i], step: s)) }
            }
        }
        return out
    }

    /// `round(μ/Δ)` within the container's ±32 767 (NaN, from a diverged network, to 0): never a
    /// trapping conversion. `ImageCodec.encode` counts and reports the values it clamps.
    public static func integer(_ mu: Float, step: Float) -> Int32 {
        let v = (mu / step).rounded()
        return v.isNaN ? 0 : Int32(Swift.max(-32_767, Swift.min(32_767, v)))
    }

    /// The image of latents `integers · Δ·s_c` for the active channels (`[n, A, h, w]`, channel-major),
    /// the inactive ones at 0, the prior's mean.
    public func decode(_ integers: [Int32], step: Float, n: Int, h: Int, w: Int) -> Tensor {
        let active = config.activeChannels, c = config.latentChannels, hw = h * w
        precondition(integers.count == n * active.count * hw, "GaussianVAE.decode: \(integers.count) integers for \(n)×\(active.count)×\(h)×\(w)")
        var z = Tensor(shape: [n, c, h, w])
        for b in 0..<n {
            for (p, ch) in active.enumerated() {
                let s = config.channelStep(ch, step)
                for i in 0..<hw { z.scalars[(b * c + ch) * hw + i] = Float(integers[(b * active.count + p) * hw + i]) * s }
            }
        }
        return decode(latents: z)
    }

    /// The image of latents `z [n, C, h, w]`.
    public func decode(latents z: Tensor) -> Tensor {
        Backbone.shifted(decoder.forward(z, mode: .inference), by: 0.5)
    }
}
