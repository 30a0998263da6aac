// 2-D convolution, forward and backward, as im2col + GEMM per image (or per band of output rows
// when the batch is small), spread over the thread pool. The definitions (`conv2dForwardNaive`,
// `conv2dBackwardNaive`, PyTorch Conv2d semantics) live in TestSupport/ReferenceKernels.swift.

extension Kernels {

    /// The convolution of a network in inference: `conv2dForwardWinograd` for 3×3 kernels with
    /// stride 1 and padding 1, `conv2dForwardWinogradStride2` for 5×5 ones with stride 2 and
    /// padding 2 (unless `winogradEnabled` is off), else `conv2dForward`. Training keeps
    /// `conv2dForward` (or oneDNN), whose rounding its tests and checkpoints were made with.
    public static func conv2dInference(
        input x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int
    ) -> Tensor {
        let g = conv2dGeometry(input: x, weight: weight, stride: stride, padding: padding)
        if winogradEnabled, winogradApplies(g) { return conv2dForwardWinograd(input: x, weight: weight, bias: bias) }
        if winogradEnabled, winogradStride2Applies(g) { return conv2dForwardWinogradStride2(input: x, weight: weight, bias: bias) }
        return conv2dForward(input: x, weight: weight, bias: bias, stride: stride, padding: padding)
    }

    /// Convolution forward: `y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v]·x[n,c,s·i+u−p,s·j+v−p]`.
    ///
    /// - `x [N, C_in, H, W]`, `weight [C_out, C_in, k, k]`, `bias [C_out]` or nil → `[N, C_out, H_out, W_out]`.
    /// Reference: `conv2dForwardNaive`.
    public static func conv2dForward(
        input x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int
    ) -> Tensor {
        let g = conv2dGeometry(input: x, weight: weight, stride: stride, padding: padding)
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
        let g = conv2dGeometry(input: x, weight: weight, stride: stride, padding: padding)
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

    /// The geometry of `conv2d` on `x` with `weight` (shapes checked).
    public static func conv2dGeometry(input x: Tensor, weight: Tensor, stride: Int, padding: Int)
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
}
