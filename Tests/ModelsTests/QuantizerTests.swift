// The residual vector quantizer: EMA updates checked by hand, the commitment gradient against its
// formula, dead-code restarts, and residual coding.

import Foundation
import Models
import TensorCore
import Testing

@Suite struct QuantizerTests {
    /// A 1-D toy with K = 2: codes at 0 and 1, rows 0, 0.2, 1.0, decay 0.5.
    @Test func emaUpdateByHand() {
        let q = ResidualVectorQuantizer(stages: 1, codebookSize: 2, dimension: 1, decay: 0.5, commitment: 0.25, deadThreshold: 0)
        q.epsilon = 0
        q.codebooks = [Tensor(shape: [2, 1], scalars: [0, 1])]
        q.clusterSize = [Tensor(shape: [2], scalars: [1, 1])]
        q.embedSum = [Tensor(shape: [2, 1], scalars: [0, 1])]
        q.initialized = true
        var rng = Xoshiro256(seed: 1)
        let rows = Tensor(shape: [3, 1], scalars: [0, 0.2, 1.0])
        let out = q.quantizeForTraining(rows, levels: 1, rng: &rng)
        // Assignments: 0 → code 0, 0.2 → code 0, 1.0 → code 1.
        #expect(out.quantized.scalars == [0, 0, 1])
        // N = 0.5·[1, 1] + 0.5·[2, 1] = [1.5, 1]; m = 0.5·[0, 1] + 0.5·[0.2, 1.0] = [0.1, 1.0].
        #expect(q.clusterSize[0].scalars == [1.5, 1])
        #expect(abs(q.embedSum[0].scalars[0] - 0.1) < 1e-6 && abs(q.embedSum[0].scalars[1] - 1.0) < 1e-6)
        // ε = 0: e = m / N = [0.0667, 1.0].
        #expect(abs(q.codebooks[0].scalars[0] - 0.1 / 1.5) < 1e-6)
        #expect(abs(q.codebooks[0].scalars[1] - 1.0) < 1e-6)
        // Commitment: β·mean((z_e − z_q)²) = 0.25·(0 + 0.04 + 0)/3; gradient 2β(z_e − z_q)/3.
        #expect(abs(out.commitmentLoss - 0.25 * 0.04 / 3) < 1e-7)
        #expect(abs(out.dCommit.scalars[1] - 2 * 0.25 * 0.2 / 3) < 1e-7)
        #expect(out.dCommit.scalars[0] == 0 && out.dCommit.scalars[2] == 0)
        // Perplexity of usage [2, 1]: exp(H) with H = −(⅔ ln ⅔ + ⅓ ln ⅓).
        let h = -(2.0 / 3 * log(2.0 / 3) + 1.0 / 3 * log(1.0 / 3))
        #expect(abs(Double(out.health.perplexity[0]) - exp(h)) < 1e-5)
    }

    /// Rate-aware training: a row halfway between a frequent and a rare code goes to the frequent
    /// one once λ > 0 (its −log2 p is smaller), and to the nearer one with λ = 0.
    @Test func rateAwareTrainingPrefersTheProbableCode() {
        for (lambda, expected) in [(Float(0), Float(1)), (0.05, 0)] {
            let q = ResidualVectorQuantizer(stages: 1, codebookSize: 2, dimension: 1, decay: 0.99, commitment: 0.25, deadThreshold: 0)
            q.codebooks = [Tensor(shape: [2, 1], scalars: [0, 1])]
            q.clusterSize = [Tensor(shape: [2], scalars: [90, 10])]  // p = 0.9, 0.1: 0.15 vs 3.3 bits
            q.embedSum = [Tensor(shape: [2, 1], scalars: [0, 10])]
            q.initialized = true
            q.trainingLambda = lambda
            var rng = Xoshiro256(seed: 1)
            // 0.55: 0.3025 from code 0, 0.2025 from code 1; the penalty gap at λ = 0.05 is 0.158.
            let out = q.quantizeForTraining(Tensor(shape: [1, 1], scalars: [0.55]), levels: 1, rng: &rng)
            #expect(out.quantized.scalars == [expected], "λ = \(lambda)")
        }
    }

