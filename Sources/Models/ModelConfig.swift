// Every hyperparameter of a vqz model, stored as key–value metadata in its model file and read back
// from there: the architecture is never guessed from tensor shapes (the project STYLE guide, §8.12;
// docs/MODEL-FORMAT.md).

/// The two model families.
public enum ModelFamily: String, Sendable, CaseIterable {
    /// VQ-VAE with a residual vector quantizer: the codec.
    case vq
    /// Gaussian VAE on the same backbone: the baseline.
    case gaussian
}

/// Why a configuration or its metadata cannot be used.
public struct ModelConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var problem: String
    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }
    public var description: String { "model metadata \(key): \(problem)" }
}

/// The architecture and hyperparameters of a model.
public struct ModelConfig: Sendable, Equatable {
    public var family: ModelFamily
    /// Width of the hidden layers (`N`).
    public var channels: Int
    /// Latent channels (`D`): the code dimension for VQ, the latent channels for Gaussian.
    public var latentChannels: Int
    /// Residual blocks at the latent resolution in each network (0: the original backbone).
    public var residualBlocks: Int = 0
    /// Channels of the latent-resolution blocks (used when `residualBlocks > 0`).
    public var latentWidth: Int = 0
    /// Residual blocks at the latent resolution in the decoder only (0: none), of `decoderWidth`
    /// channels: capacity where the decoder is cheap, while the encoder (and so the tokens a model
    /// grown from another writes) stays the other's. Exclusive with `residualBlocks`.
    public var decoderBlocks: Int = 0
    /// Channels of the decoder-only blocks (used when `decoderBlocks > 0`).
    public var decoderWidth: Int = 0
    /// Residual quantizer stages (VQ).
    public var stages: Int
    /// Codebook size per stage (`K`, VQ).
    public var codebookSize: Int
    /// EMA decay `γ` (VQ).
    public var decay: Float
    /// Commitment weight `β` (VQ).
    public var commitment: Float
    /// EMA cluster size below which a code is restarted (VQ).
    public var deadThreshold: Float
    /// KL weight `β` of the β-VAE objective (Gaussian).
    public var klWeight: Float
    /// Quantization steps `Δ` of the rate ladder, level 1 first (Gaussian; largest step first).
    public var quantSteps: [Float]

    /// Per latent channel, the scale of its quantization step (Gaussian): channel `c` at level `L`
    /// is coded as `round(μ_c / (Δ_L · s_c))`. `s_c` is the channel's typical posterior σ, measured
    /// on held-out images when the model is written, so the step follows how precisely the
    /// posterior says a channel matters; `s_c = 0` marks an inactive channel (KL ≈ 0: posterior
    /// collapse), which is not coded and decodes as 0, the prior's mean. Empty: every channel
    /// active with scale 1 (models before `vae.channel_scales`). Stored as `vae.channel_scales`.
    public var channelScales: [Float] = []

    /// The coded channels, in plane order.
    public var activeChannels: [Int] {
        channelScales.isEmpty ? Array(0..<latentChannels) : channelScales.indices.filter { channelScales[$0] > 0 }
    }

    /// The quantization step of channel `c` at step `Δ`.
    public func channelStep(_ c: Int, _ step: Float) -> Float { channelScales.isEmpty ? step : step * channelScales[c] }

    /// Per level, the encoder's rate–distortion trade-off in choosing tokens (VQ; level 1 first):
    /// `ResidualVectorQuantizer.quantize(_:levels:lambda:)`. Empty: nearest codes at every level.
    /// Stored as `codec.lambdas`; it changes what the encoder writes, never how files decode.
    public var lambdas: [Float] = []

    /// The encoder's λ at `level` (`lambdas`; 0, the nearest codes, where the model names none).
    public func lambda(level: Int) -> Float { lambdas.indices.contains(level - 1) ? lambdas[level - 1] : 0 }

    /// Zero codes (VQ): when positive, stages `zeroCodeFrom…stages` (1-based) hold the zero vector
    /// at their last index `K − 1` (`ResidualVectorQuantizer.zeroCodeFrom`); 0: none. Stored as
    /// `codec.zero_code_from`; like `lambdas` it guides the encoder's choice and training, never how
    /// files decode (the zero code is a code like any other there).
    public var zeroCodeFrom: Int = 0

