// Residual vector quantization with EMA codebooks, the straight-through estimator and the
// commitment loss: the discrete bottleneck of the VQ-VAE.
//
// References: van den Oord et al. 2017, "Neural Discrete Representation Learning",
// https://arxiv.org/abs/1711.00937 (VQ-VAE, STE, commitment loss, EMA in its appendix);
// Zeghidour et al. 2021, "SoundStream", https://arxiv.org/abs/2107.03312 (residual VQ, quantizer
// dropout); Lee et al. 2022, "RQ-VAE", https://arxiv.org/abs/2203.01941. The EMA form follows
// rosinality/vq-vae-2-pytorch. Deviations (dead-code restarts, data initialisation) are in
// docs/design/models.md.

import Foundation
import TensorCore

/// Codebook statistics of one training step.
public struct CodebookHealth: Sendable, Equatable {
    /// Per stage: `exp(entropy)` of the code usage in the batch (K when uniform, 1 when collapsed).
    public var perplexity: [Float]
    /// Per stage: codes whose EMA cluster size is below the restart threshold.
    public var deadCodes: [Int]
    /// Per stage: codes restarted this step.
    public var restarted: [Int]
}

/// `L` stages of vector quantization, each quantizing what the previous ones left.
///
/// Stage `l` holds a codebook `[K, D]`. With `r₀ = z_e`: `i_l = argmin_k ‖r_{l−1} − e_{l,k}‖²`
/// (by the distance GEMM `‖r‖² − 2 r·e + ‖e‖²`), `q_l = e_{l,i_l}`, `r_l = r_{l−1} − q_l`, and
/// coding `n` stages gives `z_q = Σ_{l≤n} q_l`.
///
/// Training (`quantizeForTraining`):
/// - straight-through: the decoder sees `z_q`, and its gradient is copied to `z_e` unchanged;
/// - commitment loss `β · mean‖z_e − sg(z_q)‖²`, gradient `2β(z_e − z_q)/count` into `z_e`;
/// - the codebooks are not trained by gradients but by exponential moving averages (decay `γ`,
///   Laplace smoothing `ε`): `N_k ← γN_k + (1−γ)n_k`, `m_k ← γm_k + (1−γ)Σ_{i→k} r_i`,
///   `e_k = m_k / Ñ_k` with `Ñ_k = (N_k + ε)/(ΣN + Kε)·ΣN`.
/// - codes whose `N_k` falls below `deadThreshold` are restarted at random residuals of the batch.
public final class ResidualVectorQuantizer {
    public let stages: Int
    public let codebookSize: Int
    public let dimension: Int
    public var decay: Float
    public var epsilon: Float = 1e-5
    public var commitment: Float
    public var deadThreshold: Float
    /// `[K, D]` per stage.
    public var codebooks: [Tensor]
    /// EMA cluster sizes `[K]` per stage.
    public var clusterSize: [Tensor]
    /// EMA sums of assigned vectors `[K, D]` per stage.
    public var embedSum: [Tensor]
    /// Stages `0..<initializedStages` hold trained or data-initialised codebooks; the rest are
    /// seeded from the residuals the first time training runs (a warm start may bring fewer stages).
    public var initializedStages: Int
    /// Whether every stage's codebook has been initialised.
    public var initialized: Bool {
        get { initializedStages >= stages }
        set { initializedStages = newValue ? stages : 0 }
    }
    /// Rate-aware training (entropy-constrained VQ): when positive, training picks
    /// `argmin_k ‖r − e_k‖² + λ·(−log2 p_k)` with `p_k` the stage's EMA code probabilities
    /// (`(N_k + ε)/(ΣN + Kε)`), so the codebooks learn for the rate their tokens will cost.
    public var trainingLambda: Float = 0
    /// Zero codes (`codec.zero_code_from`): when positive, stages `zeroCodeFrom…stages` (1-based)
    /// hold the zero vector at their last index `K − 1`, a "skip this stage here" token that
    /// the entropy-constrained choice picks where a stage's best code does not pay for its bits.
    /// Training keeps it at zero; 0: no zero codes.
    public var zeroCodeFrom: Int = 0
    /// The share of the positions the zero code is credited with before the first refinement of
    /// the entropy-constrained choice (`quantize(_:levels:lambda:)`), whose pass 0, the nearest
    /// codes, rarely picks it.
    public static let zeroCodeSeed: Float = 0.5

