// The definitions of the convolution kernels: direct loops accumulated in Double, PyTorch Conv2d /
// ConvTranspose2d semantics. The fast kernels (TensorCore/Kernels+Conv2d.swift,
// Kernels+ConvTranspose2d.swift) are tested against them; they are not part of the production
// module (the llm.c pattern: a clean reference next to the fast code, used by the tests).

import TensorCore

extension Kernels {

    /// The definition of `conv2dForward`: seven loops, accumulated in Double.
    public static func conv2dForwardNaive(
        input x: Tensor, weight w: Tensor, bias: Tensor?, stride s: Int, padding p: Int
    ) -> Tensor {
        let g = conv2dGeometry(input: x, weight: w, stride: s, padding: p)
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
        let g = conv2dGeometry(input: x, weight: w, stride: s, padding: p)
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
        let g = convTranspose2dGeometry(
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
        let g = convTranspose2dGeometry(
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
