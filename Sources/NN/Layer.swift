// The layer contract (llm.c's explicit forward/backward, as a Swift protocol): forward caches what
// backward needs in training mode; backward consumes the cache, accumulates parameter gradients
// (+=) and returns the input gradient. No autograd, no hidden graph.

import TensorCore

/// Whether a forward pass keeps what its backward pass needs.
public enum Mode: Sendable {
    /// Cache inputs/intermediates for `backward`.
    case training
    /// Keep nothing (encode/decode).
    case inference
}

/// A differentiable building block with a hand-written backward pass.
///
/// Calling `backward` without a prior training-mode `forward`, or twice for one `forward`, trips a
/// precondition: the cache is cleared when `backward` consumes it.
public protocol Layer: AnyObject {
    /// Computes the output. In `.training` mode, saves what `backward` needs.
    func forward(_ x: Tensor, mode: Mode) -> Tensor
    /// Accumulates parameter gradients (+=) and returns dL/dx. Consumes the saved cache.
    func backward(_ dOut: Tensor) -> Tensor
    /// Trainable tensors, in a stable order, with dotted names (`enc.conv1.weight`).
    var parameters: [Parameter] { get }
}

extension Layer {
    /// Sets every parameter gradient to zero.
    public func zeroGrad() {
        for p in parameters { p.gradient.fill(0) }
    }

    /// Total number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
}

/// Joins a layer name prefix and a local name with a dot (`"enc" + "conv1"` → `"enc.conv1"`).
@inlinable
func dotted(_ prefix: String, _ name: String) -> String {
    prefix.isEmpty ? name : prefix + "." + name
}
