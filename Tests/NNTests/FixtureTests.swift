// Cross-implementation fixtures: the Swift kernels and layers against tools/make_fixtures.py
// (NumPy, float64, written independently). Inputs come from the fixture files.

import NN
import TestSupport
import Testing
@testable import TensorCore

/// Float32 kernels vs a float64 reference rounded to float32, on O(1) values with ≤ 75-term sums.
private let fixtureATol: Float = 1e-5
private let fixtureRTol: Float = 1e-4

@Suite("NumPy reference fixtures")
struct FixtureTests {
    @Test(arguments: [
        "conv2d_k3_s1_p1.bin", "conv2d_k5_s2_p2.bin", "conv2d_k3_s2_p1_c1.bin", "conv2d_k1_s1_p0.bin",
    ])
    func conv2d(_ file: String) throws {
        let f = try FixtureFile(file)
        let x = try f.tensor("x"), w = try f.tensor("w"), b = try f.tensor("b")
        let s = try f.int("stride"), p = try f.int("padding")
        let y = Kernels.conv2dForward(input: x, weight: w, bias: b, stride: s, padding: p)
        expectClose(y, try f.tensor("y"), atol: fixtureATol, rtol: fixtureRTol, "\(file) y")
        var dW = Tensor(shape: w.shape), dB = Tensor(shape: b.shape)
        let dX = Kernels.conv2dBackward(
            input: x, weight: w, dOut: try f.tensor("dY"), stride: s, padding: p, dWeight: &dW,
            dBias: &dB)!
        expectClose(dX, try f.tensor("dX"), atol: fixtureATol, rtol: fixtureRTol, "\(file) dX")
        expectClose(dW, try f.tensor("dW"), atol: fixtureATol, rtol: fixtureRTol, "\(file) dW")
        expectClose(dB, try f.tensor("dB"), atol: fixtureATol, rtol: fixtureRTol, "\(file) dB")
    }

    @Test func convTranspose2d() throws {
        let f = try FixtureFile("conv_transpose2d_k5_s2_p2_op1.bin")
        let x = try f.tensor("x"), w = try f.tensor("w"), b = try f.tensor("b")
        let s = try f.int("stride"), p = try f.int("padding"), op = try f.int("output_padding")
        let y = Kernels.convTranspose2dForward(
            input: x, weight: w, bias: b, stride: s, padding: p, outputPadding: op)
        expectClose(y, try f.tensor("y"), atol: fixtureATol, rtol: fixtureRTol, "convT y")
        var dW = Tensor(shape: w.shape), dB = Tensor(shape: b.shape)
        let dX = Kernels.convTranspose2dBackward(
            input: x, weight: w, dOut: try f.tensor("dY"), stride: s, padding: p,
            outputPadding: op, dWeight: &dW, dBias: &dB)!
        expectClose(dX, try f.tensor("dX"), atol: fixtureATol, rtol: fixtureRTol, "convT dX")
        expectClose(dW, try f.tensor("dW"), atol: fixtureATol, rtol: fixtureRTol, "convT dW")
        expectClose(dB, try f.tensor("dB"), atol: fixtureATol, rtol: fixtureRTol, "convT dB")
    }

    @Test func depthToSpace() throws {
        let f = try FixtureFile("depth_to_space_r2.bin")
        let layer = DepthToSpace(blockSize: try f.int("r"))
        #expect(layer.forward(try f.tensor("x"), mode: .training) == (try f.tensor("y")))
        #expect(layer.backward(try f.tensor("dY")) == (try f.tensor("dX")))
    }

    @Test(arguments: [
        ("gdn.bin", GDNKind.gdn), ("igdn.bin", .inverse), ("sgdn.bin", .simplified),
        ("sigdn.bin", .simplifiedInverse),
    ])
    func gdn(_ file: String, kind: GDNKind) throws {
        let f = try FixtureFile(file)
        let x = try f.tensor("x")
        let layer = GDN(channels: x.shape[1], kind: kind, name: "g")
        layer.betaStored.value = try f.tensor("beta_p")
        layer.gammaStored.value = try f.tensor("gamma_p")
        let y = layer.forward(x, mode: .training)
        expectClose(y, try f.tensor("y"), atol: fixtureATol, rtol: fixtureRTol, "\(file) y")
        let dX = layer.backward(try f.tensor("dY"))
        expectClose(dX, try f.tensor("dX"), atol: fixtureATol, rtol: fixtureRTol, "\(file) dX")
        expectClose(layer.betaStored.gradient, try f.tensor("dBeta_p"), atol: fixtureATol,
            rtol: fixtureRTol, "\(file) dBeta_p")
        expectClose(layer.gammaStored.gradient, try f.tensor("dGamma_p"), atol: fixtureATol,
            rtol: fixtureRTol, "\(file) dGamma_p")
    }

    @Test func mse() throws {
        let f = try FixtureFile("mse.bin")
        let (value, d) = mseLoss(try f.tensor("pred"), try f.tensor("target"))
        expectClose([value], [try f.scalar("loss")], atol: 0, rtol: 1e-6, "mse loss")
        expectClose(d, try f.tensor("dPred"), atol: 1e-7, rtol: 1e-5, "mse dPred")
    }
}
