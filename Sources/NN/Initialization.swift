// Weight initialisation (Kaiming/He), drawn from an explicit generator.

import RealModule
import TensorCore

/// Kaiming (He) initialisers.
///
/// Reference: He et al. 2015, https://arxiv.org/abs/1502.01852. `gain` is √2 for ReLU; PyTorch's
/// default for `Conv2d` is `kaimingUniform(gain: √(2/(1+5)))`, i.e. bound `1/√fanIn`.
public enum Kaiming {
    /// Uniform on `[−b, b]` with `b = gain·√(3/fanIn)`.
    public static func uniform(
        _ shape: [Int], fanIn: Int, gain: Float = Float(2).squareRoot(),
        using rng: inout some RandomNumberGenerator
    ) -> Tensor {
        if rng is NoDraws { return Tensor(shape: shape) }
        let bound = gain * (3 / Float(fanIn)).squareRoot()
        return Tensor.randomUniform(shape, low: -bound, high: bound, using: &rng)
    }

    /// Normal with standard deviation `gain/√fanIn`.
    public static func normal(
        _ shape: [Int], fanIn: Int, gain: Float = Float(2).squareRoot(),
        using rng: inout some RandomNumberGenerator
    ) -> Tensor {
        if rng is NoDraws { return Tensor(shape: shape) }
        return Tensor.randomNormal(shape, std: gain / Float(fanIn).squareRoot(), using: &rng)
    }

    /// PyTorch's default conv init: weights `uniform(±1/√fanIn)` (Kaiming-uniform with a = √5).
    public static func pytorchDefault(
        _ shape: [Int], fanIn: Int, using rng: inout some RandomNumberGenerator
    ) -> Tensor {
        uniform(shape, fanIn: fanIn, gain: Float(1.0 / 3.0).squareRoot(), using: &rng)
    }
}

/// The generator for a network whose every parameter is loaded from a file right after it is
/// built (`loadParameters` requires them all): the initializers skip their draws and give zeros,
/// instead of drawing a million values that are overwritten (≈ 15–25 ms per `vqz` process).
public struct NoDraws: RandomNumberGenerator {
    public init() {}
    public mutating func next() -> UInt64 { 0 }
}