    /// Whether stage `l` (0-based) has the zero code at index `K − 1`.
    public func hasZeroCode(stage l: Int) -> Bool { zeroCodeFrom > 0 && l + 1 >= zeroCodeFrom }

    public init(stages: Int, codebookSize: Int, dimension: Int, decay: Float = 0.99, commitment: Float = 0.25,
                deadThreshold: Float = 0.1) {
        self.stages = stages
        self.codebookSize = codebookSize
        self.dimension = dimension
        self.decay = decay
        self.commitment = commitment
        self.deadThreshold = deadThreshold
        codebooks = Array(repeating: Tensor(shape: [codebookSize, dimension]), count: stages)
        clusterSize = Array(repeating: Tensor(shape: [codebookSize], repeating: 1), count: stages)
        embedSum = Array(repeating: Tensor(shape: [codebookSize, dimension]), count: stages)
        initializedStages = 0
    }

    /// Codes `rows [M, D]` with the first `levels` stages.
    ///
    /// - Returns: the indices, `levels` arrays of `M`, and `z_q [M, D]`.
    public func quantize(_ rows: Tensor, levels: Int) -> (indices: [[Int32]], quantized: Tensor) {
        precondition(levels >= 1 && levels <= stages, "quantize: levels \(levels) outside 1…\(stages)")
        var residual = rows
        var quantized = Tensor(shape: rows.shape)
        var all: [[Int32]] = []
        for l in 0..<levels {
            let indices = Kernels.nearestIndices(residual, codebook: codebooks[l])
            let q = gather(codebooks[l], indices)
            residual = residual - q
            quantized += q
            all.append(indices)
        }
        return (all, quantized)
    }

    /// Entropy-constrained coding of `rows [M, D]` with the first `levels` stages: at each stage,
    /// `i_l = argmin_k ‖r_{l−1} − e_{l,k}‖² + λ·b_l(k)`, where `b_l(k) = −log2 p_l(k)` are the code
    /// lengths of stage `l`'s tokens in this very input (Chou, Lookabaugh & Gray 1989, "Entropy-
    /// constrained vector quantization"). The lengths come from the previous pass: pass 0 is the
    /// plain nearest-code search, then `passes` refinements. `λ = 0` is `quantize(_:levels:)`.
    ///
    /// Only the encoder's choice changes: every index is still a valid code, decoded as usual, and
    /// an entropy coder fitted to the file (zstd's Huffman/FSE stages) collects the saving.
    ///
    /// `refine` sweeps follow the last pass: each stage's token is chosen again with the other
    /// stages' tokens fixed (`argmin_k ‖x − Σ_{j≠l} e_{j,i_j} − e_{l,k}‖² + λ·b_l(k)`, block coordinate
    /// descent), which never raises that cost and lowers the latent error the greedy stage-by-stage
    /// choice leaves. Level `L`'s tokens are then no longer the first `L` of a deeper level's.
    ///
    /// `beam` > 1: the last pass chooses the whole path of each row by beam search
    /// (`Kernels.residualBeamSearch`: the `beam` cheapest paths of `‖x − Σ e‖² + Σ λ·b_l` kept from
    /// stage to stage) instead of stage by stage; the earlier passes, which only gather the code
    /// lengths, stay greedy.
    public func quantize(_ rows: Tensor, levels: Int, lambda: Float, passes: Int = 2, refine: Int = 0, beam: Int = 1) -> [[Int32]] {
        precondition(levels >= 1 && levels <= stages, "quantize: levels \(levels) outside 1…\(stages)")
        precondition(refine >= 0, "quantize: refine \(refine) is negative")
        let last = !(lambda > 0 && passes > 0)
        var indices = codes(rows, levels: levels, penalties: nil, refine: last ? refine : 0, beam: last ? beam : 1)
        guard lambda > 0 else { return indices }
        let m = rows.shape[0], k = codebookSize
        for pass in 0..<passes {
            // Stage l's code lengths come from stage l of the previous pass; a zero code starts
            // with a share of the positions (the nearest codes rarely pick it).
            let penalties = indices.enumerated().map { l, stage in
                var counts = [Float](repeating: 0.5, count: k)
                for j in stage { counts[Int(j)] += 1 }
                var total = Float(m) + 0.5 * Float(k)
                if pass == 0 && hasZeroCode(stage: l) {
                    counts[k - 1] += Self.zeroCodeSeed * Float(m)
                    total += Self.zeroCodeSeed * Float(m)
                }
                return counts.map { -lambda * log2($0 / total) }
            }
            indices = codes(rows, levels: levels, penalties: penalties, refine: pass == passes - 1 ? refine : 0,
                            beam: pass == passes - 1 ? beam : 1)
        }
        return indices
    }

