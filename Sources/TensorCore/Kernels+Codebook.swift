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
                        ThreadPool.current.parallelFor(count: (m + band - 1) / band) { t in
                            let r0 = t * band, rows = min(band, m - r0)
                            let dots = Scratch.buffer(slot: 4, count: rows * k)
                            // dots [rows, K] = z_band · codebookᵀ
                            gemm(
                                transposeA: false, transposeB: true, m: rows, n: k, k: d,
                                a: pz + r0 * d, lda: d, b: pe, ldb: d, beta: 0, c: dots, ldc: k)
                            for r in 0..<rows {
                                var zn: Float = 0
                                for t in 0..<d { zn += pz[(r0 + r) * d + t] * pz[(r0 + r) * d + t] }
                                var best = 0
                                var bestScore = Float.infinity
                                for j in 0..<k {
                                    let score = eNorm[j] - 2 * dots[r * k + j] + extra[j]
                                    if score < bestScore {
                                        bestScore = score
                                        best = j
                                    }
                                }
                                pi[r0 + r] = Int32(best)
                                pd[r0 + r] = Swift.max(0, zn + bestScore - extra[best])
                            }
                        }
                    }
                }
            }
        }
        return (indices, distances)
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
