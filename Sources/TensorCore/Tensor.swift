// Tensor: the one value type the engine computes on. Float32, contiguous, row-major, NCHW for
// activations and OIHW for convolution weights (the PyTorch layouts). No strides, no views: kernels
// in `Kernels` work on its buffer with explicit dimensions (see Kernels.swift).

/// A dense Float32 array with a shape, stored contiguously in row-major (C) order.
///
/// Activations are `[N, C, H, W]` (NCHW), convolution weights `[C_out, C_in, kH, kW]` (OIHW),
/// transposed-convolution weights `[C_in, C_out, kH, kW]`. Value semantics: copy-on-write through
/// the underlying Swift array.
public struct Tensor: Sendable, Equatable {
    /// Dimensions, outermost first. `[]` is a scalar with one element.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.reduce(1, *)`.
    public var scalars: [Float]

    /// A tensor of the given shape filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        self.shape = shape
        self.scalars = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// A tensor of the given shape holding `scalars` (row-major).
    public init(shape: [Int], scalars: [Float]) {
        precondition(
            shape.reduce(1, *) == scalars.count,
            "Tensor: shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor whose elements are unspecified: for kernels that write every element before any
    /// read (saves a memset of the output).
    public init(uninitializedShape shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        self.shape = shape
        let n = shape.reduce(1, *)
        self.scalars = [Float](unsafeUninitializedCapacity: n) { _, count in count = n }
    }

    /// A zero-filled tensor.
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape) }

    /// Elements drawn from N(mean, std²) with an explicit generator.
    public static func randomNormal(
        _ shape: [Int], mean: Float = 0, std: Float = 1, using rng: inout some RandomNumberGenerator
    ) -> Tensor {
        var t = Tensor(uninitializedShape: shape)
        t.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = mean + std * rng.nextNormal() }
        }
        return t
    }

    /// Elements drawn uniformly from `[low, high)` with an explicit generator.
    public static func randomUniform(
        _ shape: [Int], low: Float = 0, high: Float = 1,
        using rng: inout some RandomNumberGenerator
    ) -> Tensor {
        var t = Tensor(uninitializedShape: shape)
        t.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = low + (high - low) * rng.nextUniform() }
        }
        return t
    }

    /// Number of elements.
    @inlinable public var count: Int { scalars.count }

    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// The same elements under a new shape with the same element count.
    public func reshaped(to newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// Changes the shape in place; the element count must not change.
    public mutating func reshape(to newShape: [Int]) {
        precondition(
            newShape.reduce(1, *) == count, "Tensor: cannot reshape \(shape) to \(newShape)")
        shape = newShape
    }

    /// Element at a multi-index (slow; for tests and debugging).
    public subscript(_ index: Int...) -> Float {
        get { scalars[flatIndex(index)] }
        set { scalars[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "Tensor: index \(index) for shape \(shape)")
        var flat = 0
        for (i, d) in zip(index, shape) {
            precondition(i >= 0 && i < d, "Tensor: index \(index) out of range for shape \(shape)")
            flat = flat * d + i
        }
        return flat
    }

    /// Read access to the contiguous buffer.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R)
        rethrows -> R
    {
        try scalars.withUnsafeBufferPointer(body)
    }

    /// Write access to the contiguous buffer.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer(body)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 8 ? ", …" : "")])"
    }
}
