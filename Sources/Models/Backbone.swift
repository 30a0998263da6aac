// The convolutional backbone shared by both families (f = 8): three stride-2 5×5 convolutions with
// simplified GDN going down, three 3×3 convolutions with depth-to-space ×2 and inverse simplified
// GDN going up. Images enter as `x − 0.5` and leave with 0.5 added back.
//
// With `residualBlocks > 0` (the "-res" architectures) both networks get capacity where it is
// cheap, at the latent resolution (1/64 of the pixels): the encoder's last stride-2 convolution
// widens to `latentWidth` channels, `residualBlocks` blocks (3×3 conv, LeakyReLU, 3×3 conv, plus
// the input) follow, and a 3×3 convolution projects to the latent channels; the decoder mirrors it
// (3×3 from the latent channels to `latentWidth`, the blocks, then the usual upsampling path).
// With `decoderBlocks > 0` ("-decres") only the decoder gets them (`decoderWidth` channels): the
// encoder, and so the tokens, stay those of the model such a decoder is grown from.
//
// References: Ballé et al. 2017, https://arxiv.org/abs/1611.01704 (GDN transforms);
// Johnston et al. 2019, https://arxiv.org/abs/1912.08771 (simplified GDN);
// Shi et al. 2016, https://arxiv.org/abs/1609.05158 (sub-pixel convolution);
// He et al. 2016, https://arxiv.org/abs/1512.03385 and Cheng et al. 2020,
// https://arxiv.org/abs/2001.01568 (residual blocks in learned-compression transforms).

import NN
import TensorCore

enum Backbone {
    /// `[N, 3, H, W]` → `[N, outputChannels, H/8, W/8]`.
    static func encoder(_ config: ModelConfig, outputChannels: Int, rng: inout some RandomNumberGenerator) -> Sequential {
        let n = config.channels
        var layers: [any Layer] = [
            Conv2d(inputChannels: 3, outputChannels: n, kernelSize: 5, stride: 2, padding: 2, name: "enc.conv1", rng: &rng),
            GDN(channels: n, kind: .simplified, name: "enc.gdn1"),
            Conv2d(inputChannels: n, outputChannels: n, kernelSize: 5, stride: 2, padding: 2, name: "enc.conv2", rng: &rng),
            GDN(channels: n, kind: .simplified, name: "enc.gdn2"),
        ]
        if config.residualBlocks == 0 {
            layers.append(Conv2d(inputChannels: n, outputChannels: outputChannels, kernelSize: 5, stride: 2, padding: 2, name: "enc.conv3", rng: &rng))
        } else {
            let l = config.latentWidth
            layers.append(Conv2d(inputChannels: n, outputChannels: l, kernelSize: 5, stride: 2, padding: 2, name: "enc.conv3", rng: &rng))
            layers += residualBlocks(config.residualBlocks, width: l, prefix: "enc", rng: &rng)
            layers.append(Conv2d(inputChannels: l, outputChannels: outputChannels, kernelSize: 3, padding: 1, name: "enc.proj", rng: &rng))
        }
        return Sequential(layers, label: "encoder")
    }

    /// `[N, inputChannels, h, w]` → `[N, 3, 8h, 8w]`.
    static func decoder(_ config: ModelConfig, rng: inout some RandomNumberGenerator) -> Sequential {
        let n = config.channels, d = config.latentChannels
        var layers: [any Layer] = []
        var width = d
        if config.residualBlocks > 0 || config.decoderBlocks > 0 {
            let blocks = config.residualBlocks > 0 ? config.residualBlocks : config.decoderBlocks
            width = config.residualBlocks > 0 ? config.latentWidth : config.decoderWidth
            layers.append(Conv2d(inputChannels: d, outputChannels: width, kernelSize: 3, padding: 1, name: "dec.proj", rng: &rng))
            layers += residualBlocks(blocks, width: width, prefix: "dec", rng: &rng)
        }
        layers += [
            Conv2d(inputChannels: width, outputChannels: 4 * n, kernelSize: 3, padding: 1, name: "dec.conv1", rng: &rng),
            DepthToSpace(blockSize: 2),
            GDN(channels: n, kind: .simplifiedInverse, name: "dec.igdn1"),
            Conv2d(inputChannels: n, outputChannels: 4 * n, kernelSize: 3, padding: 1, name: "dec.conv2", rng: &rng),
            DepthToSpace(blockSize: 2),
            GDN(channels: n, kind: .simplifiedInverse, name: "dec.igdn2"),
            Conv2d(inputChannels: n, outputChannels: 12, kernelSize: 3, padding: 1, name: "dec.conv3", rng: &rng),
            DepthToSpace(blockSize: 2),
        ]
        return Sequential(layers, label: "decoder")
    }

    /// `count` blocks `x + conv(lrelu(conv(x)))` of `l` channels; the second convolution starts at
    /// 0.1× its Kaiming draw so each block begins near the identity.
    static func residualBlocks(_ count: Int, width l: Int, prefix: String, rng: inout some RandomNumberGenerator) -> [any Layer] {
        (0..<count).map { b in
            let first = Conv2d(inputChannels: l, outputChannels: l, kernelSize: 3, padding: 1, name: "\(prefix).res\(b + 1).conv1", rng: &rng)
            let second = Conv2d(inputChannels: l, outputChannels: l, kernelSize: 3, padding: 1, name: "\(prefix).res\(b + 1).conv2", rng: &rng)
            second.weight.value.scale(by: 0.1)
            return ResidualBlock(Sequential([first, ActivationLayer(.leakyReLU(slope: 0.2)), second]))
        }
    }

    static func shifted(_ x: Tensor, by offset: Float) -> Tensor {
        Tensor(shape: x.shape, scalars: x.scalars.map { $0 + offset })
    }
}
