// A trainable tensor, its gradient and its stable dotted name (the name used in .vqzm files).

import TensorCore

/// A trainable tensor with its accumulated gradient.
///
/// `name` is the GGUF-style dotted `lower_snake_case` path (`enc.conv1.weight`), the same string a
/// model file stores, so a mismatch error can name the tensor.
public final class Parameter {
    /// Dotted name, unique within a model.
    public let name: String
    /// Current value.
    public var value: Tensor
    /// dL/d(value), accumulated by `backward`, cleared by `zeroGrad`.
    public var gradient: Tensor

    public init(name: String, value: Tensor) {
        self.name = name
        self.value = value
        self.gradient = Tensor(shape: value.shape)
    }

    /// The shape of `value`.
    public var shape: [Int] { value.shape }
}