    /// The refinement sweeps of the codec's token choice (`vqz encode --refine`'s default, and
    /// what decoder tuning trains on): one sweep bought 0.9 % BD-rate on the held-out training
    /// images (v6z, +0.02 … +0.08 dB at equal rate), a second almost nothing.
    public static let defaultRefine = 1

    /// The beam width of the codec's token choice (`vqz encode --beam`'s default, and what
    /// codec-token training and decoder tuning train on). On the held-out training images with v11z,
    /// 4 paths per position bought −7.1 % BD-rate (zstd) and −6.2 % (token prior), 8 paths −8.6 % /
    /// −7.2 %; 6 is the widest whose whole-process encode of a Kodak image at the default level stays
    /// under the quality issue's 1 s with a margin (mean 0.79 s, max 0.88 s on a Zen 3;
    /// `docs/design/codec.md`).
    public static let defaultBeam = 6

    /// Rows per chunk of `codes`: a multiple of `nearestCodes`' 256-row bands, so the results do
    /// not depend on it.
    public static let chunkRows = 16_384

    /// The indices of `rows [M, D]` through the first `levels` stages, each stage choosing
    /// `argmin_k ‖r − e_k‖² + penalties[l][k]`, then `refine` sweeps of the same choice per stage with
    /// the others fixed (`quantize(_:levels:lambda:passes:refine:)`). Works on chunks of `chunkRows` rows with one chunk of
    /// residuals, so memory beyond the input and the indices stays constant (an encoder's latent
    /// grid can be a whole 24-megapixel photo).
    func codes(_ rows: Tensor, levels: Int, penalties: [[Float]]?, refine: Int = 0, beam: Int = 1) -> [[Int32]] {
        let m = rows.shape[0], d = dimension
        var indices = [[Int32]](repeating: [Int32](repeating: 0, count: m), count: levels)
        for start in stride(from: 0, to: m, by: Self.chunkRows) {
            let count = min(Self.chunkRows, m - start)
            var residual = Tensor(shape: [count, d])
            rows.withUnsafeBufferPointer { src in
                residual.withUnsafeMutableBufferPointer { dst in
                    for i in 0..<count * d { dst[i] = src[start * d + i] }
                }
            }
            if beam > 1 {
                let chosen = Kernels.residualBeamSearch(residual, codebooks: Array(codebooks.prefix(levels)),
                                                        penalties: penalties.map { Array($0.prefix(levels)) }, beam: beam)
                for l in 0..<levels {
                    add(stage: l, codes: chosen[l], sign: -1, to: &residual)
                    indices[l].replaceSubrange(start..<start + count, with: chosen[l])
                }
            } else {
                for l in 0..<levels {
                    let chosen = Kernels.nearestIndices(residual, codebook: codebooks[l], penalty: penalties?[l])
                    add(stage: l, codes: chosen, sign: -1, to: &residual)
                    indices[l].replaceSubrange(start..<start + count, with: chosen)
                }
            }
            for _ in 0..<(levels > 1 ? refine : 0) {
                for l in 0..<levels {
                    // The residual without stage l's code, then stage l chosen again.
                    add(stage: l, codes: Array(indices[l][start..<start + count]), sign: 1, to: &residual)
                    let chosen = Kernels.nearestIndices(residual, codebook: codebooks[l], penalty: penalties?[l])
                    add(stage: l, codes: chosen, sign: -1, to: &residual)
                    indices[l].replaceSubrange(start..<start + count, with: chosen)
                }
            }
        }
        return indices
    }

