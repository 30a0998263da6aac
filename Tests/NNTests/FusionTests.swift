// Inference peepholes of `Sequential`: a 3×3 convolution followed by depth-to-space ×2 runs as one
// pass (`Conv2d.inferenceToSpace`) and must give exactly what the two layers give one after the
// other; training keeps the layers apart.

import NN
import Testing
import TensorCore
import TestSupport

@Suite struct FusionTests {
    @Test(arguments: [(6, 9), (7, 5), (1, 1), (2, 3)])
    func convolutionThenDepthToSpaceIsFusedExactly(height: Int, width: Int) {
        var rng = Xoshiro256(seed: 21)
        let conv = Conv2d(inputChannels: 5, outputChannels: 12, kernelSize: 3, padding: 1, name: "c", rng: &rng)
        conv.bias!.value = Tensor.randomNormal([12], using: &rng)
        let d2s = DepthToSpace(blockSize: 2)
        let net = Sequential([conv, d2s, GDN(channels: 3, kind: .simplifiedInverse, name: "g")])
        let x = Tensor.randomNormal([2, 5, height, width], using: &rng)
        let fused = net.forward(x, mode: .inference)
        let apart = net.layers[2].forward(d2s.forward(conv.forward(x, mode: .inference), mode: .inference), mode: .inference)
        #expect(fused.shape == [2, 3, 2 * height, 2 * width])
        #expect(fused.scalars == apart.scalars)
        #expect((conv.inferenceToSpace(x) != nil) == (height >= 2 && width >= 2))
    }
}
