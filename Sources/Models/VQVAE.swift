// The VQ-VAE codec model: encoder → residual vector quantizer → decoder.
//
// Reference: van den Oord et al. 2017, https://arxiv.org/abs/1711.00937; residual VQ with quantizer
// dropout after Zeghidour et al. 2021 (SoundStream), https://arxiv.org/abs/2107.03312.

import NN
import TensorCore

/// What one training forward pass of the VQ-VAE produced.
public struct VQVAEOutput {
    /// The reconstruction `[N, 3, H, W]` (not clamped).
    public var xHat: Tensor
    /// `β · mean‖z_e − sg(z_q)‖²`.
    public var commitmentLoss: Float
    public var health: CodebookHealth
}

/// A VQ-VAE with a residual quantizer; level `L` codes the first `L` stages.
public final class VQVAE {
    public let config: ModelConfig
    public let encoder: Sequential
    public let decoder: Sequential
    public let quantizer: ResidualVectorQuantizer
    private var dCommit: Tensor?
    private var latentShape: (n: Int, h: Int, w: Int)?

    public convenience init(config: ModelConfig, seed: UInt64) {
        var rng = Xoshiro256(seed: seed)
        self.init(config: config, rng: &rng)
    }

    /// Layers initialised from `rng` (`NoDraws`: zeros, for a model about to be loaded).
    public init(config: ModelConfig, rng: inout some RandomNumberGenerator) {
        precondition(config.family == .vq, "VQVAE needs a vq configuration")
        self.config = config
        encoder = Backbone.encoder(config, outputChannels: config.latentChannels, rng: &rng)
        decoder = Backbone.decoder(config, rng: &rng)
        quantizer = ResidualVectorQuantizer(
            stages: config.stages, codebookSize: config.codebookSize, dimension: config.latentChannels,
            decay: config.decay, commitment: config.commitment, deadThreshold: config.deadThreshold)
        quantizer.zeroCodeFrom = config.zeroCodeFrom
    }

    /// Trainable parameters (the codebooks are EMA state, not parameters).
    public var parameters: [Parameter] { encoder.parameters + decoder.parameters }

    /// Training forward pass with `levels` quantizer stages decoded (quantizer dropout picks it).
    ///
    /// `bypassQuantizer`: the decoder gets `z_e` itself (autoencoder warm-up before the quantizer is
    /// switched on); no commitment loss, the codebooks are left alone. `codec`: the decoded stages
    /// take the codec's tokens at that λ and refinement (`ResidualVectorQuantizer.quantizeForTraining`).
    public func forward(_ x: Tensor, levels: Int, bypassQuantizer: Bool = false, codec: (lambda: Float, refine: Int, beam: Int)? = nil,
                        rng: inout some RandomNumberGenerator) -> VQVAEOutput {
        let ze = encoder.forward(Backbone.shifted(x, by: -0.5), mode: .training)
        let (n, h, w) = (ze.shape[0], ze.shape[2], ze.shape[3])
        if bypassQuantizer {
            dCommit = Tensor(shape: ze.shape)
            latentShape = (n, h, w)
            let y = decoder.forward(ze, mode: .training)
            return VQVAEOutput(xHat: Backbone.shifted(y, by: 0.5), commitmentLoss: 0,
                               health: CodebookHealth(perplexity: [], deadCodes: [], restarted: []))
        }
        let q = quantizer.quantizeForTraining(LatentLayout.rows(ze), levels: levels, codec: codec, rng: &rng)
        dCommit = LatentLayout.map(q.dCommit, n: n, h: h, w: w)
        latentShape = (n, h, w)
        let y = decoder.forward(LatentLayout.map(q.quantized, n: n, h: h, w: w), mode: .training)
        return VQVAEOutput(xHat: Backbone.shifted(y, by: 0.5), commitmentLoss: q.commitmentLoss, health: q.health)
    }

    /// Backward pass from `dL/dxHat`: straight-through into the encoder, plus the commitment gradient.
    public func backward(_ dXHat: Tensor) {
        guard let dCommit else { preconditionFailure("VQVAE.backward without a training forward") }
        self.dCommit = nil
        let dZq = decoder.backward(dXHat)
        _ = encoder.backward(dZq + dCommit)  // straight-through: dL/dz_e = dL/dz_q + commitment
    }

    /// The token indices of `x [N, 3, H, W]` (H, W multiples of 8) at `levels` stages: per stage,
    /// `N·(H/8)·(W/8)` indices in row-major order.
    public func encode(_ x: Tensor, levels: Int) -> [[Int32]] {
        let ze = encoder.forward(Backbone.shifted(x, by: -0.5), mode: .inference)
        return quantizer.quantize(LatentLayout.rows(ze), levels: levels).indices
    }

    /// The encoder's latents `z_e` of `x [N, 3, H, W]` as rows `[N·(H/8)·(W/8), D]`, row-major.
    public func latents(_ x: Tensor) -> Tensor {
        latents(centered: Backbone.shifted(x, by: -0.5))
    }

    /// `latents(_:)` of an input already shifted to −0.5 … 0.5 (`x − 0.5`).
    public func latents(centered x: Tensor) -> Tensor {
        LatentLayout.rows(encoder.forward(x, mode: .inference))
    }

    /// The decoder fed the encoder's unquantized latents: the transform's own ceiling.
    public func reconstructUnquantized(_ x: Tensor) -> Tensor {
        let ze = encoder.forward(Backbone.shifted(x, by: -0.5), mode: .inference)
        return Backbone.shifted(decoder.forward(ze, mode: .inference), by: 0.5)
    }

    /// The decoder alone on latent rows `zq [n·h·w, D]` (decoder tuning): the image `[n, 3, 8h, 8w]`.
    /// In `.training` mode, `decoder.backward(dL/dxHat)` follows (the output shift has gradient 1).
    public func decodeRows(_ zq: Tensor, n: Int, h: Int, w: Int, mode: Mode) -> Tensor {
        Backbone.shifted(decoder.forward(LatentLayout.map(zq, n: n, h: h, w: w), mode: mode), by: 0.5)
    }

    /// The image `[n, 3, 8h, 8w]` of the given indices.
    public func decode(_ indices: [[Int32]], n: Int, h: Int, w: Int) -> Tensor {
        let rows = Profile.measure("decode: dequantize") { quantizer.dequantize(indices, count: n * h * w) }
        let z = Profile.measure("decode: latent layout") { LatentLayout.map(rows, n: n, h: h, w: w) }
        return Backbone.shifted(decoder.forward(z, mode: .inference), by: 0.5)
    }
}