    /// The level `vqz encode` uses without `-q` or `--target-bpp` (1-based, one of `levels`); 0: the
    /// middle level. Stored as `codec.default_level`; like `lambdas` a choice of the encoder only.
    public var defaultLevel: Int = 0

    /// The level an encode uses when none is asked for: `defaultLevel`, else the middle level.
    public var encodeLevel: Int { defaultLevel > 0 ? defaultLevel : levels[(levels.count - 1) / 2] }

    /// Parses a `codec.lambdas` value: `stages` non-negative finite numbers separated by commas.
    public static func lambdas(_ text: String, stages: Int) throws(ModelConfigError) -> [Float] {
        let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Float($0) }
        guard values.count == stages, values.allSatisfy({ ($0 ?? -1) >= 0 && $0!.isFinite }) else {
            throw ModelConfigError(key: "codec.lambdas", problem: "expected \(stages) non-negative numbers separated by commas, got \"\(text)\"")
        }
        return values.map { $0! }
    }

    /// Spatial downsampling factor `f` of the backbone (three stride-2 stages).
    public var downsampleFactor: Int { 8 }

    /// Latents on each side of a tile that reach its core through the networks (see `Tiling`).
    ///
    /// The encoder (three 5×5 convolutions, stride 2) sees ±14 pixels around a latent's 8×8 block,
    /// less than 2 latents; the decoder (3×3 convolutions at 1×, 2× and 4× the grid) sees ±1.75
    /// latents. GDN is per position. So 2 latents of margin make tiled and untiled results agree.
    ///
    /// With residual blocks (3×3 convolutions at the latent resolution) the encoder reaches
    /// 14 px + 8 px per latent-resolution convolution (2 per block, 1 projection) and the decoder
    /// 1.75 latents + 1 per latent-resolution convolution: `3 + 2·residualBlocks` latents cover both.
    /// Decoder-only blocks (`decoderBlocks`) add the same per convolution to the decoder's reach.
    public var tileMargin: Int {
        let blocks = max(residualBlocks, decoderBlocks)
        return blocks == 0 ? 2 : 3 + 2 * blocks
    }

    /// The architecture's name, after CompressAI's convention of naming the paper.
    /// `-res` marks the backbone with latent-resolution residual blocks, `-decres` the one with
    /// such blocks in the decoder only.
    public var architecture: String {
        (family == .vq ? "rvqvae-vdoord2017" : "gaussian-vae-kingma2014") + (residualBlocks > 0 ? "-res" : decoderBlocks > 0 ? "-decres" : "")
    }

    /// Rate levels: `1…stages` for VQ (levels code that many stages), `1…quantSteps.count` for Gaussian.
    public var levels: [Int] { Array(1...(family == .vq ? stages : quantSteps.count)) }

    public init(family: ModelFamily, channels: Int = 64, latentChannels: Int = 32, stages: Int = 8,
                codebookSize: Int = 256, decay: Float = 0.99, commitment: Float = 0.25, deadThreshold: Float = 0.1,
                klWeight: Float = 1, quantSteps: [Float] = [2, 1, 0.5, 0.25]) {
        self.family = family
        self.channels = channels
        self.latentChannels = latentChannels
        self.stages = stages
        self.codebookSize = codebookSize
        self.decay = decay
        self.commitment = commitment
        self.deadThreshold = deadThreshold
        self.klWeight = klWeight
        self.quantSteps = quantSteps
    }

    /// The configuration as metadata entries (`arch.*` keys).
    public var metadata: [(String, String)] {
        var m: [(String, String)] = [
            ("arch.name", architecture), ("arch.family", family.rawValue), ("arch.channels", "\(channels)"),
            ("arch.latent_channels", "\(latentChannels)"), ("arch.downsample_factor", "\(downsampleFactor)"),
        ]
        if residualBlocks > 0 { m += [("arch.res_blocks", "\(residualBlocks)"), ("arch.latent_width", "\(latentWidth)")] }
        if decoderBlocks > 0 { m += [("arch.dec_res_blocks", "\(decoderBlocks)"), ("arch.dec_width", "\(decoderWidth)")] }
        switch family {
        case .vq:
            m += [("vq.stages", "\(stages)"), ("vq.codebook_size", "\(codebookSize)"), ("vq.decay", "\(decay)"),
                  ("vq.commitment", "\(commitment)"), ("vq.dead_threshold", "\(deadThreshold)")]
            if !lambdas.isEmpty { m.append(("codec.lambdas", lambdas.map { "\($0)" }.joined(separator: ","))) }
            if zeroCodeFrom > 0 { m.append(("codec.zero_code_from", "\(zeroCodeFrom)")) }
        case .gaussian:
            m += [("vae.kl_weight", "\(klWeight)"), ("vae.quant_steps", quantSteps.map { "\($0)" }.joined(separator: ","))]
            if !channelScales.isEmpty { m.append(("vae.channel_scales", channelScales.map { "\($0)" }.joined(separator: ","))) }
        }
        if defaultLevel > 0 { m.append(("codec.default_level", "\(defaultLevel)")) }
        return m
    }

    /// Reads a configuration back from metadata; every key it needs must be present and valid.
    public init(metadata: [String: String]) throws(ModelConfigError) {
        func string(_ key: String) throws(ModelConfigError) -> String {
            guard let v = metadata[key] else { throw ModelConfigError(key: key, problem: "missing") }
            return v
        }
        func int(_ key: String, _ range: ClosedRange<Int>) throws(ModelConfigError) -> Int {
            let s = try string(key)
            guard let v = Int(s), range.contains(v) else { throw ModelConfigError(key: key, problem: "\"\(s)\" is not an integer in \(range)") }
            return v
        }
        func float(_ key: String) throws(ModelConfigError) -> Float {
            let s = try string(key)
            guard let v = Float(s), v.isFinite else { throw ModelConfigError(key: key, problem: "\"\(s)\" is not a finite number") }
            return v
        }
        let familyName = try string("arch.family")
        guard let family = ModelFamily(rawValue: familyName) else {
            throw ModelConfigError(key: "arch.family", problem: "\"\(familyName)\" is not vq or gaussian")
        }
        self.init(family: family, channels: try int("arch.channels", 1...1024), latentChannels: try int("arch.latent_channels", 1...1024))
        if metadata["arch.res_blocks"] != nil {
            residualBlocks = try int("arch.res_blocks", 1...16)
            latentWidth = try int("arch.latent_width", 1...1024)
        }
        if metadata["arch.dec_res_blocks"] != nil {
            guard residualBlocks == 0 else {
                throw ModelConfigError(key: "arch.dec_res_blocks", problem: "a model with arch.res_blocks cannot also have decoder-only blocks")
            }
            decoderBlocks = try int("arch.dec_res_blocks", 1...16)
            decoderWidth = try int("arch.dec_width", 1...1024)
        }
        guard try int("arch.downsample_factor", 1...64) == downsampleFactor else {
            throw ModelConfigError(key: "arch.downsample_factor", problem: "this version builds only f = \(downsampleFactor)")
        }
        guard try string("arch.name") == architecture else {
            throw ModelConfigError(key: "arch.name", problem: "\"\(metadata["arch.name"]!)\" is not \(architecture)")
        }
        switch family {
        case .vq:
            stages = try int("vq.stages", 1...255)
            codebookSize = try int("vq.codebook_size", 2...65_536)
            decay = try float("vq.decay")
            commitment = try float("vq.commitment")
            deadThreshold = try float("vq.dead_threshold")
            if let text = metadata["codec.lambdas"] { lambdas = try Self.lambdas(text, stages: stages) }
            if metadata["codec.zero_code_from"] != nil { zeroCodeFrom = try int("codec.zero_code_from", 1...stages) }
        case .gaussian:
            klWeight = try float("vae.kl_weight")
            let steps = try string("vae.quant_steps").split(separator: ",").map { Float($0) }
            guard !steps.isEmpty, steps.count <= 255, steps.allSatisfy({ ($0 ?? 0) > 0 && $0!.isFinite }) else {
                throw ModelConfigError(key: "vae.quant_steps", problem: "expected a comma-separated list of positive steps")
            }
            quantSteps = steps.map { $0! }
            if let text = metadata["vae.channel_scales"] {
                let scales = text.split(separator: ",", omittingEmptySubsequences: false).map { Float($0) }
                guard scales.count == latentChannels, scales.allSatisfy({ ($0 ?? -1) >= 0 && $0!.isFinite }), scales.contains(where: { ($0 ?? 0) > 0 }) else {
                    throw ModelConfigError(key: "vae.channel_scales", problem: "expected \(latentChannels) non-negative numbers, at least one positive")
                }
                channelScales = scales.map { $0! }
            }
        }
        if metadata["codec.default_level"] != nil { defaultLevel = try int("codec.default_level", 1...levels.count) }
    }
}
