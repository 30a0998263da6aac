// llm.c's acceptance test: 10 Adam steps of a tiny conv autoencoder whose per-step losses must match
// the NumPy reference (Tests/Fixtures/reference/README.md, `adam_autoencoder.bin`).

import NN
import Testing
import TensorCore
import TestSupport

/// Ten Float32 steps against float64: losses agree to a few 1e-6 relative; allow 1e-4.
private let lossRTol: Float = 1e-4
/// Parameters after ten Adam steps of lr 0.01: Adam's normalised steps amplify tiny gradient
/// differences only where a gradient is ≈ 0, so allow 1e-4 absolute.
private let finalATol: Float = 1e-4

/// The fixture's network: conv s2 → sGDN → conv s2 → conv + depth-to-space → sIGDN → convT s2.
func tinyAutoencoder() -> Sequential {
    var rng = Xoshiro256(seed: 0)  // weights are overwritten from the fixture
    let conv1 = Conv2d(inputChannels: 3, outputChannels: 8, kernelSize: 5, stride: 2, padding: 2, name: "enc.conv1", rng: &rng)
    conv1.computesInputGradient = false
    return Sequential([
        conv1,
        GDN(channels: 8, kind: .simplified, name: "enc.gdn1"),
        Conv2d(inputChannels: 8, outputChannels: 4, kernelSize: 3, stride: 2, padding: 1, name: "enc.conv2", rng: &rng),
        Conv2d(inputChannels: 4, outputChannels: 32, kernelSize: 3, stride: 1, padding: 1, name: "dec.conv1", rng: &rng),
        DepthToSpace(blockSize: 2),
        GDN(channels: 8, kind: .simplifiedInverse, name: "dec.igdn1"),
        ConvTranspose2d(inputChannels: 8, outputChannels: 3, kernelSize: 5, stride: 2, padding: 2, outputPadding: 1, name: "dec.deconv2", rng: &rng),
    ])
}

@Suite("Adam autoencoder fixture")
struct AdamAutoencoderTests {
    @Test func tenAdamStepsMatchReferenceLosses() throws {
        let f = try FixtureFile("adam_autoencoder.bin")
        let model = tinyAutoencoder()
        for p in model.parameters {
            let value = try f.tensor(p.name)
            #expect(value.shape == p.shape, "\(p.name)")
            p.value = value
        }
        let x = try f.tensor("x")
        let optimizer = Adam(learningRate: 0.01)
        var losses: [Float] = []
        for _ in 0..<10 {
            model.zeroGrad()
            let y = model.forward(x, mode: .training)
            let (loss, dY) = mseLoss(y, x)
            losses.append(loss)
            _ = model.backward(dY)
            optimizer.step(model.parameters)
        }
        expectClose(losses, try f.tensor("losses").scalars, atol: 0, rtol: lossRTol, "losses")
        for p in model.parameters {
            expectClose(p.value, try f.tensor("final." + p.name), atol: finalATol, rtol: 1e-3,
                "final \(p.name)")
        }
    }
}

@Suite("Whole-network gradient check")
struct WholeNetworkGradientTests {
    @Test func tinyAutoencoderParameters() throws {
        // The chain rule across all seven layers, on the fixture's starting point (GDN parameters
        // strictly above their bounds), through Sequential's reverse-order backward.
        let f = try FixtureFile("adam_autoencoder.bin")
        let model = tinyAutoencoder()
        for p in model.parameters { p.value = try f.tensor(p.name) }
        gradientCheck(layer: model, input: try f.tensor("x"), samples: 8, h: 1e-2, checkInput: false)
    }
}
