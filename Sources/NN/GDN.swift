// GDN-family layer with CompressAI's reparameterised, non-negative β and γ.

import TensorCore

/// Generalized divisive normalization (or its inverse / simplified forms) over channels.
///
/// Stored parameters `<name>.beta_p [C]` and `<name>.gamma_p [C, C]` map to the effective
/// `β = max(beta_p, √(1e-6 + 2⁻³⁶))² − 2⁻³⁶`, `γ = max(gamma_p, 2⁻¹⁸)² − 2⁻³⁶` (CompressAI's
/// `NonNegativeParametrizer`). Initialised to `β = 1`, `γ = 0.1·I` as in CompressAI.
/// Reference: Ballé et al. 2016, https://arxiv.org/abs/1511.06281; Johnston et al. 2019.
public final class GDN: Layer {
    public let channels: Int
    public let kind: GDNKind
    public let betaStored: Parameter
    public let gammaStored: Parameter
    public static let betaParametrizer = NonNegativeParametrizer(minimum: 1e-6)
    public static let gammaParametrizer = NonNegativeParametrizer(minimum: 0)
    private var cache: (input: Tensor, normalizer: Tensor, gamma: Tensor)?

    public init(channels: Int, kind: GDNKind, name: String) {
        self.channels = channels
        self.kind = kind
        let beta = Tensor(shape: [channels], repeating: Self.betaParametrizer.stored(forEffective: 1))
        var gamma = Tensor(shape: [channels, channels], repeating: Self.gammaParametrizer.stored(forEffective: 0))
        for i in 0..<channels { gamma[i, i] = Self.gammaParametrizer.stored(forEffective: 0.1) }
        betaStored = Parameter(name: dotted(name, "beta_p"), value: beta)
        gammaStored = Parameter(name: dotted(name, "gamma_p"), value: gamma)
    }

    public var parameters: [Parameter] { [betaStored, gammaStored] }

    /// Effective β [C].
    public var beta: Tensor { Self.betaParametrizer.effective(betaStored.value) }
    /// Effective γ [C, C].
    public var gamma: Tensor { Self.gammaParametrizer.effective(gammaStored.value) }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        precondition(
            x.rank == 4 && x.shape[1] == channels,
            "GDN(\(betaStored.name)): expected C=\(channels), got \(x.shape)")
        let g = gamma
        let (y, norm) = Kernels.gdnForward(
            input: x, beta: beta, gamma: g, kind: kind, keepNormalizer: mode == .training)
        if mode == .training { cache = (x, norm, g) }
        return y
    }

    /// Inference in place: `x` becomes the output (no new tensor when the caller holds the only
    /// reference). The same values as `forward(_:mode: .inference)`.
    public func inferInPlace(_ x: inout Tensor) {
        precondition(
            x.rank == 4 && x.shape[1] == channels,
            "GDN(\(betaStored.name)): expected C=\(channels), got \(x.shape)")
        Kernels.gdnForwardInPlace(&x, beta: beta, gamma: gamma, kind: kind)
    }

    public func backward(_ dOut: Tensor) -> Tensor {
        guard let c = cache else {
            preconditionFailure("GDN(\(betaStored.name)): backward without a training forward")
        }
        cache = nil
        var dBeta = Tensor(shape: [channels])
        var dGamma = Tensor(shape: [channels, channels])
        let dx = Kernels.gdnBackward(
            input: c.input, normalizer: c.normalizer, gamma: c.gamma, dOut: dOut, kind: kind,
            dBeta: &dBeta, dGamma: &dGamma)
        Self.betaParametrizer.accumulateGradient(
            stored: betaStored.value, dEffective: dBeta, into: &betaStored.gradient)
        Self.gammaParametrizer.accumulateGradient(
            stored: gammaStored.value, dEffective: dGamma, into: &gammaStored.gradient)
        return dx
    }
}
