// 2-D convolution and transposed convolution, forward and backward, as im2col + GEMM per image
// (or per band of output rows when the batch is small), spread over the thread pool. The direct
// loop versions (`…Naive`) are the definitions (PyTorch Conv2d / ConvTranspose2d semantics).

/// Geometry of a square-kernel 2-D convolution of one image `[C_in, H, W] → [C_out, H_out, W_out]`.
///
/// `H_out = ⌊(H + 2·padding − kernelSize) / stride⌋ + 1`, zero padding on all four sides. A transposed
/// convolution uses the geometry of the convolution it is the adjoint of (from its output back to its
/// input).
public struct ConvGeometry: Sendable, Equatable, CustomStringConvertible {
    public var inputChannels: Int
    public var outputChannels: Int
    public var kernelSize: Int
    public var stride: Int
    public var padding: Int
    public var inputHeight: Int
    public var inputWidth: Int

    public init(
        inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int, padding: Int,
        inputHeight: Int, inputWidth: Int
    ) {
        precondition(kernelSize >= 1 && stride >= 1 && padding >= 0, "ConvGeometry: bad k/s/p")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        precondition(
            outputHeight >= 1 && outputWidth >= 1, "ConvGeometry: empty output for \(self)")
    }

    public var outputHeight: Int { (inputHeight + 2 * padding - kernelSize) / stride + 1 }
    public var outputWidth: Int { (inputWidth + 2 * padding - kernelSize) / stride + 1 }
    /// Rows of the im2col matrix: `C_in·k·k` (the GEMM inner dimension of the forward pass).
    public var patchSize: Int { inputChannels * kernelSize * kernelSize }
    var isPointwise: Bool { kernelSize == 1 && stride == 1 && padding == 0 }

    public var description: String {
        "conv(\(inputChannels)→\(outputChannels), k\(kernelSize) s\(stride) p\(padding), "
            + "\(inputHeight)×\(inputWidth)→\(outputHeight)×\(outputWidth))"
    }
}

extension Kernels {
    // MARK: im2col / col2im

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

    // MARK: conv2d

