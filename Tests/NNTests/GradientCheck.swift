// Finite-difference gradient checks (the CS231n pattern): L = Σ forward(x) ⊙ dOut in Double,
// central differences (L(x+h) − L(x−h))/2h on a random subset of entries of the input and of
// each parameter, compared with what backward returned/accumulated.

import NN
import Testing
import TensorCore

/// Float32 forward passes: accept |analytic − numeric| ≤ relTolerance·max(|a|, |n|) + absTolerance.
let gradientRelTolerance = 1e-2
/// Central differences of a Float32 forward (summed in Double) carry ~1e-4 of rounding noise.
let gradientAbsTolerance = 2e-3

func gradientCheck(
    layer: any Layer, input: Tensor, seed: UInt64 = 99, samples: Int = 32, h: Float = 1e-2,
    checkInput: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
) {
    var rng = Xoshiro256(seed: seed)
    let y = layer.forward(input, mode: .training)
    let dOut = Tensor.randomNormal(y.shape, using: &rng)
    layer.zeroGrad()
    let dx = layer.backward(dOut)

    func loss(_ x: Tensor) -> Double {
        let out = layer.forward(x, mode: .inference)
        var acc = 0.0
        for i in 0..<out.count { acc += Double(out.scalars[i]) * Double(dOut.scalars[i]) }
        return acc
    }

    var worst = (err: 0.0, what: "")
    func compare(_ analytic: Float, _ numeric: Double, _ what: String) {
        let a = Double(analytic)
        let err = abs(a - numeric)
        let allowed = gradientRelTolerance * max(abs(a), abs(numeric)) + gradientAbsTolerance
        if err / allowed > worst.err { worst = (err / allowed, "\(what): analytic \(a), numeric \(numeric)") }
    }

    if checkInput {
        #expect(dx.shape == input.shape, "dX shape", sourceLocation: sourceLocation)
        for _ in 0..<min(samples, input.count) {
            let i = Int(rng.next() % UInt64(input.count))
            var plus = input, minus = input
            plus.scalars[i] += h
            minus.scalars[i] -= h
            compare(dx.scalars[i], (loss(plus) - loss(minus)) / Double(2 * h), "x[\(i)]")
        }
    }
    for p in layer.parameters {
        let original = p.value
        for _ in 0..<min(samples, original.count) {
            let i = Int(rng.next() % UInt64(original.count))
            p.value.scalars[i] = original.scalars[i] + h
            let lp = loss(input)
            p.value.scalars[i] = original.scalars[i] - h
            let lm = loss(input)
            p.value = original
            compare(p.gradient.scalars[i], (lp - lm) / Double(2 * h), "\(p.name)[\(i)]")
        }
    }
    #expect(worst.err <= 1, "gradient check: worst \(worst.what)", sourceLocation: sourceLocation)
}
