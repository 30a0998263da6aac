// Results must not depend on the thread count: the same kernels under pools of 1, 2 and 3 threads
// give bit-identical outputs.

import Testing
@testable import TensorCore

@Suite("Thread pool determinism")
struct DeterminismTests {
    static let pools = [ThreadPool(threadCount: 1), ThreadPool(threadCount: 2), ThreadPool(threadCount: 3)]

    private func run(_ pool: ThreadPool) -> [Tensor] {
        ThreadPool.$current.withValue(pool) {
            var rng = Xoshiro256(seed: 11)
            let x = Tensor.randomNormal([2, 3, 40, 66], using: &rng)
            let w = Tensor.randomNormal([8, 3, 3, 3], using: &rng)
            let b = Tensor.randomNormal([8], using: &rng)
            let y = Kernels.conv2dForward(input: x, weight: w, bias: b, stride: 1, padding: 1)
            var dW = Tensor(shape: w.shape)
            var dB = Tensor(shape: [8])
            let dx = Kernels.conv2dBackward(
                input: x, weight: w, dOut: y, stride: 1, padding: 1, dWeight: &dW, dBias: &dB)!
            let gamma = Tensor.randomUniform([8, 8], low: 0, high: 0.1, using: &rng)
            let beta = Tensor(shape: [8], repeating: 1)
            let (g, norm) = Kernels.gdnForward(input: y, beta: beta, gamma: gamma, kind: .simplified)
            var dBeta = Tensor(shape: [8])
            var dGamma = Tensor(shape: [8, 8])
            let dg = Kernels.gdnBackward(
                input: y, normalizer: norm, gamma: gamma, dOut: g, kind: .simplified,
                dBeta: &dBeta, dGamma: &dGamma)
            let s = Tensor(shape: [1], scalars: [Float(y.squaredNorm())])
            return [y, dx, dW, dB, g, dg, dBeta, dGamma, s]
        }
    }

    @Test func outputsAreIndependentOfThreadCount() {
        let reference = run(Self.pools[0])
        for pool in Self.pools.dropFirst() {
            let other = run(pool)
            for (i, (a, b)) in zip(reference, other).enumerated() {
                #expect(a == b, "output \(i) differs with \(pool.threadCount) threads")
            }
        }
    }

    @Test func poolRunsEveryItemOnce() {
        let pool = Self.pools[2]
        for count in [1, 2, 3, 17, 1000] {
            var hits = [Int](repeating: 0, count: count)
            hits.withUnsafeMutableBufferPointer { p in
                let p = p.baseAddress!
                pool.parallelFor(count: count) { i in p[i] += 1 }
            }
            #expect(hits.allSatisfy { $0 == 1 }, "count \(count)")
        }
    }

    @Test func rngStreamsAreReproducible() {
        var a = Xoshiro256(seed: 42), b = Xoshiro256(seed: 42)
        for _ in 0..<100 { #expect(a.next() == b.next()) }
        var s = SplitMix64(seed: 0)
        // Reference value of SplitMix64 with seed 0 (Vigna's splitmix64.c).
        #expect(s.next() == 0xE220_A839_7B1D_CDAF)
        var r = Xoshiro256(seed: 7)
        let draws = (0..<20_000).map { _ in r.nextNormal() }
        let mean = draws.reduce(0, +) / Float(draws.count)
        let variance = draws.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(draws.count)
        #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.05)
    }
}
