// Nearest-codebook search for vector quantization, as one GEMM per band of vectors:
// ‖z − e‖² = ‖z‖² − 2 z·e + ‖e‖², argmin over the codebook.

extension Kernels {
    /// For each row of `z [M, D]`, the index of the nearest row of `codebook [K, D]` (squared
    /// Euclidean distance; ties go to the lowest index) and that squared distance.
    ///
    /// Computed as `‖z‖² − 2 z·eᵀ + ‖e‖²` with `z·eᵀ` by GEMM, in bands of 256 rows.
    /// Reference: `nearestCodesNaive`; van den Oord et al. 2017, https://arxiv.org/abs/1711.00937
    /// With `penalty` (`[K]`), the search minimises `‖z − e_j‖² + penalty[j]` instead (the
    /// entropy-constrained search), and `distances` still holds the plain squared distance.
    public static func nearestCodes(_ z: Tensor, codebook: Tensor, penalty: [Float]? = nil)
        -> (indices: [Int32], distances: [Float])
    {
        nearestCodes(z, codebook: codebook, penalty: penalty, distances: true)
    }

    /// `nearestCodes` without the distances (all zero): the same indices, without the serial
    /// `‖z‖²` sum per row that only the distances need (the codec's token choice).
    public static func nearestIndices(_ z: Tensor, codebook: Tensor, penalty: [Float]? = nil) -> [Int32] {
        nearestCodes(z, codebook: codebook, penalty: penalty, distances: false).indices
    }

    static func nearestCodes(_ z: Tensor, codebook: Tensor, penalty: [Float]?, distances wantDistances: Bool)
        -> (indices: [Int32], distances: [Float])
    {
        precondition(z.rank == 2 && codebook.rank == 2 && z.shape[1] == codebook.shape[1],
            "nearestCodes: z [M, D] and codebook [K, D], got \(z.shape), \(codebook.shape)")
        let m = z.shape[0], d = z.shape[1], k = codebook.shape[0]
        precondition(k >= 1, "nearestCodes: empty codebook")
        var eNorm = [Float](repeating: 0, count: k)
        for j in 0..<k {
            var s: Float = 0
            for t in 0..<d { s += codebook.scalars[j * d + t] * codebook.scalars[j * d + t] }
            eNorm[j] = s
        }
        let extra = penalty ?? [Float](repeating: 0, count: k)
        precondition(extra.count == k, "nearestCodes: penalty needs \(k) entries, got \(extra.count)")
        var indices = [Int32](repeating: 0, count: m)
        var distances = [Float](repeating: 0, count: m)
        let band = 256
        z.withUnsafeBufferPointer { pz in
            codebook.withUnsafeBufferPointer { pe in
                indices.withUnsafeMutableBufferPointer { pi in
                    distances.withUnsafeMutableBufferPointer { pd in
                        let pz = pz.baseAddress!, pe = pe.baseAddress!
                        let pi = pi.baseAddress!, pd = pd.baseAddress!
                        eNorm.withUnsafeBufferPointer { pn in extra.withUnsafeBufferPointer { px in
                        let pn = pn.baseAddress!, px = px.baseAddress!
                        ThreadPool.current.parallelFor(count: (m + band - 1) / band) { t in
                            let r0 = t * band, rows = min(band, m - r0)
                            let dots = Scratch.buffer(slot: 4, count: rows * k)
                            // dots [rows, K] = z_band · codebookᵀ
                            gemm(
                                transposeA: false, transposeB: true, m: rows, n: k, k: d,
                                a: pz + r0 * d, lda: d, b: pe, ldb: d, beta: 0, c: dots, ldc: k)
                            for r in 0..<rows {
                                let (best, bestScore) = argminScore(norms: pn, dots: dots + r * k, penalty: px, count: k)
                                pi[r0 + r] = Int32(best)
                                if wantDistances {
                                    var zn: Float = 0
                                    for t in 0..<d { zn += pz[(r0 + r) * d + t] * pz[(r0 + r) * d + t] }
                                    pd[r0 + r] = Swift.max(0, zn + bestScore - px[best])
                                }
                            }
                        }
                        } }
                    }
                }
            }
        }
        return (indices, distances)
    }

    /// The first `j` with the smallest `norms[j] − 2·dots[j] + penalty[j]` (evaluated in that order,
    /// as the scalar definition does), and that score; 0 and +∞ when no score is below +∞ (NaN
    /// scores never win). Eight lanes keep their own first minimum; across lanes the smallest
    /// score wins and, among equal scores, the smallest index — the scalar loop's answer.
    @inline(__always)
    static func argminScore(norms: UnsafePointer<Float>, dots: UnsafePointer<Float>, penalty: UnsafePointer<Float>, count k: Int)
        -> (index: Int, score: Float)
    {
        var best = 0
        var bestScore = Float.infinity
        var j = 0
        if k >= 8 {
            var laneScore = SIMD8<Float>(repeating: .infinity)
            var laneIndex = SIMD8<Int32>(repeating: 0)
            var index = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
            let step = SIMD8<Int32>(repeating: 8)
            while j + 8 <= k {
                let e = UnsafeRawPointer(norms + j).loadUnaligned(as: SIMD8<Float>.self)
                let q = UnsafeRawPointer(dots + j).loadUnaligned(as: SIMD8<Float>.self)
                let p = UnsafeRawPointer(penalty + j).loadUnaligned(as: SIMD8<Float>.self)
                let score = e - 2 * q + p
                let better = score .< laneScore
                laneScore.replace(with: score, where: better)
                laneIndex.replace(with: index, where: better)
                index &+= step
                j += 8
            }
            best = Int.max
            for lane in 0..<8 {
                let v = laneScore[lane], i = Int(laneIndex[lane])
                if v < bestScore || (v == bestScore && i < best) {
                    bestScore = v
                    best = i
                }
            }
        }
        while j < k {
            let score = norms[j] - 2 * dots[j] + penalty[j]
            if score < bestScore {
                bestScore = score
                best = j
            }
            j += 1
        }
        return (best, bestScore)
    }

    /// The definition of `nearestCodes`: direct squared distances in Double.
    public static func nearestCodesNaive(_ z: Tensor, codebook: Tensor, penalty: [Float]? = nil)
        -> (indices: [Int32], distances: [Float])
    {
        let m = z.shape[0], d = z.shape[1], k = codebook.shape[0]
        let extra = penalty ?? [Float](repeating: 0, count: k)
        var indices = [Int32](repeating: 0, count: m)
        var distances = [Float](repeating: 0, count: m)
        for r in 0..<m {
            var best = 0
            var bestDist = Double.infinity
            for j in 0..<k {
                var s = 0.0
                for t in 0..<d {
                    let diff = Double(z.scalars[r * d + t]) - Double(codebook.scalars[j * d + t])
                    s += diff * diff
                }
                if s + Double(extra[j]) < bestDist {
                    bestDist = s + Double(extra[j])
                    best = j
                }
            }
            indices[r] = Int32(best)
            distances[r] = Float(bestDist - Double(extra[best]))
        }
        return (indices, distances)
    }
}
