// Moving latents between the network's NCHW layout and the quantizer's rows of D-vectors.

import TensorCore

/// Conversions between `[N, D, h, w]` feature maps and `[N·h·w, D]` rows (one row per position,
/// row index `(n·h + y)·w + x`).
public enum LatentLayout {
    /// `[N, D, h, w]` → `[N·h·w, D]`.
    public static func rows(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4, "LatentLayout.rows: expected [N, D, h, w], got \(x.shape)")
        let n = x.shape[0], d = x.shape[1], h = x.shape[2], w = x.shape[3]
        var out = Tensor(shape: [n * h * w, d])
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for b in 0..<n {
                    for c in 0..<d {
                        let plane = (b * d + c) * h * w
                        for p in 0..<(h * w) { dst[(b * h * w + p) * d + c] = src[plane + p] }
                    }
                }
            }
        }
        return out
    }

    /// `[N·h·w, D]` → `[N, D, h, w]`.
    public static func map(_ rows: Tensor, n: Int, h: Int, w: Int) -> Tensor {
        let d = rows.shape[1]
        precondition(rows.shape[0] == n * h * w, "LatentLayout.map: \(rows.shape) is not \(n)·\(h)·\(w) rows")
        var out = Tensor(shape: [n, d, h, w])
        let hw = h * w
        rows.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                // In 64-position × 16-channel tiles, so that reads and writes both stay in cache.
                for b in 0..<n {
                    for p0 in stride(from: 0, to: hw, by: 64) {
                        for c0 in stride(from: 0, to: d, by: 16) {
                            for c in c0..<min(d, c0 + 16) {
                                let plane = (b * d + c) * hw
                                for p in p0..<min(hw, p0 + 64) { dst[plane + p] = src[(b * hw + p) * d + c] }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
