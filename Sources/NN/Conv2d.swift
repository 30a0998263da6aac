// 2-D convolution layer: a thin wrapper over Kernels.conv2dForward/Backward.

import TensorCore

/// Convolution over `x [N, C_in, H, W]` with weight `[C_out, C_in, k, k]` (OIHW) and bias `[C_out]`;
/// PyTorch `Conv2d` semantics (zero padding on all sides).
///
/// Parameters: `<name>.weight`, `<name>.bias`.
public final class Conv2d: Layer {
    public let inputChannels: Int
    public let outputChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let weight: Parameter
    public let bias: Parameter?
    /// When false, `backward` skips dL/dx and returns an empty tensor (first layer of a network).
    public var computesInputGradient = true
    private var input: Tensor?
    /// The oneDNN primitives of the last training shape (`OneDNNConvolution.Backend`).
    private var onednn: OneDNNConvolution?

    /// Weights from Kaiming-uniform (`gain √2`, for the ReLU/GDN-family nets here), bias zero.
    public init(
        inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1,
        padding: Int = 0, bias: Bool = true, name: String,
        rng: inout some RandomNumberGenerator
    ) {
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        let fanIn = inputChannels * kernelSize * kernelSize
        weight = Parameter(
            name: dotted(name, "weight"),
            value: Kaiming.uniform(
                [outputChannels, inputChannels, kernelSize, kernelSize], fanIn: fanIn, using: &rng))
        self.bias = bias ? Parameter(name: dotted(name, "bias"), value: .zeros([outputChannels])) : nil
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        precondition(
            x.rank == 4 && x.shape[1] == inputChannels,
            "Conv2d(\(weight.name)): expected C=\(inputChannels), got \(x.shape)")
        if mode == .training {
            input = x
            if let conv = trainingConvolution(for: x.shape) {
                return conv.forward(input: x, weight: weight.value, bias: bias?.value)
            }
        }
        if mode == .training {
            return Kernels.conv2dForward(
                input: x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding)
        }
        return Kernels.conv2dInference(
            input: x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding)
    }

    /// In inference, this convolution followed by depth-to-space ×2 in one pass, when the Winograd
    /// path takes it (`Kernels.conv2dForwardWinograd(depthToSpace:)`); nil otherwise.
    public func inferenceToSpace(_ x: Tensor) -> Tensor? {
        guard Kernels.winogradEnabled, outputChannels % 4 == 0, x.rank == 4, x.shape[1] == inputChannels else { return nil }
        let g = Kernels.conv2dGeometry(input: x, weight: weight.value, stride: stride, padding: padding)
        guard Kernels.winogradApplies(g) else { return nil }
        return Kernels.conv2dForwardWinograd(input: x, weight: weight.value, bias: bias?.value, depthToSpace: true)
    }

    /// oneDNN's primitives for this input shape in training, built on first use; nil on the engine backend.
    private func trainingConvolution(for shape: [Int]) -> OneDNNConvolution? {
        let backend = OneDNNConvolution.Backend.current
        guard backend != .engine else { return nil }
        if let onednn, onednn.inputShape == shape { return onednn }
        onednn = try? OneDNNConvolution(inputShape: shape, weightShape: weight.value.shape, stride: stride, padding: padding,
                                        bf16: backend == .onednnBF16)
        return onednn
    }

    public func backward(_ dOut: Tensor) -> Tensor {
        guard let x = input else {
            preconditionFailure("Conv2d(\(weight.name)): backward without a training forward")
        }
        input = nil
        var noBias = Tensor(shape: [0])
        let dx: Tensor?
        if let conv = onednn, conv.inputShape == x.shape {  // set by the training forward (not on the engine backend)
            if let bias {
                dx = conv.backward(input: x, weight: weight.value, dOut: dOut, dWeight: &weight.gradient, dBias: &bias.gradient,
                                   inputGradient: computesInputGradient)
            } else {
                dx = conv.backward(input: x, weight: weight.value, dOut: dOut, dWeight: &weight.gradient, dBias: &noBias,
                                   inputGradient: computesInputGradient)
            }
        } else if let bias {
            dx = Kernels.conv2dBackward(
                input: x, weight: weight.value, dOut: dOut, stride: stride, padding: padding,
                dWeight: &weight.gradient, dBias: &bias.gradient,
                inputGradient: computesInputGradient)
        } else {
            dx = Kernels.conv2dBackward(
                input: x, weight: weight.value, dOut: dOut, stride: stride, padding: padding,
                dWeight: &weight.gradient, dBias: &noBias, inputGradient: computesInputGradient)
        }
        return dx ?? Tensor(shape: [0])
    }
}
