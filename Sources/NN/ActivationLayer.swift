// Pointwise activation layer (ReLU, LeakyReLU, GELU).

import TensorCore

/// Applies an `Activation` elementwise; caches its input for backward.
public final class ActivationLayer: Layer {
    public let activation: Activation
    private var input: Tensor?

    public init(_ activation: Activation) { self.activation = activation }

    public var parameters: [Parameter] { [] }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        if mode == .training { input = x }
        return Kernels.activationForward(x, activation)
    }

    public func backward(_ dOut: Tensor) -> Tensor {
        guard let x = input else {
            preconditionFailure("ActivationLayer(\(activation)): backward without a training forward")
        }
        input = nil
        return Kernels.activationBackward(input: x, dOut: dOut, activation)
    }
}
