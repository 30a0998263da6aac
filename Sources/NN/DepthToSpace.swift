// Sub-pixel upsampling layer (PixelShuffle): no parameters; backward is space-to-depth.

import TensorCore

/// `[N, C·r², H, W]` → `[N, C, H·r, W·r]`, PyTorch `PixelShuffle(r)`.
///
/// Reference: Shi et al. 2016, https://arxiv.org/abs/1609.05158
public final class DepthToSpace: Layer {
    public let blockSize: Int
    private var pending = false

    public init(blockSize: Int) { self.blockSize = blockSize }

    public var parameters: [Parameter] { [] }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        if mode == .training { pending = true }
        return Kernels.depthToSpace(x, blockSize: blockSize)
    }

    public func backward(_ dOut: Tensor) -> Tensor {
        precondition(pending, "DepthToSpace: backward without a training forward")
        pending = false
        return Kernels.spaceToDepth(dOut, blockSize: blockSize)
    }
}
