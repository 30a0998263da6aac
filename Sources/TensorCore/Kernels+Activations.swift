// Pointwise activations, forward and backward. The backward passes take the forward input `x`
// (not the output), so every activation has the same cache shape.

import RealModule

/// A pointwise nonlinearity.
public enum Activation: Sendable, Equatable {
    /// `max(x, 0)`
    case relu
    /// `x` for `x > 0`, else `slope·x`.
    case leakyReLU(slope: Float)
    /// Exact GELU `x·Φ(x) = ½x(1 + erf(x/√2))` (PyTorch's default). Hendrycks & Gimpel 2016,
    /// https://arxiv.org/abs/1606.08415
    case gelu

    /// `f(x)` for one scalar: the definition the vector kernels follow.
    @inline(__always)
    public func value(_ x: Float) -> Float {
        switch self {
        case .relu: return x > 0 ? x : 0
        case .leakyReLU(let slope): return x > 0 ? x : slope * x
        case .gelu: return 0.5 * x * (1 + Float.erf(x * 0.707_106_77))
        }
    }

    /// `f'(x)` for one scalar (ReLU family: the derivative at 0 is taken as the left one).
    @inline(__always)
    public func derivative(_ x: Float) -> Float {
        switch self {
        case .relu: return x > 0 ? 1 : 0
        case .leakyReLU(let slope): return x > 0 ? 1 : slope
        case .gelu:
            let cdf = 0.5 * (1 + Float.erf(x * 0.707_106_77))
            let pdf = Float.exp(-0.5 * x * x) * 0.398_942_28
            return cdf + x * pdf
        }
    }
}

extension Kernels {
    /// `y = f(x)` elementwise, any shape.
    public static func activationForward(_ x: Tensor, _ f: Activation) -> Tensor {
        var y = Tensor(uninitializedShape: x.shape)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                let px = px.baseAddress!, py = py.baseAddress!
                parallelChunks(count: x.count) { range in
                    switch f {
                    case .relu: for i in range { py[i] = px[i] > 0 ? px[i] : 0 }
                    default: for i in range { py[i] = f.value(px[i]) }
                    }
                }
            }
        }
        return y
    }

    /// `dx = dOut ⊙ f'(x)` elementwise.
    public static func activationBackward(input x: Tensor, dOut: Tensor, _ f: Activation) -> Tensor {
        precondition(x.shape == dOut.shape, "activation backward: \(x.shape) vs \(dOut.shape)")
        var dx = Tensor(uninitializedShape: x.shape)
        x.withUnsafeBufferPointer { px in
            dOut.withUnsafeBufferPointer { pd in
                dx.withUnsafeMutableBufferPointer { pdx in
                    let px = px.baseAddress!, pd = pd.baseAddress!, pdx = pdx.baseAddress!
                    parallelChunks(count: x.count) { range in
                        for i in range { pdx[i] = pd[i] * f.derivative(px[i]) }
                    }
                }
            }
        }
        return dx
    }
}
