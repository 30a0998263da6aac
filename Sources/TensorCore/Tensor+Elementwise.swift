// Elementwise arithmetic on tensors of equal shape, spread over the pool in fixed chunks.

extension Tensor {
    /// `self[i] = f(self[i], other[i])` in place, chunked over the pool.
    @inlinable
    public mutating func formElementwise(
        _ other: Tensor, _ f: @escaping @Sendable (Float, Float) -> Float
    ) {
        precondition(shape == other.shape, "Tensor: shapes differ: \(shape) vs \(other.shape)")
        other.withUnsafeBufferPointer { po in
            self.withUnsafeMutableBufferPointer { ps in
                let po = po.baseAddress!, ps = ps.baseAddress!
                Kernels.parallelChunks(count: other.count) { range in
                    for i in range { ps[i] = f(ps[i], po[i]) }
                }
            }
        }
    }

    /// `self += alpha·other` (axpy).
    public mutating func addScaled(_ other: Tensor, by alpha: Float) {
        precondition(shape == other.shape, "Tensor: shapes differ: \(shape) vs \(other.shape)")
        other.withUnsafeBufferPointer { po in
            self.withUnsafeMutableBufferPointer { ps in
                let po = po.baseAddress!, ps = ps.baseAddress!
                Kernels.parallelChunks(count: other.count) { range in
                    for i in range { ps[i] += alpha * po[i] }
                }
            }
        }
    }

    /// Multiplies every element by `alpha` in place.
    public mutating func scale(by alpha: Float) {
        let n = count
        withUnsafeMutableBufferPointer { ps in
            let ps = ps.baseAddress!
            Kernels.parallelChunks(count: n) { range in
                for i in range { ps[i] *= alpha }
            }
        }
    }

    /// Sets every element to `value`.
    public mutating func fill(_ value: Float) {
        withUnsafeMutableBufferPointer { $0.update(repeating: value) }
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        var c = a
        c.addScaled(b, by: 1)
        return c
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        var c = a
        c.addScaled(b, by: -1)
        return c
    }

    public static func += (a: inout Tensor, b: Tensor) { a.addScaled(b, by: 1) }

    public static func * (a: Tensor, s: Float) -> Tensor {
        var c = a
        c.scale(by: s)
        return c
    }

    /// Elementwise (Hadamard) product.
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        var c = a
        c.formElementwise(b) { $0 * $1 }
        return c
    }
}
