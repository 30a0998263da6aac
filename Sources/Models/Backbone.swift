// The convolutional backbone shared by both families (f = 8): three stride-2 5×5 convolutions with
// simplified GDN going down, three 3×3 convolutions with depth-to-space ×2 and inverse simplified
// GDN going up. Images enter as `x − 0.5` and leave with 0.5 added back.
//
// References: Ballé et al. 2017, https://arxiv.org/abs/1611.01704 (GDN transforms);
// Johnston et al. 2019, https://arxiv.org/abs/1912.08771 (simplified GDN);
// Shi et al. 2016, https://arxiv.org/abs/1609.05158 (sub-pixel convolution).

import NN
import TensorCore

enum Backbone {
    /// `[N, 3, H, W]` → `[N, outputChannels, H/8, W/8]`.
    static func encoder(channels n: Int, outputChannels: Int, rng: inout some RandomNumberGenerator) -> Sequential {
        Sequential([
            Conv2d(inputChannels: 3, outputChannels: n, kernelSize: 5, stride: 2, padding: 2, name: "enc.conv1", rng: &rng),
            GDN(channels: n, kind: .simplified, name: "enc.gdn1"),
            Conv2d(inputChannels: n, outputChannels: n, kernelSize: 5, stride: 2, padding: 2, name: "enc.conv2", rng: &rng),
            GDN(channels: n, kind: .simplified, name: "enc.gdn2"),
            Conv2d(inputChannels: n, outputChannels: outputChannels, kernelSize: 5, stride: 2, padding: 2, name: "enc.conv3", rng: &rng),
        ])
    }

    /// `[N, inputChannels, h, w]` → `[N, 3, 8h, 8w]`.
    static func decoder(inputChannels: Int, channels n: Int, rng: inout some RandomNumberGenerator) -> Sequential {
        Sequential([
            Conv2d(inputChannels: inputChannels, outputChannels: 4 * n, kernelSize: 3, padding: 1, name: "dec.conv1", rng: &rng),
            DepthToSpace(blockSize: 2),
            GDN(channels: n, kind: .simplifiedInverse, name: "dec.igdn1"),
            Conv2d(inputChannels: n, outputChannels: 4 * n, kernelSize: 3, padding: 1, name: "dec.conv2", rng: &rng),
            DepthToSpace(blockSize: 2),
            GDN(channels: n, kind: .simplifiedInverse, name: "dec.igdn2"),
            Conv2d(inputChannels: n, outputChannels: 12, kernelSize: 3, padding: 1, name: "dec.conv3", rng: &rng),
            DepthToSpace(blockSize: 2),
        ])
    }

    static func shifted(_ x: Tensor, by offset: Float) -> Tensor {
        Tensor(shape: x.shape, scalars: x.scalars.map { $0 + offset })
    }
}
