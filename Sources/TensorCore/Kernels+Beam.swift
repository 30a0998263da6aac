// Beam search through the stages of a residual vector quantizer (the encoder's token choice).

import CKernels

extension Kernels {
    /// Rows per band of `residualBeamSearch`: each band runs every stage on its own, so the
    /// result does not depend on the thread count or on how a caller chunks its rows (as long as
    /// its chunks are multiples of this).
    public static let beamBand = 64

    /// Tests: the beam's candidate scan on its portable scalar path (every candidate in turn).
    nonisolated(unsafe) public static var beamPortableScan = false

    /// The tokens of `z [M, D]` through the stages `codebooks` (`[K, D]` each), chosen by beam
    /// search over the whole path instead of stage by stage.
    ///
    /// A path is a choice `i_1 … i_l` with cost `J = ‖z − Σ_s e_{s,i_s}‖² + Σ_s penalties[s][i_s]`
    /// (the entropy-constrained cost of `nearestCodes`, summed over the stages). Per row the search
    /// keeps the `beam` cheapest paths; a path extended by code `k` of stage `l` costs
    /// `J + ‖e_k‖² − 2 r·e_k + penalty[k]` (its residual `r` against the GEMM of the band's
    /// residuals and the codebook), and the `beam` cheapest of the `beam · K` extensions go on.
    /// Greedy stage-by-stage coding is `beam = 1`: the first stage's best code can leave a
    /// residual that the later stages code worse than another start would (beam search over RVQ
    /// stages: Liu et al. 2015, "Improved residual vector quantization for high-dimensional
    /// approximate nearest neighbor search"). Ties go to the earlier parent, then the lower index,
    /// and the cheapest final path (the first on ties) is returned, `levels` arrays of `M`. Path
    /// costs are summed in Double, so extensions of one path compare exactly as their Float scores
    /// do and width 1 is the greedy search's choice, token for token.
    public static func residualBeamSearch(_ z: Tensor, codebooks: [Tensor], penalties: [[Float]]?, beam: Int) -> [[Int32]] {
        precondition(z.rank == 2 && beam >= 1 && !codebooks.isEmpty, "residualBeamSearch: z [M, D], beam ≥ 1, at least one stage")
        let m = z.shape[0], d = z.shape[1], levels = codebooks.count
        let k = codebooks[0].shape[0]
        for (l, book) in codebooks.enumerated() {
            precondition(book.shape == [k, d], "residualBeamSearch: stage \(l) codebook \(book.shape), expected [\(k), \(d)]")
            if let penalties { precondition(penalties[l].count == k, "residualBeamSearch: stage \(l) penalty needs \(k) entries") }
        }
        let width = beam
        // Per stage: ‖e_k‖² (K values), then the penalties (K values).
        var tables = [Float](repeating: 0, count: levels * 2 * k)
        for (l, book) in codebooks.enumerated() {
            for j in 0..<k {
                var s: Float = 0
                for t in 0..<d { s += book.scalars[j * d + t] * book.scalars[j * d + t] }
                tables[l * 2 * k + j] = s
                tables[l * 2 * k + k + j] = penalties?[l][j] ?? 0
            }
        }
        var out = [Int32](repeating: 0, count: levels * m)
        let band = beamBand
        z.withUnsafeBufferPointer { pz in
            out.withUnsafeMutableBufferPointer { po in
                tables.withUnsafeBufferPointer { ptab in
                    let pz = pz.baseAddress!, po = po.baseAddress!, ptab = ptab.baseAddress!
                    ThreadPool.current.parallelFor(count: (m + band - 1) / band) { t in
                        let r0 = t * band, rows = min(band, m - r0)
                        searchBand(pz + r0 * d, rows: rows, d: d, k: k, width: width, codebooks: codebooks, tables: ptab,
                                   out: po + r0, outStride: m)
                    }
                }
            }
        }
        return (0..<levels).map { Array(out[$0 * m..<($0 + 1) * m]) }
    }

    /// One band of `residualBeamSearch`: `rows` rows of `z`, tokens to `out[l * outStride + i]`.
    private static func searchBand(_ z: UnsafePointer<Float>, rows: Int, d: Int, k: Int, width: Int, codebooks: [Tensor],
                                   tables: UnsafePointer<Float>, out: UnsafeMutablePointer<Int32>, outStride: Int) {
        let levels = codebooks.count, paths = rows * width
        // Per path: residual [D], cost, tokens [levels]; double-buffered for the reorder.
        var residual = Scratch.buffer(slot: 5, count: paths * d)
        var nextResidual = Scratch.buffer(slot: 14, count: paths * d)
        let dots = Scratch.buffer(slot: 15, count: paths * k)
        var cost = UnsafeMutablePointer<Double>.allocate(capacity: 2 * paths)
        var nextCost = cost + paths
        var tokens = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * paths * levels)
        var nextTokens = tokens + paths * levels
        defer { min(cost, nextCost).deallocate(); min(tokens, nextTokens).deallocate() }
        // The sorted candidates of one row: (cost, parent, code).
        let candCost = UnsafeMutablePointer<Double>.allocate(capacity: width)
        let candFrom = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * width)
        defer { candCost.deallocate(); candFrom.deallocate() }
        cost.initialize(repeating: .infinity, count: paths)
        for i in 0..<rows {
            (residual + i * width * d).update(from: z + i * d, count: d)
            cost[i * width] = 0   // the other paths start dead (+∞): one start per row
        }
        for l in 0..<levels {
            let norms = tables + l * 2 * k, pen = norms + k
            codebooks[l].withUnsafeBufferPointer { pe in
                let pe = pe.baseAddress!
                // Stage 1 has one live path per row: its GEMM skips the others (row stride width·D).
                gemm(transposeA: false, transposeB: true, m: l == 0 ? rows : paths, n: k, k: d,
                     a: residual, lda: l == 0 ? width * d : d, b: pe, ldb: d, beta: 0, c: dots, ldc: l == 0 ? width * k : k)
                for i in 0..<rows {
                    // The row's `width` cheapest extensions (C; AVX2 where the CPU has it tests 16
                    // scores per compare: the same candidates as the sequential scan, in the same order).
                    vqz_beam_row(dots + i * width * k, Int32(l == 0 ? 1 : width), cost + i * width, norms, pen, Int32(k),
                                 candCost, candFrom, Int32(width), beamPortableScan ? 1 : 0)
                    for c in 0..<width {
                        let dst = i * width + c
                        nextCost[dst] = candCost[c]
                        if !(candCost[c] < .infinity) { continue }
                        let src = i * width + Int(candFrom[2 * c]), code = Int(candFrom[2 * c + 1])
                        let r = residual + src * d, e = pe + code * d, o = nextResidual + dst * d
                        for t in 0..<d { o[t] = r[t] - e[t] }
                        (nextTokens + dst * levels).update(from: tokens + src * levels, count: l)
                        nextTokens[dst * levels + l] = Int32(code)
                    }
                }
            }
            swap(&residual, &nextResidual)
            swap(&cost, &nextCost)
            swap(&tokens, &nextTokens)
        }
        for i in 0..<rows {
            // The candidates are kept sorted, so path 0 is the cheapest (first on ties).
            for l in 0..<levels { out[l * outStride + i] = tokens[(i * width) * levels + l] }
        }
    }
}