    /// Convolution forward: `y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v]·x[n,c,s·i+u−p,s·j+v−p]`.
    ///
    /// - `x [N, C_in, H, W]`, `weight [C_out, C_in, k, k]`, `bias [C_out]` or nil → `[N, C_out, H_out, W_out]`.
    /// Reference: `conv2dForwardNaive`.
    public static func conv2dForward(
        input x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int
    ) -> Tensor {
        let g = geometry(input: x, weight: weight, stride: stride, padding: padding)
        if let bias { precondition(bias.shape == [g.outputChannels], "conv2d: bias \(bias.shape)") }
        let n = x.shape[0], ho = g.outputHeight, wo = g.outputWidth
        var y = Tensor(uninitializedShape: [n, g.outputChannels, ho, wo])
        let bands = rowBands(batch: n, outputHeight: ho, outputWidth: wo)
        let inSize = g.inputChannels * g.inputHeight * g.inputWidth
        let outSize = g.outputChannels * ho * wo
        let biasScalars = bias?.scalars
        x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                y.withUnsafeMutableBufferPointer { py in
                    let px = px.baseAddress!, pw = pw.baseAddress!, py = py.baseAddress!
                    ThreadPool.current.parallelFor(count: n * bands) { item in
                        let img = item / bands, band = item % bands
                        let r0 = band * ho / bands, r1 = (band + 1) * ho / bands
                        let xn = px + img * inSize
                        let step = g.isPointwise ? r1 - r0 : blockRows(patchSize: g.patchSize, outputWidth: wo)
                        var b0 = r0
                        while b0 < r1 {
                            let b1 = min(r1, b0 + step)
                            let cols = (b1 - b0) * wo
                            let yn = py + img * outSize + b0 * wo
                            let col: UnsafePointer<Float>
                            if g.isPointwise {
                                col = UnsafePointer(xn + b0 * wo)
                            } else {
                                let buf = Scratch.buffer(slot: 0, count: g.patchSize * cols)
                                im2col(xn, buf, g, rows: b0..<b1)
                                col = UnsafePointer(buf)
                            }
                            // y_n[:, block] = W [C_out, C_in·k·k] · col [C_in·k·k, cols]
                            gemm(
                                transposeA: false, transposeB: false, m: g.outputChannels, n: cols,
                                k: g.patchSize, a: pw, lda: g.patchSize, b: col,
                                ldb: g.isPointwise ? ho * wo : cols, beta: 0, c: yn, ldc: ho * wo)
                            if let biasScalars {
                                for o in 0..<g.outputChannels {
                                    let row = yn + o * ho * wo, b = biasScalars[o]
                                    for j in 0..<cols { row[j] += b }
                                }
                            }
                            b0 = b1
                        }
                    }
                }
            }
        }
        return y
    }

    /// Convolution backward. Accumulates `dWeight += ∂L/∂W` and `dBias += ∂L/∂b` (skipped when
    /// `dBias` is empty) and returns `∂L/∂x` when `inputGradient` is true (first layers skip it).
    ///
    /// - `dOut [N, C_out, H_out, W_out]`; shapes as in `conv2dForward`.
    /// Reference: `conv2dBackwardNaive`.
    public static func conv2dBackward(
        input x: Tensor, weight: Tensor, dOut: Tensor, stride: Int, padding: Int,
        dWeight: inout Tensor, dBias: inout Tensor, inputGradient: Bool = true
    ) -> Tensor? {
        let g = geometry(input: x, weight: weight, stride: stride, padding: padding)
        let n = x.shape[0], ho = g.outputHeight, wo = g.outputWidth
        precondition(
            dOut.shape == [n, g.outputChannels, ho, wo], "conv2d backward: dOut \(dOut.shape)")
        precondition(dWeight.shape == weight.shape, "conv2d backward: dWeight \(dWeight.shape)")
        let hasBias = dBias.count > 0
        var dx = inputGradient ? Tensor(uninitializedShape: x.shape) : Tensor(shape: [0])
        let cout = g.outputChannels, patch = g.patchSize, cols = ho * wo
        let inSize = g.inputChannels * g.inputHeight * g.inputWidth
        let wSize = cout * patch
        // Per-image partial weight gradients, summed in image order afterwards (determinism).
        let partials = Scratch.buffer(slot: 8, count: n * (wSize + cout))
        // Backward-data as a convolution of dY with the flipped, transposed kernel when that
        // im2col is smaller (stride 1, C_out < C_in): W'[c, o, u, v] = W[o, c, k−1−u, k−1−v].
        let k = g.kernelSize
        let useFlipped = inputGradient && g.stride == 1 && cout < g.inputChannels
            && !g.isPointwise && g.padding <= k - 1
        let fg = ConvGeometry(
            inputChannels: cout, outputChannels: g.inputChannels, kernelSize: k, stride: 1,
            padding: useFlipped ? k - 1 - g.padding : k - 1, inputHeight: ho, inputWidth: wo)
        var flippedStorage: UnsafeMutablePointer<Float>? = nil
        if useFlipped {
            let f = Scratch.buffer(slot: 10, count: wSize)
            weight.withUnsafeBufferPointer { pw in
                for o in 0..<cout {
                    for c in 0..<g.inputChannels {
                        for u in 0..<k {
                            for v in 0..<k {
                                f[((c * cout + o) * k + u) * k + v] =
                                    pw[((o * g.inputChannels + c) * k + (k - 1 - u)) * k + (k - 1 - v)]
                            }
                        }
                    }
                }
            }
            flippedStorage = f
        }
        let flipped = flippedStorage.map { UnsafePointer($0) }
        x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                dOut.withUnsafeBufferPointer { pdy in
                    dx.withUnsafeMutableBufferPointer { pdx in
                        let px = px.baseAddress!, pw = pw.baseAddress!, pdy = pdy.baseAddress!
                        let pdx = inputGradient ? pdx.baseAddress : nil
                        ThreadPool.current.parallelFor(count: n) { img in
                            let xn = px + img * inSize, dyn = pdy + img * cout * cols
                            let dWn = partials + img * wSize
                            if hasBias {
                                let db = partials + n * wSize + img * cout
                                for o in 0..<cout { db[o] = sumRow(dyn + o * cols, cols) }
                            }
                            if g.isPointwise {
                                // dW_n = dY_n · x_nᵀ; dX_n = Wᵀ · dY_n (no im2col).
                                gemm(
                                    transposeA: false, transposeB: true, m: cout, n: patch, k: cols,
                                    a: dyn, lda: cols, b: xn, ldb: cols, beta: 0, c: dWn, ldc: patch)
                                if let pdx {
                                    gemm(
                                        transposeA: true, transposeB: false, m: patch, n: cols,
                                        k: cout, a: pw, lda: patch, b: dyn, ldb: cols, beta: 0,
                                        c: pdx + img * inSize, ldc: cols)
                                }
                                return
                            }
                            let step = blockRows(patchSize: patch, outputWidth: wo)
                            let scatter = pdx != nil && flipped == nil
                            var phased: UnsafeMutablePointer<Float>? = nil
                            if scatter {
                                if g.stride == 1 {
                                    (pdx! + img * inSize).update(repeating: 0, count: inSize)
                                } else {  // the interleave below overwrites every element of dX_n
                                    // slot 7: im2col's own phase split uses slot 6.
                                    phased = Scratch.buffer(slot: 7, count: phasedCount(g))
                                    phased!.update(repeating: 0, count: phasedCount(g))
                                }
                            }
                            var b0 = 0
                            while b0 < ho {
                                let b1 = min(ho, b0 + step)
                                let bc = (b1 - b0) * wo
                                let col = Scratch.buffer(slot: 0, count: patch * bc)
                                let dyb = dyn + b0 * wo
                                im2col(xn, col, g, rows: b0..<b1)
                                // dW_n [C_out, patch] (+)= dY_n[:, block] · col_blockᵀ
                                gemm(
                                    transposeA: false, transposeB: true, m: cout, n: patch, k: bc,
                                    a: dyb, lda: cols, b: col, ldb: bc, beta: b0 == 0 ? 0 : 1,
                                    c: dWn, ldc: patch)
                                if scatter {
                                    // dcol [patch, block] = Wᵀ · dY_n[:, block], scattered back.
                                    gemm(
                                        transposeA: true, transposeB: false, m: patch, n: bc,
                                        k: cout, a: pw, lda: patch, b: dyb, ldb: cols, beta: 0,
                                        c: col, ldc: bc)
                                    col2imAccumulate(
                                        col, into: phased ?? (pdx! + img * inSize), g, rows: b0..<b1)
                                }
                                b0 = b1
                            }
                            if let phased {
                                interleavePhases(phased, into: pdx! + img * inSize, g, accumulate: false)
                            }
                            if let pdx, let flipped {
                                // Stride 1, C_out < C_in: dX_n = conv(dY_n, flipped W, pad k−1−p),
                                // whose im2col has C_out·k·k rows instead of C_in·k·k.
                                let hw = inSize / g.inputChannels
                                let fstep = blockRows(patchSize: fg.patchSize, outputWidth: fg.outputWidth)
                                var f0 = 0
                                while f0 < fg.outputHeight {
                                    let f1 = min(fg.outputHeight, f0 + fstep)
                                    let fc = (f1 - f0) * fg.outputWidth
                                    let fcol = Scratch.buffer(slot: 0, count: fg.patchSize * fc)
                                    im2col(dyn, fcol, fg, rows: f0..<f1)
                                    gemm(
                                        transposeA: false, transposeB: false, m: fg.outputChannels,
                                        n: fc, k: fg.patchSize, a: flipped, lda: fg.patchSize,
                                        b: fcol, ldb: fc, beta: 0,
                                        c: pdx + img * inSize + f0 * fg.outputWidth, ldc: hw)
                                    f0 = f1
                                }
                            }
                        }
                    }
                }
            }
        }
        reducePartials(partials, count: n, size: wSize, into: &dWeight)
        if hasBias { reducePartials(partials + n * wSize, count: n, size: cout, into: &dBias) }
        return inputGradient ? dx : nil
    }

    /// `into[e] += Σ_i partials[i·size + e]`, summed in `i` order.
    static func reducePartials(
        _ partials: UnsafeMutablePointer<Float>, count: Int, size: Int, into target: inout Tensor
    ) {
        precondition(target.count == size)
        target.withUnsafeMutableBufferPointer { pt in
            let pt = pt.baseAddress!
            parallelChunks(count: size, grain: 1 << 14) { range in
                for e in range {
                    var acc = pt[e]
                    for i in 0..<count { acc += partials[i * size + e] }
                    pt[e] = acc
                }
            }
        }
    }

    @inline(__always) static func sumRow(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
        // Eight independent accumulators: vectorizable and order-fixed.
        var acc = SIMD8<Float>()
        var j = 0
        while j + 8 <= count {
            acc += UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self)
            j += 8
        }
        var s = acc.sum()
        while j < count {
            s += p[j]
            j += 1
        }
        return s
    }

    static func geometry(input x: Tensor, weight: Tensor, stride: Int, padding: Int)
        -> ConvGeometry
    {
        precondition(x.rank == 4, "conv2d: input must be [N, C, H, W], got \(x.shape)")
        precondition(
            weight.rank == 4 && weight.shape[2] == weight.shape[3],
            "conv2d: weight must be [C_out, C_in, k, k], got \(weight.shape)")
        precondition(
            weight.shape[1] == x.shape[1],
            "conv2d: expected C_in=\(weight.shape[1]), got input \(x.shape)")
        return ConvGeometry(
            inputChannels: x.shape[1], outputChannels: weight.shape[0],
            kernelSize: weight.shape[2], stride: stride, padding: padding,
            inputHeight: x.shape[2], inputWidth: x.shape[3])
    }

    // MARK: conv_transpose2d

    /// Output size of a transposed convolution: `(H − 1)·s − 2p + k + outputPadding`.
    public static func convTranspose2dOutputSize(
        _ size: Int, kernelSize: Int, stride: Int, padding: Int, outputPadding: Int
    ) -> Int {
        (size - 1) * stride - 2 * padding + kernelSize + outputPadding
    }

    static func transposedGeometry(
        input x: Tensor, weight: Tensor, stride: Int, padding: Int, outputPadding: Int
    ) -> ConvGeometry {
        precondition(x.rank == 4, "convTranspose2d: input must be [N, C, H, W], got \(x.shape)")
        precondition(
            weight.rank == 4 && weight.shape[2] == weight.shape[3] && weight.shape[0] == x.shape[1],
            "convTranspose2d: weight must be [C_in=\(x.shape[1]), C_out, k, k], got \(weight.shape)")
        precondition(
            outputPadding >= 0 && outputPadding < max(stride, 1),
            "convTranspose2d: output padding must be < stride")
        let k = weight.shape[2]
        let g = ConvGeometry(
            inputChannels: weight.shape[1], outputChannels: x.shape[1], kernelSize: k,
            stride: stride, padding: padding,
            inputHeight: convTranspose2dOutputSize(
                x.shape[2], kernelSize: k, stride: stride, padding: padding,
                outputPadding: outputPadding),
            inputWidth: convTranspose2dOutputSize(
                x.shape[3], kernelSize: k, stride: stride, padding: padding,
                outputPadding: outputPadding))
        precondition(g.outputHeight == x.shape[2] && g.outputWidth == x.shape[3])
        return g
    }

    /// Transposed convolution forward (PyTorch `ConvTranspose2d`): the adjoint of `conv2dForward`
    /// with the same stride/padding, plus bias.
    ///
    /// - `x [N, C_in, H, W]`, `weight [C_in, C_out, k, k]`, `bias [C_out]` or nil →
    ///   `[N, C_out, (H−1)·s − 2p + k + op, …]`.
    /// Reference: `convTranspose2dForwardNaive`.
    public static func convTranspose2dForward(
        input x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int,
        outputPadding: Int = 0
    ) -> Tensor {
        // g runs from this layer's output (the conv input side) back to its input.
        let g = transposedGeometry(
            input: x, weight: weight, stride: stride, padding: padding, outputPadding: outputPadding)
        let n = x.shape[0], cin = x.shape[1], cout = g.inputChannels
        let inCols = g.outputHeight * g.outputWidth
        let outSize = cout * g.inputHeight * g.inputWidth
        var y = Tensor(uninitializedShape: [n, cout, g.inputHeight, g.inputWidth])
        let biasScalars = bias?.scalars
        x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                y.withUnsafeMutableBufferPointer { py in
                    let px = px.baseAddress!, pw = pw.baseAddress!, py = py.baseAddress!
                    ThreadPool.current.parallelFor(count: n) { img in
                        let xn = px + img * cin * inCols, yn = py + img * outSize
                        let col = Scratch.buffer(slot: 0, count: g.patchSize * inCols)
                        // col [C_out·k·k, H·W] = Wᵀ (W viewed as [C_in, C_out·k·k]) · x_n [C_in, H·W]
                        gemm(
                            transposeA: true, transposeB: false, m: g.patchSize, n: inCols, k: cin,
                            a: pw, lda: g.patchSize, b: xn, ldb: inCols, beta: 0, c: col,
                            ldc: inCols)
                        yn.update(repeating: 0, count: outSize)
                        col2im(col, yn, g)
                        if let biasScalars {
                            let plane = g.inputHeight * g.inputWidth
                            for o in 0..<cout {
                                let row = yn + o * plane, b = biasScalars[o]
                                for j in 0..<plane { row[j] += b }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Transposed convolution backward: accumulates `dWeight` `[C_in, C_out, k, k]` and `dBias`
    /// (skipped when empty) and returns `∂L/∂x` when `inputGradient` is true.
    /// Reference: `convTranspose2dBackwardNaive`.
    public static func convTranspose2dBackward(
        input x: Tensor, weight: Tensor, dOut: Tensor, stride: Int, padding: Int,
        outputPadding: Int = 0, dWeight: inout Tensor, dBias: inout Tensor,
        inputGradient: Bool = true
    ) -> Tensor? {
        let g = transposedGeometry(
            input: x, weight: weight, stride: stride, padding: padding, outputPadding: outputPadding)
        let n = x.shape[0], cin = x.shape[1], cout = g.inputChannels
        precondition(
            dOut.shape == [n, cout, g.inputHeight, g.inputWidth],
            "convTranspose2d backward: dOut \(dOut.shape)")
        precondition(dWeight.shape == weight.shape)
        let inCols = g.outputHeight * g.outputWidth
        let plane = g.inputHeight * g.inputWidth
        let wSize = weight.count
        let hasBias = dBias.count > 0
        var dx = inputGradient ? Tensor(uninitializedShape: x.shape) : Tensor(shape: [0])
        let partials = Scratch.buffer(slot: 8, count: n * (wSize + cout))
        x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                dOut.withUnsafeBufferPointer { pdy in
                    dx.withUnsafeMutableBufferPointer { pdx in
                        let px = px.baseAddress!, pw = pw.baseAddress!, pdy = pdy.baseAddress!
                        let pdx = inputGradient ? pdx.baseAddress : nil
                        ThreadPool.current.parallelFor(count: n) { img in
                            let xn = px + img * cin * inCols, dyn = pdy + img * cout * plane
                            let col = Scratch.buffer(slot: 0, count: g.patchSize * inCols)
                            im2col(dyn, col, g, rows: 0..<g.outputHeight)
                            // dW_n [C_in, C_out·k·k] = x_n [C_in, H·W] · colᵀ
                            gemm(
                                transposeA: false, transposeB: true, m: cin, n: g.patchSize,
                                k: inCols, a: xn, lda: inCols, b: col, ldb: inCols, beta: 0,
                                c: partials + img * wSize, ldc: g.patchSize)
                            if hasBias {
                                let db = partials + n * wSize + img * cout
                                for o in 0..<cout { db[o] = sumRow(dyn + o * plane, plane) }
                            }
                            if let pdx {
                                // dx_n [C_in, H·W] = W [C_in, C_out·k·k] · col
                                gemm(
                                    transposeA: false, transposeB: false, m: cin, n: inCols,
                                    k: g.patchSize, a: pw, lda: g.patchSize, b: col, ldb: inCols,
                                    beta: 0, c: pdx + img * cin * inCols, ldc: inCols)
                            }
                        }
                    }
                }
            }
        }
        reducePartials(partials, count: n, size: wSize, into: &dWeight)
        if hasBias { reducePartials(partials + n * wSize, count: n, size: cout, into: &dBias) }
        return inputGradient ? dx : nil
    }

    // MARK: naive references

    /// The definition of `conv2dForward`: seven loops, accumulated in Double.
    public static func conv2dForwardNaive(
        input x: Tensor, weight w: Tensor, bias: Tensor?, stride s: Int, padding p: Int
    ) -> Tensor {
        let g = geometry(input: x, weight: w, stride: s, padding: p)
        let n = x.shape[0], k = g.kernelSize
        var y = Tensor(shape: [n, g.outputChannels, g.outputHeight, g.outputWidth])
        for b in 0..<n {
            for o in 0..<g.outputChannels {
                for i in 0..<g.outputHeight {
                    for j in 0..<g.outputWidth {
                        var acc = Double(bias?.scalars[o] ?? 0)
                        for c in 0..<g.inputChannels {
                            for u in 0..<k {
                                for v in 0..<k {
                                    let hi = s * i + u - p, wi = s * j + v - p
                                    guard hi >= 0, hi < g.inputHeight, wi >= 0, wi < g.inputWidth
                                    else { continue }
                                    let wIdx = ((o * g.inputChannels + c) * k + u) * k + v
                                    let xIdx = ((b * g.inputChannels + c) * g.inputHeight + hi) * g.inputWidth + wi
                                    acc += Double(w.scalars[wIdx]) * Double(x.scalars[xIdx])
                                }
                            }
                        }
                        y.scalars[((b * g.outputChannels + o) * g.outputHeight + i) * g.outputWidth + j] = Float(acc)
                    }
                }
            }
        }
        return y
    }

    /// The definition of `conv2dBackward`: returns `(dX, dW, dB)` of `L = Σ y ⊙ dOut`.
    public static func conv2dBackwardNaive(
        input x: Tensor, weight w: Tensor, dOut: Tensor, stride s: Int, padding p: Int
    ) -> (dInput: Tensor, dWeight: Tensor, dBias: Tensor) {
        let g = geometry(input: x, weight: w, stride: s, padding: p)
        let n = x.shape[0], k = g.kernelSize
        var dx = [Double](repeating: 0, count: x.count)
        var dw = [Double](repeating: 0, count: w.count)
        var db = [Double](repeating: 0, count: g.outputChannels)
        for b in 0..<n {
            for o in 0..<g.outputChannels {
                for i in 0..<g.outputHeight {
                    for j in 0..<g.outputWidth {
                        let d = Double(dOut.scalars[((b * g.outputChannels + o) * g.outputHeight + i) * g.outputWidth + j])
                        db[o] += d
                        for c in 0..<g.inputChannels {
                            for u in 0..<k {
                                for v in 0..<k {
                                    let hi = s * i + u - p, wi = s * j + v - p
                                    guard hi >= 0, hi < g.inputHeight, wi >= 0, wi < g.inputWidth
                                    else { continue }
                                    let xi = ((b * g.inputChannels + c) * g.inputHeight + hi)
                                        * g.inputWidth + wi
                                    let wIdx = ((o * g.inputChannels + c) * k + u) * k + v
                                    dx[xi] += Double(w.scalars[wIdx]) * d
                                    dw[wIdx] += Double(x.scalars[xi]) * d
                                }
                            }
                        }
                    }
                }
            }
        }
        return (
            Tensor(shape: x.shape, scalars: dx.map(Float.init)),
            Tensor(shape: w.shape, scalars: dw.map(Float.init)),
            Tensor(shape: [g.outputChannels], scalars: db.map(Float.init))
        )
    }

    /// The definition of `convTranspose2dForward`: every input pixel scatters `x·w` into the output,
    /// `y[n, o, s·i+u−p, s·j+v−p] += x[n, c, i, j]·w[c, o, u, v]`, plus bias.
    public static func convTranspose2dForwardNaive(
        input x: Tensor, weight w: Tensor, bias: Tensor?, stride s: Int, padding p: Int,
        outputPadding: Int = 0
    ) -> Tensor {
        let g = transposedGeometry(
            input: x, weight: w, stride: s, padding: p, outputPadding: outputPadding)
        let n = x.shape[0], cin = x.shape[1], cout = g.inputChannels, k = g.kernelSize
        let ho = g.inputHeight, wo = g.inputWidth
        var y = [Double](repeating: 0, count: n * cout * ho * wo)
        for b in 0..<n {
            for c in 0..<cin {
                for i in 0..<x.shape[2] {
                    for j in 0..<x.shape[3] {
                        let xv = Double(x.scalars[((b * cin + c) * x.shape[2] + i) * x.shape[3] + j])
                        for o in 0..<cout {
                            for u in 0..<k {
                                for v in 0..<k {
                                    let oi = s * i + u - p, oj = s * j + v - p
                                    guard oi >= 0, oi < ho, oj >= 0, oj < wo else { continue }
                                    y[((b * cout + o) * ho + oi) * wo + oj] +=
                                        xv * Double(w.scalars[((c * cout + o) * k + u) * k + v])
                                }
                            }
                        }
                    }
                }
            }
        }
        var out = Tensor(shape: [n, cout, ho, wo], scalars: y.map(Float.init))
        if let bias {
            for b in 0..<n {
                for o in 0..<cout {
                    for e in 0..<(ho * wo) { out.scalars[(b * cout + o) * ho * wo + e] += bias.scalars[o] }
                }
            }
        }
        return out
    }

    /// The definition of `convTranspose2dBackward`: returns `(dX, dW, dB)` of `L = Σ y ⊙ dOut`.
    public static func convTranspose2dBackwardNaive(
        input x: Tensor, weight w: Tensor, dOut: Tensor, stride s: Int, padding p: Int,
        outputPadding: Int = 0
    ) -> (dInput: Tensor, dWeight: Tensor, dBias: Tensor) {
        let g = transposedGeometry(
            input: x, weight: w, stride: s, padding: p, outputPadding: outputPadding)
        let n = x.shape[0], cin = x.shape[1], cout = g.inputChannels, k = g.kernelSize
        let ho = g.inputHeight, wo = g.inputWidth
        var dx = [Double](repeating: 0, count: x.count)
        var dw = [Double](repeating: 0, count: w.count)
        var db = [Double](repeating: 0, count: cout)
        for b in 0..<n {
            for o in 0..<cout {
                for e in 0..<(ho * wo) { db[o] += Double(dOut.scalars[(b * cout + o) * ho * wo + e]) }
            }
            for c in 0..<cin {
                for i in 0..<x.shape[2] {
                    for j in 0..<x.shape[3] {
                        let xi = ((b * cin + c) * x.shape[2] + i) * x.shape[3] + j
                        for o in 0..<cout {
                            for u in 0..<k {
                                for v in 0..<k {
                                    let oi = s * i + u - p, oj = s * j + v - p
                                    guard oi >= 0, oi < ho, oj >= 0, oj < wo else { continue }
                                    let d = Double(dOut.scalars[((b * cout + o) * ho + oi) * wo + oj])
                                    let wIdx = ((c * cout + o) * k + u) * k + v
                                    dx[xi] += d * Double(w.scalars[wIdx])
                                    dw[wIdx] += d * Double(x.scalars[xi])
                                }
                            }
                        }
                    }
                }
            }
        }
        return (
            Tensor(shape: x.shape, scalars: dx.map(Float.init)),
            Tensor(shape: w.shape, scalars: dw.map(Float.init)),
            Tensor(shape: [cout], scalars: db.map(Float.init))
        )
    }
}
