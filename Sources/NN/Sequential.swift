// Sequential and residual composition: forward in order, backward in reverse (llm.c's
// gpt2_forward / gpt2_backward shape).

import Foundation
import TensorCore

/// Layers applied in order.
public final class Sequential: Layer {
    public let layers: [any Layer]
    /// Names the layers' phases under `VQZ_PROFILE` (`Profile`); unlabelled stacks are not timed.
    public let label: String

    public init(_ layers: [any Layer], label: String = "") {
        self.layers = layers
        self.label = label
    }

    public var parameters: [Parameter] { layers.flatMap(\.parameters) }

    /// In inference a `Conv2d` followed by `DepthToSpace(2)` runs as one pass when the convolution
    /// can (`Conv2d.inferenceToSpace`), and a `GDN` after another layer overwrites that layer's
    /// output (`GDN.inferInPlace`): the same values, no intermediate tensors (each fresh 10–40 MB
    /// tensor of a Kodak decode costs its page faults). `VQZ_FUSE=0` runs the layers one by one.
    nonisolated(unsafe) public static var fuse = ProcessInfo.processInfo.environment["VQZ_FUSE"] != "0"

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        var h = x
        let profiled = Profile.enabled && !label.isEmpty
        var i = 0
        while i < layers.count {
            let t0 = profiled ? Profile.now() : 0
            let first = i
            var fusedName = ""
            if mode == .inference, Self.fuse, i + 1 < layers.count, let conv = layers[i] as? Conv2d,
               let d2s = layers[i + 1] as? DepthToSpace, d2s.blockSize == 2, let fused = conv.inferenceToSpace(h) {
                h = fused
                fusedName = "+DepthToSpace"
                i += 2
            } else if mode == .inference, Self.fuse, i > 0, let gdn = layers[i] as? GDN {
                // In place: `h` is the previous layer's fresh output, so the buffer is not copied.
                var t = consume h
                gdn.inferInPlace(&t)
                h = t
                i += 1
            } else {
                h = layers[i].forward(h, mode: mode)
                i += 1
            }
            if profiled { Profile.add("\(label): \(first) \(type(of: layers[first]))\(fusedName) → \(h.shape.dropFirst().map(String.init).joined(separator: "×"))", since: t0) }
        }
        return h
    }

    public func backward(_ dOut: Tensor) -> Tensor {
        var d = dOut
        for layer in layers.reversed() { d = layer.backward(d) }
        return d
    }
}

/// `y = x + body(x)`; `body` must preserve the shape.
///
/// Reference: He et al. 2016, https://arxiv.org/abs/1512.03385
public final class ResidualBlock: Layer {
    public let body: any Layer

    public init(_ body: any Layer) { self.body = body }

    public var parameters: [Parameter] { body.parameters }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let y = body.forward(x, mode: mode)
        precondition(y.shape == x.shape, "ResidualBlock: body changed shape \(x.shape) → \(y.shape)")
        return x + y
    }

    public func backward(_ dOut: Tensor) -> Tensor {
        dOut + body.backward(dOut)
    }
}
