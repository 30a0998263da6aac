// The encoder's beam search over residual VQ stages against its definitions: greedy at width 1,
// exhaustive when the beam holds every path; the vector candidate scan against the portable one.

import Testing
@testable import TensorCore

@Suite("Residual VQ beam search")
struct BeamSearchTests {
    /// `‖z − Σ e‖² + Σ penalty` of each row's path, in Double.
    private func costs(_ z: Tensor, _ books: [Tensor], _ penalties: [[Float]], _ tokens: [[Int32]]) -> [Double] {
        let m = z.shape[0], d = z.shape[1]
        return (0..<m).map { i in
            var r = (0..<d).map { Double(z.scalars[i * d + $0]) }
            var c = 0.0
            for (l, book) in books.enumerated() {
                let j = Int(tokens[l][i])
                for t in 0..<d { r[t] -= Double(book.scalars[j * d + t]) }
                c += Double(penalties[l][j])
            }
            return c + r.reduce(0) { $0 + $1 * $1 }
        }
    }

    private func problem(m: Int, d: Int, k: Int, levels: Int, seed: UInt64) -> (Tensor, [Tensor], [[Float]]) {
        var rng = Xoshiro256(seed: seed)
        let z = Tensor.randomNormal([m, d], using: &rng)
        // Shrinking codebooks, as a trained residual quantizer's are.
        let books = (0..<levels).map { l in Tensor.randomNormal([k, d], std: 1 / Float(l + 1), using: &rng) }
        let penalties = (0..<levels).map { _ in (0..<k).map { _ in Float.random(in: 0..<0.5, using: &rng) } }
        return (z, books, penalties)
    }

    /// The AVX2 candidate scan (16 scores per compare) keeps exactly the candidates of the portable
    /// one (every candidate in turn): code counts that are and are not multiples of 16, beams
    /// narrower and wider than the codebook, and codebooks with repeated entries (tied scores, where
    /// the earlier parent and code must win).
    @Test func vectorScanMatchesPortable() {
        for (k, width, seed) in [(40, 3, 31), (256, 6, 32), (7, 12, 33), (48, 64, 34)] as [(Int, Int, UInt64)] {
            var (z, books, penalties) = problem(m: 150, d: 8, k: k, levels: 4, seed: seed)
            if seed == 33 || seed == 34 {
                // Every code repeated once and penalties on a coarse grid: many exact ties.
                for l in books.indices {
                    for j in stride(from: 1, to: k, by: 2) {
                        for t in 0..<8 { books[l].scalars[j * 8 + t] = books[l].scalars[(j - 1) * 8 + t] }
                    }
                    penalties[l] = penalties[l].map { ($0 * 4).rounded() / 4 }
                }
            }
            let vector = Kernels.residualBeamSearch(z, codebooks: books, penalties: penalties, beam: width)
            Kernels.beamPortableScan = true
            let portable = Kernels.residualBeamSearch(z, codebooks: books, penalties: penalties, beam: width)
            Kernels.beamPortableScan = false
            #expect(vector == portable, "K \(k), beam \(width)")
        }
    }

    /// Width 1 is the greedy stage-by-stage choice, exactly (the same GEMM scores and ties).
    @Test func widthOneIsGreedy() {
        let (z, books, penalties) = problem(m: 300, d: 8, k: 32, levels: 4, seed: 21)
        var residual = z
        var greedy: [[Int32]] = []
        for (l, book) in books.enumerated() {
            let chosen = Kernels.nearestIndices(residual, codebook: book, penalty: penalties[l])
            for (i, j) in chosen.enumerated() {
                for t in 0..<8 { residual.scalars[i * 8 + t] -= book.scalars[Int(j) * 8 + t] }
            }
            greedy.append(chosen)
        }
        #expect(Kernels.residualBeamSearch(z, codebooks: books, penalties: penalties, beam: 1) == greedy)
    }

    /// A beam as wide as every path of the first L − 1 stages is an exhaustive search: each row gets
    /// the cheapest of all K^L paths (ties within float rounding allowed).
    @Test func fullWidthIsExhaustive() {
        let k = 4, levels = 3, d = 3, m = 200
        let (z, books, penalties) = problem(m: m, d: d, k: k, levels: levels, seed: 22)
        let beam = Kernels.residualBeamSearch(z, codebooks: books, penalties: penalties, beam: k * k)
        let found = costs(z, books, penalties, beam)
        var best = [Double](repeating: .infinity, count: m)
        for a in 0..<k { for b in 0..<k { for c in 0..<k {
            let tokens = [a, b, c].map { [Int32](repeating: Int32($0), count: m) }
            for (i, v) in costs(z, books, penalties, tokens).enumerated() { best[i] = min(best[i], v) }
        } } }
        for i in 0..<m { #expect(found[i] <= best[i] + 1e-4, "row \(i): \(found[i]) > optimum \(best[i])") }
    }

    /// A wider beam finds cheaper paths in total (on random data it lowers the cost of most rows).
    @Test func widerBeamLowersTheTotalCost() {
        let (z, books, penalties) = problem(m: 512, d: 16, k: 64, levels: 6, seed: 23)
        let total = { (beam: Int) in
            self.costs(z, books, penalties, Kernels.residualBeamSearch(z, codebooks: books, penalties: penalties, beam: beam)).reduce(0, +)
        }
        let (one, four) = (total(1), total(4))
        #expect(four < 0.99 * one, "beam 4 total \(four), greedy \(one)")
    }

    /// The same tokens under pools of 1, 2 and 3 threads, and with a row count that is not a
    /// multiple of the band.
    @Test func independentOfThreadCount() {
        let (z, books, penalties) = problem(m: 3 * Kernels.beamBand + 17, d: 8, k: 32, levels: 5, seed: 24)
        let runs = [1, 2, 3].map { n in
            ThreadPool.$current.withValue(ThreadPool(threadCount: n)) {
                Kernels.residualBeamSearch(z, codebooks: books, penalties: penalties, beam: 4)
            }
        }
        #expect(runs[1] == runs[0] && runs[2] == runs[0])
    }
}