    @Test func deadCodesAreRestartedFromTheBatch() {
        let q = ResidualVectorQuantizer(stages: 1, codebookSize: 4, dimension: 2, decay: 0.5, commitment: 0.25, deadThreshold: 0.6)
        q.codebooks = [Tensor(shape: [4, 2], scalars: [0, 0, 100, 100, 200, 200, 300, 300])]
        q.clusterSize = [Tensor(shape: [4], repeating: 1)]
        q.embedSum = [q.codebooks[0]]
        q.initialized = true
        var rng = Xoshiro256(seed: 2)
        let rows = Tensor(shape: [8, 2], scalars: (0..<16).map { Float($0) * 0.01 })
        let out = q.quantizeForTraining(rows, levels: 1, rng: &rng)
        // Codes 1…3 got nothing: N = 0.5 < 0.6, so they restart at batch rows.
        #expect(out.health.restarted == [3])
        for j in 1..<4 {
            let v = q.codebooks[0].scalars[2 * j]
            #expect(v >= 0 && v <= 0.15, "code \(j) restarted at \(v), not at a batch row")
        }
    }

    @Test func residualStagesReduceTheError() {
        var rng = Xoshiro256(seed: 3)
        let q = ResidualVectorQuantizer(stages: 4, codebookSize: 16, dimension: 4)
        let rows = Tensor.randomNormal([512, 4], std: 1, using: &rng)
        for _ in 0..<20 { _ = q.quantizeForTraining(rows, levels: 4, rng: &rng) }
        var previous = Double.infinity
        for levels in 1...4 {
            let (indices, zq) = q.quantize(rows, levels: levels)
            #expect(indices.count == levels)
            let error = (rows - zq).squaredNorm()
            #expect(error < previous, "level \(levels) did not reduce the error")
            previous = error
            #expect(q.dequantize(indices, count: 512) == zq)
        }
    }

    /// Entropy-constrained coding trades distortion for rate: λ = 0 is the nearest-code search;
    /// growing λ never raises the empirical entropy of the tokens much and lowers it overall, while
    /// the error grows; and the result is deterministic.
    @Test func entropyConstrainedCodingTradesErrorForRate() {
        var rng = Xoshiro256(seed: 5)
        let q = ResidualVectorQuantizer(stages: 3, codebookSize: 32, dimension: 4)
        let rows = Tensor.randomNormal([2048, 4], std: 1, using: &rng)
        for _ in 0..<20 { _ = q.quantizeForTraining(rows, levels: 3, rng: &rng) }
        func entropyBits(_ indices: [[Int32]]) -> Double {
            indices.reduce(0) { total, stage in
                var counts = [Int32: Int]()
                for i in stage { counts[i, default: 0] += 1 }
                return total - counts.values.reduce(0) { $0 + Double($1) * log2(Double($1) / Double(stage.count)) }
            }
        }
        func error(_ indices: [[Int32]]) -> Double { (rows - q.dequantize(indices, count: 2048)).squaredNorm() }
        let nearest = q.quantize(rows, levels: 3).indices
        #expect(q.quantize(rows, levels: 3, lambda: 0) == nearest)
        var previous = (bits: entropyBits(nearest), error: error(nearest))
        for lambda: Float in [0.05, 0.2, 0.8] {
            let chosen = q.quantize(rows, levels: 3, lambda: lambda)
            #expect(chosen == q.quantize(rows, levels: 3, lambda: lambda), "not deterministic")
            #expect(chosen.allSatisfy { $0.allSatisfy { $0 >= 0 && $0 < 32 } })
            let now = (bits: entropyBits(chosen), error: error(chosen))
            #expect(now.bits < previous.bits, "λ = \(lambda): \(now.bits) bits, before \(previous.bits)")
            #expect(now.error > previous.error, "λ = \(lambda): error \(now.error), before \(previous.error)")
            previous = now
        }
    }

