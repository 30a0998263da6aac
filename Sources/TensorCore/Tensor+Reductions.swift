// Reductions. Accumulated in Double over fixed chunks combined in order, so results do not depend
// on the thread count.

extension Tensor {
    /// Σ of `f(x_i)` in Double, chunks of 32768 summed in order.
    @inlinable
    public func reduced(_ f: (Float) -> Double) -> Double {
        let grain = 1 << 15
        let chunks = (count + grain - 1) / grain
        var partial = [Double](repeating: 0, count: chunks)
        withUnsafeBufferPointer { p in
            partial.withUnsafeMutableBufferPointer { out in
                let out = out.baseAddress!
                ThreadPool.current.parallelFor(count: chunks) { t in
                    var acc = 0.0
                    for i in (t * grain)..<min(count, (t + 1) * grain) { acc += f(p[i]) }
                    out[t] = acc
                }
            }
        }
        return partial.reduce(0, +)
    }

    /// Sum of all elements (Double accumulation).
    public func sum() -> Double { reduced { Double($0) } }

    /// Mean of all elements.
    public func mean() -> Double { count == 0 ? 0 : sum() / Double(count) }

    /// Σ x² (Double accumulation).
    public func squaredNorm() -> Double { reduced { Double($0) * Double($0) } }

    /// Largest element (`-infinity` when empty).
    public func max() -> Float { scalars.max() ?? -.infinity }

    /// Largest |a − b| between two tensors of the same shape.
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "Tensor: shapes differ: \(shape) vs \(other.shape)")
        var m: Float = 0
        for i in 0..<count { m = Swift.max(m, abs(scalars[i] - other.scalars[i])) }
        return m
    }
}
