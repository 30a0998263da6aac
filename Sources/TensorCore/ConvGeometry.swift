// The geometry shared by the convolution kernels (Kernels+Im2col, Kernels+Conv2d,
// Kernels+ConvTranspose2d) and the layers that call them.

/// Geometry of a square-kernel 2-D convolution of one image `[C_in, H, W] → [C_out, H_out, W_out]`.
///
/// `H_out = ⌊(H + 2·padding − kernelSize) / stride⌋ + 1`, zero padding on all four sides. A transposed
/// convolution uses the geometry of the convolution it is the adjoint of (from its output back to its
/// input).
public struct ConvGeometry: Sendable, Equatable, CustomStringConvertible {
    public var inputChannels: Int
    public var outputChannels: Int
    public var kernelSize: Int
    public var stride: Int
    public var padding: Int
    public var inputHeight: Int
    public var inputWidth: Int

    public init(
        inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int,
        inputHeight: Int, inputWidth: Int
    ) {
        precondition(kernelSize >= 1 && stride >= 1 && padding >= 0, "ConvGeometry: bad k/s/p")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        precondition(
            outputHeight >= 1 && outputWidth >= 1, "ConvGeometry: empty output for \(self)")
    }

    public var outputHeight: Int { (inputHeight + 2 * padding - kernelSize) / stride + 1 }
    public var outputWidth: Int { (inputWidth + 2 * padding - kernelSize) / stride + 1 }
    /// Rows of the im2col matrix: `C_in·k·k` (the GEMM inner dimension of the forward pass).
    public var patchSize: Int { inputChannels * kernelSize * kernelSize }
    var isPointwise: Bool { kernelSize == 1 && stride == 1 && padding == 0 }

    public var description: String {
        "conv(\(inputChannels)→\(outputChannels), k\(kernelSize) s\(stride) p\(padding), "
            + "\(inputHeight)×\(inputWidth)→\(outputHeight)×\(outputWidth))"
    }
}
