// oneDNN training convolutions against the naive reference kernels (forward, dX, dW, dB, with
// accumulation into existing gradients), in f32 and bf16, and their determinism.

import Testing
import TensorCore
import TestSupport

@Suite struct OneDNNConvolutionTests {
    static let cases: [ConvCase] = [
        ConvCase(n: 2, cin: 3, cout: 16, h: 17, w: 13, k: 5, s: 2, p: 2),  // the first encoder layer's kind
        ConvCase(n: 2, cin: 16, cout: 16, h: 16, w: 16, k: 5, s: 2, p: 2),
        ConvCase(n: 3, cin: 8, cout: 32, h: 8, w: 9, k: 3, s: 1, p: 1),     // a decoder layer before depth-to-space
        ConvCase(n: 2, cin: 16, cout: 12, h: 11, w: 10, k: 3, s: 1, p: 1),  // the last decoder layer
        ConvCase(n: 1, cin: 5, cout: 3, h: 6, w: 7, k: 1, s: 1, p: 0),
        ConvCase(n: 2, cin: 4, cout: 6, h: 9, w: 9, k: 4, s: 2, p: 1),      // even kernel
    ]

    func check(_ c: ConvCase, bf16: Bool, tolerance: Float) throws {
        var rng = Xoshiro256(seed: 21)
        let x = Tensor.randomNormal([c.n, c.cin, c.h, c.w], using: &rng)
        let w = Tensor.randomNormal([c.cout, c.cin, c.k, c.k], std: 0.3, using: &rng)
        let b = Tensor.randomNormal([c.cout], using: &rng)
        let conv = try OneDNNConvolution(inputShape: x.shape, weightShape: w.shape, stride: c.s, padding: c.p, bf16: bf16)
        let y = conv.forward(input: x, weight: w, bias: b)
        expectClose(y, Kernels.conv2dForwardNaive(input: x, weight: w, bias: b, stride: c.s, padding: c.p),
                    atol: tolerance, rtol: tolerance, "oneDNN forward \(c) bf16 \(bf16)")
        let dy = Tensor.randomNormal(y.shape, using: &rng)
        var dW = Tensor(shape: w.shape, repeating: 0.5), dB = Tensor(shape: b.shape, repeating: -0.25)
        let dx = try #require(conv.backward(input: x, weight: w, dOut: dy, dWeight: &dW, dBias: &dB, inputGradient: true))
        let ref = Kernels.conv2dBackwardNaive(input: x, weight: w, dOut: dy, stride: c.s, padding: c.p)
        // Gradients sum over the batch and the plane: the tolerance scales with the terms summed.
        let terms = Float(c.n * y.shape[2] * y.shape[3])
        expectClose(dx, ref.dInput, atol: tolerance * 4, rtol: tolerance * 4, "oneDNN dX \(c) bf16 \(bf16)")
        expectClose(dW, ref.dWeight + Tensor(shape: w.shape, repeating: 0.5), atol: tolerance * terms.squareRoot(), rtol: tolerance * 4,
                    "oneDNN dW \(c) bf16 \(bf16)")
        expectClose(dB, ref.dBias + Tensor(shape: b.shape, repeating: -0.25), atol: tolerance * terms.squareRoot(), rtol: tolerance * 4,
                    "oneDNN dB \(c) bf16 \(bf16)")
        // Without the input gradient and the bias: dX is not computed, dW still accumulates.
        var dW2 = Tensor(shape: w.shape)
        var noBias = Tensor(shape: [0])
        #expect(conv.backward(input: x, weight: w, dOut: dy, dWeight: &dW2, dBias: &noBias, inputGradient: false) == nil)
        #expect(maxAbs(dW2, dW - Tensor(shape: w.shape, repeating: 0.5)) < 1e-4 * max(1, maxAbs(dW2, Tensor(shape: w.shape))))
    }

    func maxAbs(_ a: Tensor, _ b: Tensor) -> Float { zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0 }

    @Test(arguments: cases) func f32MatchesTheReference(_ c: ConvCase) throws { try check(c, bf16: false, tolerance: 1e-4) }

    /// bf16 keeps 8 bits of mantissa: inputs and weights are rounded to ±2⁻⁹ relative. oneDNN 2.6
    /// computes bf16 convolutions only on AVX-512 CPUs (natively with AVX512_BF16, emulated
    /// without); on an AVX2-only CPU (e.g. AMD family 25, Zen 3) it refuses to build them, which must
    /// be a thrown error (training then falls back to the engine's kernels), not a crash.
    @Test(arguments: cases) func bf16IsCloseToTheReference(_ c: ConvCase) throws {
        if !OneDNNConvolution.Backend.cpuFlags.contains("avx512bw") {
            #expect(throws: OneDNNError.self) {
                _ = try OneDNNConvolution(inputShape: [c.n, c.cin, c.h, c.w], weightShape: [c.cout, c.cin, c.k, c.k],
                                          stride: c.s, padding: c.p, bf16: true)
            }
            return
        }
        try check(c, bf16: true, tolerance: 0.05)
    }

    @Test func repeatedRunsGiveIdenticalResults() throws {
        var rng = Xoshiro256(seed: 5)
        let x = Tensor.randomNormal([4, 16, 32, 32], using: &rng)
        let w = Tensor.randomNormal([32, 16, 5, 5], std: 0.1, using: &rng)
        let b = Tensor.randomNormal([32], using: &rng)
        var results: [[Float]] = []
        for _ in 0..<2 {
            let conv = try OneDNNConvolution(inputShape: x.shape, weightShape: w.shape, stride: 2, padding: 2, bf16: false)
            let y = conv.forward(input: x, weight: w, bias: b)
            var dW = Tensor(shape: w.shape), dB = Tensor(shape: b.shape)
            let dx = conv.backward(input: x, weight: w, dOut: y, dWeight: &dW, dBias: &dB, inputGradient: true)!
            results.append(y.scalars + dx.scalars + dW.scalars + dB.scalars)
        }
        #expect(results[0] == results[1])
    }
}
