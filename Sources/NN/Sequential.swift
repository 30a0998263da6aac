// Sequential and residual composition: forward in order, backward in reverse (llm.c's
// gpt2_forward / gpt2_backward shape).

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

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        var h = x
        if Profile.enabled && !label.isEmpty {
            for (i, layer) in layers.enumerated() {
                let t0 = Profile.now()
                h = layer.forward(h, mode: mode)
                Profile.add("\(label): \(i) \(type(of: layer)) → \(h.shape.dropFirst().map(String.init).joined(separator: "×"))", since: t0)
            }
            return h
        }
        for layer in layers { h = layer.forward(h, mode: mode) }
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