    /// Refinement sweeps (block coordinate descent over the stages): with the penalties of the last
    /// pass fixed, each row's cost ‖x − Σ e‖² + Σ penalty never rises over the greedy choice's, and
    /// falls in total; a second sweep never undoes the first; the result is deterministic.
    @Test func refinementNeverRaisesARowsCost() {
        var rng = Xoshiro256(seed: 8)
        let q = ResidualVectorQuantizer(stages: 4, codebookSize: 16, dimension: 4)
        let m = 1024
        let rows = Tensor.randomNormal([m, 4], std: 1, using: &rng)
        for _ in 0..<20 { _ = q.quantizeForTraining(rows, levels: 4, rng: &rng) }
        // λ > 0 with one pass: both choices use the penalties of the nearest codes.
        for lambda: Float in [0, 0.2] {
            let nearest = q.quantize(rows, levels: 4).indices
            let penalties: [[Float]] = nearest.map { stage in
                var counts = [Float](repeating: 0.5, count: 16)
                for j in stage { counts[Int(j)] += 1 }
                return counts.map { lambda > 0 ? -lambda * log2($0 / (Float(m) + 8)) : 0 }
            }
            func costs(_ indices: [[Int32]]) -> [Double] {
                let zq = q.dequantize(indices, count: m)
                return (0..<m).map { i in
                    var c = 0.0
                    for t in 0..<4 { let e = Double(rows.scalars[i * 4 + t] - zq.scalars[i * 4 + t]); c += e * e }
                    for l in 0..<4 { c += Double(penalties[l][Int(indices[l][i])]) }
                    return c
                }
            }
            let greedy = costs(q.quantize(rows, levels: 4, lambda: lambda, passes: 1))
            let once = q.quantize(rows, levels: 4, lambda: lambda, passes: 1, refine: 1)
            let refined = costs(once), twice = costs(q.quantize(rows, levels: 4, lambda: lambda, passes: 1, refine: 2))
            #expect(zip(refined, greedy).allSatisfy { $0 <= $1 + 1e-5 }, "λ = \(lambda): a row's cost rose")
            #expect(zip(twice, refined).allSatisfy { $0 <= $1 + 1e-5 }, "λ = \(lambda): the second sweep raised a row's cost")
            let (g, r) = (greedy.reduce(0, +), refined.reduce(0, +))
            // (In this toy λ = 0 gains ≈ 1 %, λ = 0.2 ≈ 0.1 %.)
            #expect(r < (lambda > 0 ? 0.9995 : 0.995) * g, "λ = \(lambda): total cost \(r), greedy \(g)")
            #expect(once == q.quantize(rows, levels: 4, lambda: lambda, passes: 1, refine: 1), "not deterministic")
        }
    }

