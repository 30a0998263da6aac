// Every layer and loss passes a finite-difference gradient check on its input and each parameter.

import NN
import Testing
import TensorCore
import TestSupport

@Suite("Gradient checks")
struct GradientCheckTests {
    @Test(arguments: [(3, 1), (3, 2), (5, 2), (1, 1), (4, 2)])
    func conv2d(kernelSize: Int, stride: Int) {
        var rng = Xoshiro256(seed: 1)
        let layer = Conv2d(
            inputChannels: 3, outputChannels: 4, kernelSize: kernelSize, stride: stride,
            padding: kernelSize / 2, name: "c", rng: &rng)
        layer.bias!.value = Tensor.randomNormal([4], using: &rng)
        gradientCheck(layer: layer, input: Tensor.randomNormal([2, 3, 7, 5], using: &rng))
    }

    @Test func conv2dWithoutBiasOrInputGradient() {
        var rng = Xoshiro256(seed: 2)
        let layer = Conv2d(
            inputChannels: 2, outputChannels: 3, kernelSize: 3, stride: 2, padding: 1, bias: false,
            name: "c", rng: &rng)
        #expect(layer.parameters.map(\.name) == ["c.weight"])
        layer.computesInputGradient = false
        gradientCheck(layer: layer, input: Tensor.randomNormal([1, 2, 6, 5], using: &rng), checkInput: false)
    }

    @Test(arguments: [(5, 2, 2, 1), (3, 1, 1, 0), (4, 2, 1, 0), (3, 2, 0, 1)])
    func convTranspose2d(kernelSize: Int, stride: Int, padding: Int, outputPadding: Int) {
        var rng = Xoshiro256(seed: 3)
        let layer = ConvTranspose2d(
            inputChannels: 3, outputChannels: 2, kernelSize: kernelSize, stride: stride,
            padding: padding, outputPadding: outputPadding, name: "d", rng: &rng)
        layer.bias!.value = Tensor.randomNormal([2], using: &rng)
        gradientCheck(layer: layer, input: Tensor.randomNormal([2, 3, 4, 3], using: &rng))
    }

    @Test func depthToSpace() {
        var rng = Xoshiro256(seed: 4)
        gradientCheck(layer: DepthToSpace(blockSize: 2), input: Tensor.randomNormal([2, 8, 3, 2], using: &rng))
    }

    @Test(arguments: GDNKind.allCases)
    func gdn(kind: GDNKind) {
        var rng = Xoshiro256(seed: 5)
        let layer = GDN(channels: 4, kind: kind, name: "g")
        // Keep the stored parameters away from their lower bounds (the bound is a kink).
        layer.betaStored.value = Tensor.randomUniform([4], low: 0.8, high: 1.2, using: &rng)
        layer.gammaStored.value = Tensor.randomUniform([4, 4], low: 0.1, high: 0.4, using: &rng)
        gradientCheck(layer: layer, input: awayFromZero([2, 4, 3, 5], using: &rng), h: 5e-3)
    }

    @Test(arguments: [Activation.relu, .leakyReLU(slope: 0.1), .gelu])
    func activation(_ f: Activation) {
        var rng = Xoshiro256(seed: 6)
        gradientCheck(layer: ActivationLayer(f), input: awayFromZero([2, 3, 4, 4], using: &rng))
    }

    @Test func residualBlockOfSequential() {
        var rng = Xoshiro256(seed: 7)
        let block = ResidualBlock(
            Sequential([
                Conv2d(inputChannels: 3, outputChannels: 3, kernelSize: 3, padding: 1, name: "r.conv_a", rng: &rng),
                ActivationLayer(.gelu),
                Conv2d(inputChannels: 3, outputChannels: 3, kernelSize: 1, name: "r.conv_b", rng: &rng),
            ]))
        #expect(block.parameters.map(\.name) == ["r.conv_a.weight", "r.conv_a.bias", "r.conv_b.weight", "r.conv_b.bias"])
        gradientCheck(layer: block, input: Tensor.randomNormal([2, 3, 5, 4], using: &rng))
    }

    @Test func mseLossGradient() {
        var rng = Xoshiro256(seed: 8)
        let pred = Tensor.randomNormal([2, 3, 4, 5], using: &rng)
        let target = Tensor.randomNormal([2, 3, 4, 5], using: &rng)
        let (value, d) = mseLoss(pred, target)
        let h: Float = 1e-2
        for _ in 0..<32 {
            let i = Int(rng.next() % UInt64(pred.count))
            var plus = pred, minus = pred
            plus.scalars[i] += h
            minus.scalars[i] -= h
            let numeric = (Double(mseLoss(plus, target).value) - Double(mseLoss(minus, target).value)) / Double(2 * h)
            #expect(abs(numeric - Double(d.scalars[i])) <= 1e-2 * abs(numeric) + 1e-4, "dPred[\(i)]")
        }
        let direct = zip(pred.scalars, target.scalars).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
        #expect(abs(Double(value) - direct / Double(pred.count)) < 1e-5)
    }

    @Test func backwardTwiceIsAProgrammerError() async {
        await #expect(processExitsWith: .failure) {
            var rng = Xoshiro256(seed: 9)
            let layer = Conv2d(inputChannels: 1, outputChannels: 1, kernelSize: 1, name: "c", rng: &rng)
            let y = layer.forward(Tensor(shape: [1, 1, 2, 2]), mode: .training)
            _ = layer.backward(y)
            _ = layer.backward(y)
        }
    }
}

/// A layer whose backward is deliberately wrong (dX scaled by 1.1), to show the checker catches it.
private final class WrongBackward: Layer {
    let inner = ActivationLayer(.gelu)
    var parameters: [Parameter] { [] }
    func forward(_ x: Tensor, mode: Mode) -> Tensor { inner.forward(x, mode: mode) }
    func backward(_ dOut: Tensor) -> Tensor { inner.backward(dOut) * 1.1 }
}

@Suite("Gradient checker")
struct GradientCheckerTests {
    @Test func catchesAWrongBackward() {
        var rng = Xoshiro256(seed: 10)
        withKnownIssue("dX is 10% off, so the check must fail") {
            gradientCheck(layer: WrongBackward(), input: awayFromZero([2, 3, 4, 4], using: &rng))
        }
    }
}