    /// `residual[i] += sign · e_{l, codes[i]}` for each row `i` of `residual [count, D]`.
    private func add(stage l: Int, codes: [Int32], sign: Float, to residual: inout Tensor) {
        let d = dimension
        codebooks[l].withUnsafeBufferPointer { c in
            residual.withUnsafeMutableBufferPointer { r in
                codes.withUnsafeBufferPointer { codes in
                    let c = c.baseAddress!, r = r.baseAddress!
                    for i in 0..<codes.count {
                        let src = c + Int(codes[i]) * d, dst = r + i * d
                        for t in 0..<d { dst[t] += sign * src[t] }
                    }
                }
            }
        }
    }

    /// `z_q [M, D]` of the given indices (the decoder's side).
    /// Band by band (256 rows, which stay in cache), the stages' codes added in stage order: the
    /// same sums in the same order as adding gathered stage tensors (0 + e₁ + e₂ + …).
    public func dequantize(_ indices: [[Int32]], count: Int) -> Tensor {
        let d = dimension
        var out = Tensor(shape: [count, d])
        for (l, stage) in indices.enumerated() {
            precondition(stage.count == count, "dequantize: stage \(l) has \(stage.count) indices, not \(count)")
        }
        let books = Array(codebooks.prefix(indices.count))
        out.withUnsafeMutableBufferPointer { o in
            let o = o.baseAddress!
            ThreadPool.current.parallelFor(count: (count + 255) / 256) { band in
                let rows = (band * 256)..<min(count, band * 256 + 256)
                for (l, stage) in indices.enumerated() {
                    books[l].withUnsafeBufferPointer { c in
                        stage.withUnsafeBufferPointer { s in
                            let c = c.baseAddress!
                            for i in rows {
                                let src = c + Int(s[i]) * d, dst = o + i * d
                                for t in 0..<d { dst[t] += src[t] }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The training pass: quantizes with `levels` stages, updates the EMA codebooks, restarts dead
    /// codes, and returns `z_q`, the commitment loss and its gradient with respect to `z_e`.
    ///
    /// The caller feeds `z_q` to the decoder and adds `dCommit` to the decoder's input gradient
    /// (the straight-through estimator).
    ///
    /// `codec`: the first `levels` stages take the tokens `vqz encode` would write
    /// (`quantize(_:levels:lambda:passes:refine:)` with that λ and refinement: the code lengths of
    /// this batch, zero codes, block coordinate descent) instead of the nearest codes, and each of
    /// those stages' EMA moves its codes to the mean of `x − Σ_{j≠l} e_{j,i_j}` over the rows that
    /// chose them — the centroid step of entropy-constrained VQ design (Chou, Lookabaugh & Gray
    /// 1989), so the codebooks are trained for the choice and the rate they will be used at; the
    /// deeper stages go on with the nearest codes of what is left.
    public func quantizeForTraining(_ rows: Tensor, levels: Int, codec: (lambda: Float, refine: Int, beam: Int)? = nil,
                                    rng: inout some RandomNumberGenerator)
        -> (quantized: Tensor, commitmentLoss: Float, dCommit: Tensor, health: CodebookHealth)
    {
        if !initialized { initialize(from: rows, rng: &rng) }
        var residual = rows
        var quantized = Tensor(shape: rows.shape)
        var health = CodebookHealth(perplexity: [], deadCodes: [], restarted: [])
        let chosen = codec.map { quantize(rows, levels: levels, lambda: $0.lambda, refine: $0.refine, beam: $0.beam) }
        // The codec's codes per decoded stage, gathered once (stage l's codebook moves only at stage l).
        let picked = chosen.map { c in (0..<levels).map { gather(codebooks[$0], c[$0]) } } ?? []
        if !picked.isEmpty {
            for q in picked { quantized += q }
            residual = rows - quantized
        }
        for l in 0..<stages {
            let indices: [Int32], stageResidual: Tensor
            if let chosen, l < levels {
                // Stage l's target with the other stages' codes fixed (codebooks as chosen with).
                indices = chosen[l]
                stageResidual = residual + picked[l]
            } else {
                // Every stage learns (its EMA sees its residuals) even when only `levels` are decoded,
                // so a stage is ready the first time quantizer dropout turns it on.
                indices = Kernels.nearestIndices(residual, codebook: codebooks[l], penalty: trainingPenalty(stage: l))
                stageResidual = residual
                let q = gather(codebooks[l], indices)
                residual = residual - q
                if l < levels { quantized += q }
            }
            let (counts, sums) = accumulate(stageResidual, indices: indices)
            health.perplexity.append(Self.perplexity(counts))
            health.restarted.append(updateEMA(stage: l, counts: counts, sums: sums, residuals: stageResidual, rng: &rng))
            health.deadCodes.append(clusterSize[l].scalars.filter { $0 < deadThreshold }.count)
        }
        let diff = rows - quantized
        let count = Float(max(1, diff.count))
        let loss = commitment * Float(diff.squaredNorm()) / count
        return (quantized, loss, diff * (2 * commitment / count), health)
    }

    /// The rows per code and their sums (`[K]`, `[K, D]`) of one stage's assignment.
    private func accumulate(_ residual: Tensor, indices: [Int32]) -> (counts: [Float], sums: Tensor) {
        let m = residual.shape[0], d = dimension
        var counts = [Float](repeating: 0, count: codebookSize)
        var sums = Tensor(shape: [codebookSize, d])
        residual.withUnsafeBufferPointer { r in
            sums.withUnsafeMutableBufferPointer { s in
                for i in 0..<m {
                    let j = Int(indices[i])
                    counts[j] += 1
                    for t in 0..<d { s[j * d + t] += r[i * d + t] }
                }
            }
        }
        return (counts, sums)
    }

    /// `λ·(−log2 p_k)` of stage `l` from its EMA cluster sizes; nil when `trainingLambda` is 0.
    func trainingPenalty(stage l: Int) -> [Float]? {
        guard trainingLambda > 0 else { return nil }
        let sizes = clusterSize[l].scalars
        let total = sizes.reduce(0, +) + Float(codebookSize) * epsilon
        return sizes.map { -trainingLambda * log2(($0 + epsilon) / total) }
    }

    /// Sets each stage's codebook not yet initialised to distinct random rows of its residuals
    /// (k-means++-free data init), so no code starts far from the data; initialised stages keep
    /// theirs and only pass their residuals on.
    func initialize(from rows: Tensor, rng: inout some RandomNumberGenerator) {
        var residual = rows
        for l in 0..<stages {
            if l >= initializedStages {
                codebooks[l] = sample(residual, count: codebookSize, rng: &rng)
                embedSum[l] = codebooks[l]
                clusterSize[l] = Tensor(shape: [codebookSize], repeating: 1)
            }
            pinZeroCode(stage: l)
            let indices = Kernels.nearestIndices(residual, codebook: codebooks[l])
            residual = residual - gather(codebooks[l], indices)
        }
        initialized = true
    }

    /// Keeps stage `l`'s zero code at zero (code and EMA sum), with at least a unit cluster so that
    /// it is never restarted; nothing for a stage without one.
    func pinZeroCode(stage l: Int) {
        guard hasZeroCode(stage: l) else { return }
        let d = dimension, j = codebookSize - 1
        for t in 0..<d {
            codebooks[l].scalars[j * d + t] = 0
            embedSum[l].scalars[j * d + t] = 0
        }
        clusterSize[l].scalars[j] = max(clusterSize[l].scalars[j], 1)
    }

    /// Gives stages `from…stages` (1-based) a zero code at index `K − 1`: the stage's code of the
    /// smallest norm (the one nearest to zero, so the least is lost) takes the zero vector and
    /// moves to `K − 1`, the code that was there to its index (with their EMA state). The
    /// quantizer's stages must be initialised; stages that already have the zero code are kept.
    public func addZeroCodes(from: Int) {
        precondition(from >= 1 && from <= stages && initialized, "addZeroCodes: stage \(from) outside 1…\(stages) or codebooks not trained")
        let added = ((from - 1)..<stages).filter { !hasZeroCode(stage: $0) }
        zeroCodeFrom = from
        let d = dimension, last = codebookSize - 1
        for l in added {
            // The code nearest the zero vector is the one of the smallest norm.
            let nearest = Int(Kernels.nearestCodes(Tensor(shape: [1, d]), codebook: codebooks[l]).indices[0])
            if nearest != last {
                for t in 0..<d {
                    codebooks[l].scalars[nearest * d + t] = codebooks[l].scalars[last * d + t]
                    embedSum[l].scalars[nearest * d + t] = embedSum[l].scalars[last * d + t]
                }
                clusterSize[l].scalars[nearest] = clusterSize[l].scalars[last]
            }
            pinZeroCode(stage: l)
        }
    }

    /// One EMA step of stage `l`; returns the number of codes restarted.
    func updateEMA(stage l: Int, counts: [Float], sums: Tensor, residuals: Tensor, rng: inout some RandomNumberGenerator) -> Int {
        let k = codebookSize, d = dimension, g = decay
        for j in 0..<k { clusterSize[l].scalars[j] = g * clusterSize[l].scalars[j] + (1 - g) * counts[j] }
        embedSum[l].scale(by: g)
        embedSum[l].addScaled(sums, by: 1 - g)
        let total = clusterSize[l].scalars.reduce(0, +)
        var restarted = 0
        var fresh: Tensor?
        let pinned = hasZeroCode(stage: l) ? k - 1 : -1
        for j in 0..<k {
            if clusterSize[l].scalars[j] < deadThreshold && j != pinned {
                // Restart: a random residual of this batch, with a unit cluster so it is not
                // immediately dead again.
                if fresh == nil { fresh = sample(residuals, count: k, rng: &rng) }
                for t in 0..<d {
                    codebooks[l].scalars[j * d + t] = fresh!.scalars[j * d + t]
                    embedSum[l].scalars[j * d + t] = fresh!.scalars[j * d + t]
                }
                clusterSize[l].scalars[j] = 1
                restarted += 1
                continue
            }
            let smoothed = (clusterSize[l].scalars[j] + epsilon) / (total + Float(k) * epsilon) * total
            for t in 0..<d { codebooks[l].scalars[j * d + t] = embedSum[l].scalars[j * d + t] / smoothed }
        }
        pinZeroCode(stage: l)
        return restarted
    }

    /// `count` rows drawn from `rows` (without replacement while possible), plus tiny noise when
    /// rows repeat so that codes stay distinct.
    func sample(_ rows: Tensor, count: Int, rng: inout some RandomNumberGenerator) -> Tensor {
        let m = rows.shape[0], d = dimension
        var order = Array(0..<m)
        for i in stride(from: m - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        var out = Tensor(shape: [count, d])
        for j in 0..<count {
            let src = order[j % m]
            for t in 0..<d {
                var v = rows.scalars[src * d + t]
                if j >= m { v += 1e-3 * (Float(rng.next() % 2001) / 1000 - 1) }
                out.scalars[j * d + t] = v
            }
        }
        return out
    }

    func gather(_ codebook: Tensor, _ indices: [Int32]) -> Tensor {
        let d = dimension
        var out = Tensor(shape: [indices.count, d])
        codebook.withUnsafeBufferPointer { c in
            out.withUnsafeMutableBufferPointer { o in
                for (i, j) in indices.enumerated() {
                    for t in 0..<d { o[i * d + t] = c[Int(j) * d + t] }
                }
            }
        }
        return out
    }

    static func perplexity(_ counts: [Float]) -> Float {
        let total = counts.reduce(0, +)
        guard total > 0 else { return 0 }
        var entropy: Float = 0
        for c in counts where c > 0 {
            let p = c / total
            entropy -= p * log(p)
        }
        return exp(entropy)
    }
}
