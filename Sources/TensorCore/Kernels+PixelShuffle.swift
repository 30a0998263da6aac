// Sub-pixel upsampling (PixelShuffle / depth-to-space) and its inverse, which is its backward pass.
// Pure permutations: exact, so no separate naive reference is needed beyond the index formula below.

extension Kernels {
    /// Depth-to-space (PyTorch `PixelShuffle(r)`): `y[n, c, h·r+i, w·r+j] = x[n, c·r² + i·r + j, h, w]`.
    ///
    /// - `x [N, C·r², H, W]` → `[N, C, H·r, W·r]`.
    public static func depthToSpace(_ x: Tensor, blockSize r: Int) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] % (r * r) == 0, "depthToSpace: \(x.shape), r=\(r)")
        let n = x.shape[0], c = x.shape[1] / (r * r), h = x.shape[2], w = x.shape[3]
        var y = Tensor(uninitializedShape: [n, c, h * r, w * r])
        permute(x, &y, n: n, c: c, h: h, w: w, r: r, toSpace: true)
        return y
    }

    /// Space-to-depth, the inverse of `depthToSpace` and therefore its backward pass:
    /// `[N, C, H·r, W·r]` → `[N, C·r², H, W]`.
    public static func spaceToDepth(_ y: Tensor, blockSize r: Int) -> Tensor {
        precondition(
            y.rank == 4 && y.shape[2] % r == 0 && y.shape[3] % r == 0,
            "spaceToDepth: \(y.shape), r=\(r)")
        let n = y.shape[0], c = y.shape[1], h = y.shape[2] / r, w = y.shape[3] / r
        var x = Tensor(uninitializedShape: [n, c * r * r, h, w])
        permute(y, &x, n: n, c: c, h: h, w: w, r: r, toSpace: false)
        return x
    }

    private static func permute(
        _ src: Tensor, _ dst: inout Tensor, n: Int, c: Int, h: Int, w: Int, r: Int, toSpace: Bool
    ) {
        src.withUnsafeBufferPointer { ps in
            dst.withUnsafeMutableBufferPointer { pd in
                let ps = ps.baseAddress!, pd = pd.baseAddress!
                ThreadPool.current.parallelFor(count: n * c) { nc in
                    let base = nc * r * r * h * w  // same offset in both layouts
                    // One output row (hh·r + i) of the space layout at a time: contiguous on that
                    // side, r interleaved depth planes on the other.
                    for hh in 0..<h {
                        for i in 0..<r {
                            let space = base + (hh * r + i) * w * r  // y[n, c, hh·r+i, :]
                            for j in 0..<r {
                                let depth = base + (i * r + j) * h * w + hh * w  // x[n, c·r²+i·r+j, hh, :]
                                if r == 2 { continue }  // handled below, both j at once
                                if toSpace {
                                    for ww in 0..<w { pd[space + ww * r + j] = ps[depth + ww] }
                                } else {
                                    for ww in 0..<w { pd[depth + ww] = ps[space + ww * r + j] }
                                }
                            }
                            if r == 2 {
                                // Interleave two planes in one loop (vectorizable store groups).
                                let d0 = base + (i * r) * h * w + hh * w, d1 = d0 + h * w
                                if toSpace {
                                    for ww in 0..<w {
                                        pd[space + 2 * ww] = ps[d0 + ww]
                                        pd[space + 2 * ww + 1] = ps[d1 + ww]
                                    }
                                } else {
                                    for ww in 0..<w {
                                        pd[d0 + ww] = ps[space + 2 * ww]
                                        pd[d1 + ww] = ps[space + 2 * ww + 1]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