    /// Zero codes: `addZeroCodes(from:)` turns each later stage's code nearest to zero into the zero
    /// vector at index K − 1 (the code that sat there moves to its slot); the entropy-constrained
    /// choice then skips a stage where no code pays for its bits (rows already coded well by the
    /// earlier stages) and keeps coding the rows that still need it; nearest codes (λ = 0) are
    /// unchanged but for the one code given up; training keeps the code at zero.
    @Test func zeroCodesSkipStagesWhereNoCodePays() {
        var rng = Xoshiro256(seed: 9)
        let q = ResidualVectorQuantizer(stages: 3, codebookSize: 32, dimension: 4, deadThreshold: 0.5)
        // Half the rows sit on 16 points (stage 1 codes them almost exactly), half are spread.
        let m = 4096
        let centres = Tensor.randomNormal([16, 4], std: 1, using: &rng)
        var rows = Tensor.randomNormal([m, 4], std: 1, using: &rng)
        for i in stride(from: 0, to: m, by: 2) {
            for t in 0..<4 { rows.scalars[i * 4 + t] = centres.scalars[(i / 2 % 16) * 4 + t] + 0.001 * rows.scalars[i * 4 + t] }
        }
        for _ in 0..<30 { _ = q.quantizeForTraining(rows, levels: 3, rng: &rng) }
        let before = q.codebooks
        q.addZeroCodes(from: 2)
        #expect(q.zeroCodeFrom == 2 && !q.hasZeroCode(stage: 0) && q.hasZeroCode(stage: 1) && q.hasZeroCode(stage: 2))
        #expect(q.codebooks[0].scalars == before[0].scalars, "stage 1 has no zero code")
        for l in 1...2 {
            let d = 4, k = 32
            func code(_ t: Tensor, _ j: Int) -> [Float] { Array(t.scalars[j * d..<(j + 1) * d]) }
            #expect(code(q.codebooks[l], k - 1) == [0, 0, 0, 0])
            let norms = (0..<k).map { j in code(before[l], j).reduce(0) { $0 + $1 * $1 } }
            let given = norms.indices.min { norms[$0] < norms[$1] }!
            let kept = (0..<k).filter { $0 != given }.map { code(before[l], $0) }
            let now = (0..<k - 1).map { code(q.codebooks[l], $0) }
            #expect(Set(kept.map { $0.description }) == Set(now.map { $0.description }), "stage \(l + 1): the other codes are kept")
        }
        let chosen = q.quantize(rows, levels: 3, lambda: 0.01)
        for l in 1...2 {
            let onPoints = stride(from: 0, to: m, by: 2).filter { chosen[l][$0] == 31 }.count
            let spread = stride(from: 1, to: m, by: 2).filter { chosen[l][$0] == 31 }.count
            #expect(onPoints > m / 2 * 3 / 4, "stage \(l + 1): \(onPoints) of \(m / 2) well-coded rows skip")
            #expect(spread < m / 2 / 4, "stage \(l + 1): \(spread) of \(m / 2) spread rows skip")
        }
        // λ = 0 is the nearest-code search: the zero code only where it is the nearest.
        #expect(q.quantize(rows, levels: 3, lambda: 0) == q.quantize(rows, levels: 3).indices)
        // Training (with dead-code restarts and the rate-aware choice) keeps it at zero.
        q.trainingLambda = 0.05
        for _ in 0..<10 { _ = q.quantizeForTraining(rows, levels: 3, rng: &rng) }
        for l in 1...2 {
            #expect(Array(q.codebooks[l].scalars[31 * 4..<32 * 4]) == [0, 0, 0, 0], "stage \(l + 1) after training")
            #expect(Array(q.embedSum[l].scalars[31 * 4..<32 * 4]) == [0, 0, 0, 0])
        }
    }

