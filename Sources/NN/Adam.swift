// Adam / AdamW, PyTorch semantics, with bias correction; plus gradient-norm clipping.

import RealModule
import TensorCore

/// First and second moment estimates of one parameter, and its step count.
public struct AdamState: Sendable {
    public var m: Tensor
    public var v: Tensor
    /// Updates applied so far (`t` in the paper; the next update uses `t + 1`).
    public var step: Int

    public init(shape: [Int]) {
        m = Tensor(shape: shape)
        v = Tensor(shape: shape)
        step = 0
    }
}

/// Adam with bias correction (Kingma & Ba 2015, https://arxiv.org/abs/1412.6980), following
/// PyTorch `torch.optim.Adam`/`AdamW`:
/// `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`, `θ ← θ − lr·m̂/(√v̂ + ε)` with
/// `m̂ = m/(1−β1ᵗ)`, `v̂ = v/(1−β2ᵗ)`. A nonzero `weightDecay` is decoupled (AdamW, Loshchilov &
/// Hutter 2019): `θ ← θ·(1 − lr·λ)` before the step. Defaults `β1 0.9, β2 0.999, ε 1e-8, λ 0`.
public final class Adam {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// Per-parameter state, keyed by dotted name.
    public private(set) var states: [String: AdamState] = [:]

    public init(
        learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        weightDecay: Float = 0
    ) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// The pure update of one parameter: returns the new value and state.
    public func apply(gradient: Tensor, parameter: Tensor, state: AdamState) -> (Tensor, AdamState) {
        var value = parameter
        var s = state
        update(value: &value, gradient: gradient, state: &s)
        return (value, s)
    }

    /// Updates every parameter in place from its accumulated gradient (gradients are not cleared).
    public func step(_ parameters: [Parameter]) {
        for p in parameters {
            var s = states[p.name] ?? AdamState(shape: p.shape)
            states[p.name] = nil  // keep the state uniquely referenced: in-place update, no copy
            update(value: &p.value, gradient: p.gradient, state: &s)
            states[p.name] = s
        }
    }

    /// Replaces the state of parameter `name` (when resuming from a checkpoint).
    public func setState(_ state: AdamState, for name: String) { states[name] = state }

    /// Sets every gradient to zero.
    public func zeroGrad(_ parameters: [Parameter]) {
        for p in parameters { p.gradient.fill(0) }
    }

    private func update(value: inout Tensor, gradient: Tensor, state s: inout AdamState) {
        precondition(value.shape == gradient.shape && value.shape == s.m.shape, "Adam: shapes")
        s.step += 1
        let t = Float(s.step)
        let b1 = beta1, b2 = beta2, eps = epsilon, lr = learningRate
        let c1 = 1 - pow(b1, t), c2 = 1 - pow(b2, t)
        let decay = 1 - lr * weightDecay
        let n = value.count
        gradient.withUnsafeBufferPointer { pg in
            value.withUnsafeMutableBufferPointer { pv in
                s.m.withUnsafeMutableBufferPointer { pm in
                    s.v.withUnsafeMutableBufferPointer { pvv in
                        let pg = pg.baseAddress!, pv = pv.baseAddress!
                        let pm = pm.baseAddress!, pvv = pvv.baseAddress!
                        Kernels.parallelChunks(count: n, grain: 1 << 14) { range in
                            for i in range {
                                let g = pg[i]
                                let m = b1 * pm[i] + (1 - b1) * g
                                let v = b2 * pvv[i] + (1 - b2) * g * g
                                pm[i] = m
                                pvv[i] = v
                                let mHat = m / c1, vHat = v / c2
                                pv[i] = pv[i] * decay - lr * mHat / (vHat.squareRoot() + eps)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Scales all gradients so their joint L2 norm is at most `maxNorm` (PyTorch `clip_grad_norm_`:
/// factor `maxNorm/(norm + 1e-6)`, applied only when `norm > maxNorm`). Returns the norm before
/// clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    let norm = Float(parameters.reduce(0.0) { $0 + $1.gradient.squaredNorm() }.squareRoot())
    if norm > maxNorm {
        let factor = maxNorm / (norm + 1e-6)
        for p in parameters { p.gradient.scale(by: factor) }
    }
    return norm
}

@inline(__always) private func pow(_ x: Float, _ y: Float) -> Float {
    Float(_pow(Double(x), Double(y)))
}

@inline(__always) private func _pow(_ x: Double, _ y: Double) -> Double {
    // exp(y·log x) for x > 0 (β ∈ (0, 1) here).
    Double.exp(y * Double.log(x))
}
