// 2-D transposed convolution (the adjoint of Conv2d, PyTorch ConvTranspose2d semantics), forward
// and backward, through the same im2col/col2im + GEMM machinery. The definitions
// (`convTranspose2d…Naive`) live in TestSupport/ReferenceKernels.swift.

extension Kernels {

    /// Output size of a transposed convolution: `(H − 1)·s − 2p + k + outputPadding`.
    public static func convTranspose2dOutputSize(
        _ size: Int, kernelSize: Int, stride: Int, padding: Int, outputPadding: Int
    ) -> Int {
        (size - 1) * stride - 2 * padding + kernelSize + outputPadding
    }

    /// The geometry of the convolution that `convTranspose2d` on `x` with `weight` is the adjoint of
    /// (shapes checked).
    public static func convTranspose2dGeometry(
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
        let g = convTranspose2dGeometry(
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
        let g = convTranspose2dGeometry(
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
}
