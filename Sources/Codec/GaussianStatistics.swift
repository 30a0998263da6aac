// The figures a VAE user asks of the Gaussian baseline, for one image: KL rate, negative ELBO and an
// importance-weighted estimate of log p(x), in bits, and KL per latent channel (active units).
//
// Likelihood: p(x|z) = N(x̂(z), σ_x² I) on x ∈ [0, 1] with σ_x² = var(data)/2 (docs/design/models.md),
// reported per dimension of the 8-bit image: bits/dim = −log₂ p(x)/D + 8, the usual change of
// variables from [0, 1] densities to 256 levels per dimension.
// Reference: Burda et al. 2016, https://arxiv.org/abs/1509.00519 (IWAE).

import Foundation
import Imaging
import Models
import TensorCore

public struct GaussianStatistics {
    public var klBitsPerPixel: Double
    public var negativeELBOBitsPerDim: Double
    /// The importance-weighted bound (IWAE-k) for k = 1, 8, 64… up to the samples drawn, as
    /// negative log-likelihood in bits/dim: non-increasing in k (a tighter bound), by construction
    /// (below).
    public var iwaeBitsPerDim: [(k: Int, bitsPerDim: Double)]
    /// KL per channel, nats per latent position.
    public var klPerChannel: [Double]
    /// PSNR (dB, RGB) of the image decoded from posterior samples z ~ q(z|x) (mean squared error
    /// over the samples, output clipped to [0, 1]): the distortion that goes with the KL rate in the
    /// ELBO — the β-VAE's own rate–distortion point, before any quantization.
    public var samplePSNR: Double

    /// Measures `image` (edge-padded to the model's factor) with the data variance the model was
    /// trained with; nil for a model that is not a Gaussian VAE.
    public static func measure(_ model: LoadedModel, image: PixelImage, samples: Int) -> GaussianStatistics? {
        guard let g = model.gaussian else { return nil }
        let x = ImageCodec.paddedTensor(image, factor: model.config.downsampleFactor)
        let variance = Float(model.metadata["train.data_variance"].flatMap(Double.init) ?? 0.07)
        return measure(g, x: x, samples: samples, dataVariance: variance)
    }

    /// Measures `x [1, 3, H, W]` (H, W multiples of 8) with `samples` importance samples (use a
    /// power of 8 so every IWAE-k uses all of them).
    public static func measure(_ model: GaussianVAE, x: Tensor, samples: Int, dataVariance: Float) -> GaussianStatistics {
        let (mu, logVar) = model.posterior(x)
        let (klTotal, perChannel) = GaussianVAE.klDivergence(mu: mu, logVar: logVar)
        let pixels = Double(x.shape[2] * x.shape[3]), dims = 3 * pixels
        let positions = Double(mu.shape[2] * mu.shape[3])
        let sigma2 = Double(dataVariance) / 2
        let logNormConst = -0.5 * dims * log(2 * Double.pi * sigma2)
        var rng = Xoshiro256(seed: 0x1A7E)
        var logWeights: [Double] = []
        var reconstruction = 0.0, clippedSE = 0.0
        for _ in 0..<max(1, samples) {
            var z = mu
            var logQ = 0.0, logP = 0.0
            for i in 0..<z.count {
                let e = Double(rng.nextNormal()), s = exp(0.5 * Double(logVar.scalars[i]))
                let v = Double(mu.scalars[i]) + s * e
                z.scalars[i] = Float(v)
                logQ += -0.5 * e * e - log(s) - 0.5 * log(2 * Double.pi)
                logP += -0.5 * v * v - 0.5 * log(2 * Double.pi)
            }
            let y = model.decode(latents: z)
            var se = 0.0
            for i in 0..<x.count {
                let d = Double(y.scalars[i]) - Double(x.scalars[i]); se += d * d
                let c = min(max(Double(y.scalars[i]), 0), 1) - Double(x.scalars[i]); clippedSE += c * c
            }
            let logLik = logNormConst - se / (2 * sigma2)
            reconstruction -= logLik
            logWeights.append(logLik + logP - logQ)
        }
        reconstruction /= Double(max(1, samples))
        // IWAE-k: log p(x) ≥ E[log (1/k) Σ_i w_i], w_i = p(x|z_i) p(z_i) / q(z_i|x). The S samples are cut
        // into S/k groups of k and the group bounds averaged. Groups of 8k are unions of 8 groups of k,
        // and log-mean-exp of a union is at least the mean of its parts' (log is concave), so the
        // estimates are ordered exactly as the bounds are: IWAE-1 ≤ IWAE-8 ≤ IWAE-64 (in log p).
        func logMeanExp(_ w: ArraySlice<Double>) -> Double {
            let m = w.max()!
            return m + log(w.reduce(0) { $0 + exp($1 - m) } / Double(w.count))
        }
        let toBitsPerDim = { (nats: Double) in nats / (dims * log(2)) + 8 }
        var iwae: [(k: Int, bitsPerDim: Double)] = []
        var k = 1
        while k <= logWeights.count {
            let groups = logWeights.count / k
            let bound = (0..<groups).map { logMeanExp(logWeights[($0 * k)..<(($0 + 1) * k)]) }.reduce(0, +) / Double(groups)
            iwae.append((k, toBitsPerDim(-bound)))
            k *= 8
        }
        return GaussianStatistics(
            klBitsPerPixel: klTotal / log(2) / pixels,
            negativeELBOBitsPerDim: toBitsPerDim(reconstruction + klTotal),
            iwaeBitsPerDim: iwae,
            klPerChannel: perChannel.map { $0 / positions },
            samplePSNR: 10 * log10(1 / max(clippedSE / (Double(max(1, samples)) * Double(x.count)), 1e-10)))
    }
}
