// im2col / col2im: the patch matrices that turn a convolution into a GEMM, and how the
// convolutions cut their work into bands of output rows for the thread pool.

extension Kernels {

    /// Gathers the patches of output rows `rows` of one image: `x [C, H, W]` → `col [C·k·k, rows·W_out]`,
    /// row `(c·k + u)·k + v`, column `(i − rows.lowerBound)·W_out + j` holding `x[c, s·i+u−p, s·j+v−p]`
    /// (0 outside the image).
    ///
    /// For stride `s > 1` the needed input rows are first split into `s` column phases
    /// (`x[c, h, q·s + φ]` stored contiguously in `q`), so every patch row is a contiguous copy.
    public static func im2col(
        _ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
        rows: Range<Int>
    ) {
        let c = g.inputChannels, h = g.inputHeight, w = g.inputWidth
        let k = g.kernelSize, s = g.stride, p = g.padding, wo = g.outputWidth
        let cols = rows.count * wo
        // Input rows touched by these output rows.
        let hLo = max(0, s * rows.lowerBound - p)
        let hHi = min(h, s * (rows.upperBound - 1) + k - p)
        let hSpan = max(0, hHi - hLo)
        let wq = (w + s - 1) / s  // columns per phase
        var phased = UnsafeMutablePointer(mutating: x)
        if s > 1 && hSpan > 0 {
            phased = Scratch.buffer(slot: 6, count: c * hSpan * s * wq)
            for ci in 0..<c {
                for hh in 0..<hSpan {
                    let src = x + (ci * h + hLo + hh) * w
                    let dst = phased + (ci * hSpan + hh) * s * wq
                    for ph in 0..<s {
                        let d = dst + ph * wq
                        let full = (w - ph + s - 1) / s  // q with q·s + φ < w
                        if s == 2 {
                            for q in 0..<full { d[q] = src[2 * q + ph] }  // stride-2 gather
                        } else {
                            for q in 0..<full { d[q] = src[q * s + ph] }
                        }
                        for q in full..<wq { d[q] = 0 }
                    }
                }
            }
        }
        for v in 0..<k {
            // Output columns j whose input column s·j+v−p lies inside [0, w).
            let jLo = min(wo, max(0, ceilDiv(p - v, s)))
            let jHi = max(jLo, min(wo, floorDiv(w - 1 + p - v, s) + 1))
            let t = v - p
            let phase = t - floorDiv(t, s) * s, shift = floorDiv(t, s)
            for ci in 0..<c {
                for u in 0..<k {
                    let dst = col + ((ci * k + u) * k + v) * cols
                    for (r, i) in rows.enumerated() {
                        let d = dst + r * wo
                        let hi = s * i + u - p
                        if hi < 0 || hi >= h {
                            d.update(repeating: 0, count: wo)
                            continue
                        }
                        // src[j] = x[ci, hi, s·j + v − p]
                        let src: UnsafePointer<Float>
                        if s == 1 {
                            src = x + (ci * h + hi) * w + t
                        } else {
                            src = UnsafePointer(phased + ((ci * hSpan + hi - hLo) * s + phase) * wq + shift)
                        }
                        // The borders are at most `padding` wide: inline; the copy goes
                        // through memmove (libc's AVX-512 path beats our baseline-x86 loop).
                        for j in 0..<jLo { d[j] = 0 }
                        (d + jLo).update(from: src + jLo, count: jHi - jLo)
                        for j in jHi..<wo { d[j] = 0 }
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col` over all output rows: accumulates `col [C·k·k, H_out·W_out]` into
    /// `dx [C, H, W]` (+=; the caller zeroes `dx` first). Strided convolutions accumulate into
    /// column phases first (contiguous adds), then interleave.
    public static func col2im(
        _ col: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: ConvGeometry
    ) {
        if g.stride == 1 {
            col2imAccumulate(col, into: dx, g, rows: 0..<g.outputHeight)
            return
        }
        let phased = Scratch.buffer(slot: 6, count: phasedCount(g))
        phased.update(repeating: 0, count: phasedCount(g))
        col2imAccumulate(col, into: phased, g, rows: 0..<g.outputHeight)
        interleavePhases(phased, into: dx, g)
    }

    /// Floats in the column-phase layout `[C, H, s, ⌈W/s⌉]` of one image.
    static func phasedCount(_ g: ConvGeometry) -> Int {
        g.inputChannels * g.inputHeight * g.stride * ((g.inputWidth + g.stride - 1) / g.stride)
    }

    /// Accumulates `col [C·k·k, rows·W_out]` (output rows `rows`) into `target`: `dx [C, H, W]`
    /// for stride 1, the column-phase layout `[C, H, s, ⌈W/s⌉]` otherwise.
    static func col2imAccumulate(
        _ col: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
        rows: Range<Int>
    ) {
        let c = g.inputChannels, h = g.inputHeight, w = g.inputWidth
        let k = g.kernelSize, s = g.stride, p = g.padding, wo = g.outputWidth
        let cols = rows.count * wo
        let wq = (w + s - 1) / s
        for v in 0..<k {
            let jLo = min(wo, max(0, ceilDiv(p - v, s)))
            let jHi = max(jLo, min(wo, floorDiv(w - 1 + p - v, s) + 1))
            let t = v - p
            let phase = t - floorDiv(t, s) * s, shift = floorDiv(t, s)
            for ci in 0..<c {
                for u in 0..<k {
                    let srcRow = col + ((ci * k + u) * k + v) * cols
                    for (r, i) in rows.enumerated() {
                        let hi = s * i + u - p
                        if hi < 0 || hi >= h { continue }
                        let src = srcRow + r * wo
                        let d: UnsafeMutablePointer<Float>
                        if s == 1 {
                            d = target + (ci * h + hi) * w + t
                        } else {
                            d = target + ((ci * h + hi) * s + phase) * wq + shift
                        }
                        for j in jLo..<jHi { d[j] += src[j] }
                    }
                }
            }
        }
    }

    /// `dx[c, h, q·s + φ] += phased[c, h, φ, q]` (or `=` when `accumulate` is false: every
    /// element of `dx` has exactly one phase entry).
    static func interleavePhases(
        _ phased: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
        accumulate: Bool = true
    ) {
        let c = g.inputChannels, h = g.inputHeight, w = g.inputWidth, s = g.stride
        let wq = (w + s - 1) / s
        for ci in 0..<c {
            for hh in 0..<h {
                let dst = dx + (ci * h + hh) * w
                let src = phased + (ci * h + hh) * s * wq
                for ph in 0..<s {
                    let sr = src + ph * wq
                    var q = 0
                    if accumulate {
                        while q * s + ph < w {
                            dst[q * s + ph] += sr[q]
                            q += 1
                        }
                    } else {
                        while q * s + ph < w {
                            dst[q * s + ph] = sr[q]
                            q += 1
                        }
                    }
                }
            }
        }
    }

    /// Output rows per cache block: the im2col block of `C_in·k·k × rows·W_out` floats stays near
    /// 512 KiB so that it is still in L2 when the GEMM packs it (measured: 64×1024×1600 GEMMs go
    /// from ~41 to ~58 GFLOP/s per core with 128-column blocks).
    static func blockRows(patchSize: Int, outputWidth: Int) -> Int {
        // Tried 64 Ki–256 Ki floats and 128–512 minimum columns: differences were within the
        // noise of this shared machine; 128 Ki floats (512 KiB, half of L2) is kept.
        let targetColumns = max(128, 131_072 / max(1, patchSize))
        return max(1, (targetColumns + outputWidth / 2) / outputWidth)
    }

    static func rowBands(batch: Int, outputHeight: Int, outputWidth: Int) -> Int {
        if batch >= 4 { return 1 }
        return max(1, min(outputHeight, outputHeight * outputWidth / 2048))
    }
}
