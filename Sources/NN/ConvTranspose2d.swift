// Transposed 2-D convolution layer (an upsampling layer for decoders).

import TensorCore

/// Transposed convolution over `x [N, C_in, H, W]` with weight `[C_in, C_out, k, k]` (PyTorch's
/// `ConvTranspose2d` layout) and bias `[C_out]`; output `(H−1)·s − 2p + k + outputPadding`.
///
/// Parameters: `<name>.weight`, `<name>.bias`.
public final class ConvTranspose2d: Layer {
    public let inputChannels: Int
    public let outputChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let outputPadding: Int
    public let weight: Parameter
    public let bias: Parameter?
    private var input: Tensor?

    /// Weights Kaiming-uniform with fan-in `C_out·k·k` (PyTorch's choice for this layout), bias zero.
    public init(
        inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1,
        padding: Int = 0, outputPadding: Int = 0, bias: Bool = true, name: String,
        rng: inout some RandomNumberGenerator
    ) {
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        weight = Parameter(
            name: dotted(name, "weight"),
            value: Kaiming.uniform(
                [inputChannels, outputChannels, kernelSize, kernelSize],
                fanIn: outputChannels * kernelSize * kernelSize, using: &rng))
        self.bias = bias ? Parameter(name: dotted(name, "bias"), value: .zeros([outputChannels])) : nil
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        precondition(
            x.rank == 4 && x.shape[1] == inputChannels,
            "ConvTranspose2d(\(weight.name)): expected C=\(inputChannels), got \(x.shape)")
        if mode == .training { input = x }
        return Kernels.convTranspose2dForward(
            input: x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding,
            outputPadding: outputPadding)
    }

    public func backward(_ dOut: Tensor) -> Tensor {
        guard let x = input else {
            preconditionFailure("ConvTranspose2d(\(weight.name)): backward without a training forward")
        }
        input = nil
        var noBias = Tensor(shape: [0])
        if let bias {
            return Kernels.convTranspose2dBackward(
                input: x, weight: weight.value, dOut: dOut, stride: stride, padding: padding,
                outputPadding: outputPadding, dWeight: &weight.gradient, dBias: &bias.gradient)!
        }
        return Kernels.convTranspose2dBackward(
            input: x, weight: weight.value, dOut: dOut, stride: stride, padding: padding,
            outputPadding: outputPadding, dWeight: &weight.gradient, dBias: &noBias)!
    }
}