    /// Codec-token training (`vqz train --codec-tokens`): the decoded stages take exactly the tokens
    /// the encoder's entropy-constrained choice gives (λ, zero codes, refinement), the EMA of each of
    /// those stages moves toward the mean of `x − Σ_{j≠l} e_{j,i_j}` over the rows that chose a code
    /// (checked by hand against the formula), and the stages past the drawn level go on with the
    /// nearest codes of what is left.
    @Test func codecTokenTrainingLearnsFromTheCodecsChoice() {
        var rng = Xoshiro256(seed: 12)
        let (m, d, k) = (1024, 4, 16)
        let q = ResidualVectorQuantizer(stages: 3, codebookSize: k, dimension: d, decay: 0.9, deadThreshold: 0)
        for _ in 0..<10 { _ = q.quantizeForTraining(Tensor.randomNormal([m, d], std: 1, using: &rng), levels: 3, rng: &rng) }
        q.addZeroCodes(from: 2)
        let rows = Tensor.randomNormal([m, d], std: 1, using: &rng)
        let (lambda, levels) = (Float(0.2), 2)
        let codebooks = q.codebooks, sizes = q.clusterSize, sums = q.embedSum
        let chosen = q.quantize(rows, levels: levels, lambda: lambda, refine: 1, beam: 4)
        #expect(chosen != q.quantize(rows, levels: levels).indices, "the test needs λ to change the choice")
        #expect(chosen[1].contains(Int32(k - 1)), "the test needs the zero code chosen")
        let expected = q.dequantize(chosen, count: m)

        let out = q.quantizeForTraining(rows, levels: levels, codec: (lambda: lambda, refine: 1, beam: 4), rng: &rng)
        #expect(out.quantized == expected)
        #expect(abs(out.commitmentLoss - q.commitment * Float((rows - expected).squaredNorm()) / Float(m * d)) < 1e-6)
        // The EMA by hand: stage l's targets are x − Σ_{j≠l} e_{j,i_j} (codes as they were chosen with).
        func code(_ t: Tensor, _ j: Int) -> [Float] { Array(t.scalars[j * d..<(j + 1) * d]) }
        for l in 0..<levels {
            var counts = [Float](repeating: 0, count: k), total = [Float](repeating: 0, count: k * d)
            for i in 0..<m {
                let j = Int(chosen[l][i])
                counts[j] += 1
                for t in 0..<d {
                    var target = rows.scalars[i * d + t]
                    for other in 0..<levels where other != l { target -= codebooks[other].scalars[Int(chosen[other][i]) * d + t] }
                    total[j * d + t] += target
                }
            }
            for j in 0..<k {
                #expect(abs(q.clusterSize[l].scalars[j] - (0.9 * sizes[l].scalars[j] + 0.1 * counts[j])) < 1e-4, "stage \(l + 1) code \(j)")
                for t in 0..<d where !(q.hasZeroCode(stage: l) && j == k - 1) {
                    let ema = 0.9 * sums[l].scalars[j * d + t] + 0.1 * total[j * d + t]
                    #expect(abs(q.embedSum[l].scalars[j * d + t] - ema) < 1e-4, "stage \(l + 1) code \(j)")
                }
            }
            if q.hasZeroCode(stage: l) { #expect(code(q.codebooks[l], k - 1) == [0, 0, 0, 0]) }
        }
        // Stage 3 (not decoded): the nearest codes of x − ẑ, as plain training does.
        let nearest = Kernels.nearestCodes(rows - expected, codebook: codebooks[2]).indices
        var counts = [Float](repeating: 0, count: k)
        for j in nearest { counts[Int(j)] += 1 }
        for j in 0..<k { #expect(abs(q.clusterSize[2].scalars[j] - (0.9 * sizes[2].scalars[j] + 0.1 * counts[j])) < 1e-4) }
    }

    /// The encoder's quantizer works on chunks of rows (bounded memory on a 24 MP latent grid):
    /// across chunk boundaries it gives exactly what the whole-grid definition gives, the plain
    /// search and the entropy-constrained passes alike.
    @Test func chunkedCodingEqualsTheWholeGridDefinition() {
        var rng = Xoshiro256(seed: 6)
        let q = ResidualVectorQuantizer(stages: 3, codebookSize: 16, dimension: 3)
        let m = 2 * ResidualVectorQuantizer.chunkRows + 300
        let rows = Tensor.randomNormal([m, 3], std: 1, using: &rng)
        for _ in 0..<5 { _ = q.quantizeForTraining(Tensor.randomNormal([512, 3], std: 1, using: &rng), levels: 3, rng: &rng) }
        // The definition, on the whole grid at once.
        func reference(_ lambda: Float, passes: Int = 2) -> [[Int32]] {
            var indices = q.quantize(rows, levels: 3).indices
            guard lambda > 0 else { return indices }
            for _ in 0..<passes {
                var residual = rows
                for l in 0..<3 {
                    var counts = [Float](repeating: 0.5, count: 16)
                    for j in indices[l] { counts[Int(j)] += 1 }
                    let total = Float(m) + 8
                    let chosen = Kernels.nearestCodes(residual, codebook: q.codebooks[l], penalty: counts.map { -lambda * log2($0 / total) }).indices
                    indices[l] = chosen
                    var q_l = Tensor(shape: [m, 3])
                    for i in 0..<m { for t in 0..<3 { q_l.scalars[i * 3 + t] = q.codebooks[l].scalars[Int(chosen[i]) * 3 + t] } }
                    residual = residual - q_l
                }
            }
            return indices
        }
        for lambda: Float in [0, 0.3] {
            let chunked = q.quantize(rows, levels: 3, lambda: lambda), whole = reference(lambda)
            let differing = zip(chunked, whole).map { zip($0, $1).filter { $0 != $1 }.count }
            #expect(differing == [0, 0, 0], "λ = \(lambda): indices differing per stage")
        }
    }

    @Test func layoutRoundTrip() {
        var rng = Xoshiro256(seed: 4)
        let x = Tensor.randomNormal([2, 3, 4, 5], std: 1, using: &rng)
        let rows = LatentLayout.rows(x)
        #expect(rows.shape == [40, 3])
        #expect(rows[21, 2] == x[1, 2, 0, 1])
        #expect(LatentLayout.map(rows, n: 2, h: 4, w: 5) == x)
    }
}
