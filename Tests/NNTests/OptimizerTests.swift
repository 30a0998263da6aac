// Adam/AdamW against hand-computed steps, the schedule's shape, gradient clipping, Kaiming bounds.

import NN
import Testing
import TensorCore
import TestSupport

@Suite("Optimizer, schedule, clipping, init")
struct OptimizerTests {
    @Test func adamFirstStepMovesByLearningRateTimesSign() {
        // At t = 1, m̂ = g and v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
        let adam = Adam(learningRate: 0.1)
        let p = Parameter(name: "p", value: Tensor(shape: [3], scalars: [1, 2, 3]))
        p.gradient = Tensor(shape: [3], scalars: [0.5, -2, 1e-3])
        adam.step([p])
        expectClose(p.value.scalars, [0.9, 2.1, 2.9], atol: 1e-5, rtol: 0, "step 1")
        #expect(adam.states["p"]?.step == 1)
    }

    @Test func adamMatchesClosedFormOverSteps() {
        let adam = Adam(learningRate: 0.01, weightDecay: 0.1)
        var theta: Double = 1, m: Double = 0, v: Double = 0
        let p = Parameter(name: "w", value: Tensor(shape: [1], scalars: [1]))
        for t in 1...5 {
            let g = 0.3 * Double(t) - 0.5
            p.gradient = Tensor(shape: [1], scalars: [Float(g)])
            adam.step([p])
            theta *= 1 - 0.01 * 0.1  // AdamW: decoupled decay first
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            let mHat = m / (1 - _pow(0.9, t)), vHat = v / (1 - _pow(0.999, t))
            theta -= 0.01 * mHat / (vHat.squareRoot() + 1e-8)
        }
        #expect(abs(Double(p.value.scalars[0]) - theta) < 1e-6)
    }

    @Test func applyIsThePureFormOfStep() {
        let adam = Adam(learningRate: 0.05)
        let g = Tensor(shape: [2], scalars: [0.2, -0.7])
        let (value, state) = adam.apply(gradient: g, parameter: Tensor(shape: [2], scalars: [1, 1]), state: AdamState(shape: [2]))
        let p = Parameter(name: "q", value: Tensor(shape: [2], scalars: [1, 1]))
        p.gradient = g
        adam.step([p])
        #expect(value == p.value && state.step == 1)
    }

    @Test func warmupThenCosine() {
        let s = WarmupCosineSchedule(peak: 1e-3, final: 1e-5, warmupSteps: 10, totalSteps: 110)
        #expect(abs(s.learningRate(at: 0) - 1e-4) < 1e-9)
        #expect(abs(s.learningRate(at: 9) - 1e-3) < 1e-9)
        #expect(abs(s.learningRate(at: 10) - 1e-3) < 1e-9)
        #expect(abs(s.learningRate(at: 60) - (1e-5 + 0.5 * (1e-3 - 1e-5))) < 1e-8)
        #expect(s.learningRate(at: 110) == 1e-5)
        for step in 10..<109 { #expect(s.learningRate(at: step + 1) <= s.learningRate(at: step)) }
    }

    @Test func clippingScalesToMaxNorm() {
        let a = Parameter(name: "a", value: Tensor(shape: [2]))
        let b = Parameter(name: "b", value: Tensor(shape: [1]))
        a.gradient = Tensor(shape: [2], scalars: [3, 0])
        b.gradient = Tensor(shape: [1], scalars: [4])
        let norm = clipGradientNorm([a, b], maxNorm: 1)
        #expect(norm == 5)
        let after = (a.gradient.squaredNorm() + b.gradient.squaredNorm()).squareRoot()
        #expect(abs(after - 1) < 1e-5)
        #expect(clipGradientNorm([a, b], maxNorm: 10) < 1.0001)  // below the limit: untouched
    }

    @Test func kaimingUniformBoundsAndVariance() {
        var rng = Xoshiro256(seed: 3)
        let w = Kaiming.uniform([64, 32, 3, 3], fanIn: 288, using: &rng)
        let bound = Float(2).squareRoot() * (3 / Float(288)).squareRoot()
        #expect(w.scalars.allSatisfy { abs($0) <= bound })
        let variance = w.squaredNorm() / Double(w.count)
        #expect(abs(variance - 2.0 / 288) < 0.05 * 2.0 / 288)
    }
}

private func _pow(_ x: Double, _ n: Int) -> Double { (0..<n).reduce(1) { r, _ in r * x } }
