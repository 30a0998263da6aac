// Kernels: the llm.c layer of the engine. Free functions in a caseless namespace working on raw
// Float buffers with explicit dimensions; Tensor-level wrappers sit next to them. Every optimized
// kernel has a naive reference (`…Naive`) that is its executable definition and that the tests
// compare against: beside it in this module (GEMM, GDN, codebook search), or, for the
// convolutions, in TestSupport/ReferenceKernels.swift. Backward kernels accumulate (+=) into
// parameter gradients and overwrite input gradients.
//
// Siblings: Kernels+Im2col, Kernels+Conv2d, Kernels+ConvTranspose2d (with ConvGeometry),
// Kernels+PixelShuffle, Kernels+GDN, Kernels+Activations, Kernels+Codebook, Tensor+Elementwise.

import COpenBLAS

/// Namespace for the compute kernels (row-major Float32; activations NCHW, weights OIHW).
public enum Kernels {
    /// Single-threaded `C ← alpha·op(A)·op(B) + beta·C` through OpenBLAS `cblas_sgemm` (row-major).
    ///
    /// - `op(A)` is `[m, k]`, `op(B)` is `[k, n]`, `C` is `[m, n]`; `lda`, `ldb`, `ldc` are the
    ///   row strides of the stored (untransposed) matrices.
    /// Reference: `gemmNaive`.
    @inlinable
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha, a,
            Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The definition of `gemm`: three loops, accumulated in Double.
    public static func gemmNaive(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var acc = 0.0
                for p in 0..<k {
                    let av = transposeA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                    acc += Double(av) * Double(bv)
                }
                let prior = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = alpha * Float(acc) + prior
            }
        }
    }

    /// Matrix product `op(a)·op(b)` of rank-2 tensors, rows of the result spread over the pool.
    ///
    /// The row partition (bands of 64) depends only on the shapes, so results do not depend on the
    /// thread count.
    public static func matmul(
        _ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false
    ) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2, "matmul: rank-2 tensors, got \(a.shape), \(b.shape)")
        let m = transposeA ? a.shape[1] : a.shape[0]
        let k = transposeA ? a.shape[0] : a.shape[1]
        let kb = transposeB ? b.shape[1] : b.shape[0]
        let n = transposeB ? b.shape[0] : b.shape[1]
        precondition(k == kb, "matmul: inner dimensions differ: \(a.shape) vs \(b.shape)")
        var c = Tensor(shape: [m, n])
        let band = 64
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    let pa = pa.baseAddress!, pb = pb.baseAddress!, pc = pc.baseAddress!
                    ThreadPool.current.parallelFor(count: (m + band - 1) / band) { t in
                        let r0 = t * band, rows = min(band, m - r0)
                        // Band rows r0..<r0+rows of op(A): offset by rows when stored untransposed,
                        // by columns when stored transposed.
                        let aBand = transposeA ? pa + r0 : pa + r0 * a.shape[1]
                        gemm(
                            transposeA: transposeA, transposeB: transposeB, m: rows, n: n, k: k,
                            a: aBand, lda: a.shape[1], b: pb, ldb: b.shape[1], beta: 0,
                            c: pc + r0 * n, ldc: n)
                    }
                }
            }
        }
        return c
    }

    /// Splits `count` items into chunks of `grain` (a partition fixed by `count` alone) and runs
    /// `body(range)` for each chunk on the pool.
    @inlinable
    public static func parallelChunks(
        count: Int, grain: Int = 1 << 15, _ body: (Range<Int>) -> Void
    ) {
        let chunks = (count + grain - 1) / grain
        ThreadPool.current.parallelFor(count: chunks) { t in
            body(t * grain..<min(count, (t + 1) * grain))
        }
    }
}

@inlinable func floorDiv(_ a: Int, _ b: Int) -> Int {
    a >= 0 ? a / b : -((-a + b - 1) / b)
}

@inlinable func ceilDiv(_ a: Int, _ b: Int) -> Int { -floorDiv(-a, b) }
