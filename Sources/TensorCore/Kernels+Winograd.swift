// 3×3 convolution, stride 1, padding 1, forward (and 5×5 stride 2 through space-to-depth, below),
// by Winograd's minimal filtering F(2×2, 3×3)
// (Lavin & Gray 2016, https://arxiv.org/abs/1509.09308): each 2×2 block of outputs from a 4×4 block
// of inputs with 16 multiplications per input–output channel pair instead of 36, i.e. the
// convolution's GEMM work divided by 2.25. Per band of tile rows:
//
//   V[ξ][c][t] = (Bᵀ d B)[ξ]   input transform of tile t, channel c      (adds only, C: CKernels)
//   M[ξ]       = U[ξ] · V[ξ]   16 GEMMs [C_out × C_in] · [C_in × T]      (the work)
//   y          = Aᵀ M A + b    output transform                          (adds only)
//
// with U[ξ][o][c] = (G g Gᵀ)[ξ] the transformed 3×3 filter, and
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 −1 −1].
// Inference only (`Conv2d` in inference mode); training keeps oneDNN or the im2col kernels, so
// the gradients are unchanged. The result differs from the im2col path by float rounding only
// (tested against `conv2dForwardNaive`); the band partition depends on the shape, never on the
// thread count, so a decode is bit-exact across thread counts.

import CKernels
import Foundation

extension Kernels {
    /// Whether inference convolutions take the Winograd paths (3×3 stride 1, and 5×5 stride 2 via
    /// space-to-depth; `VQZ_WINOGRAD=0` turns them off, to compare).
    public nonisolated(unsafe) static var winogradEnabled: Bool = ProcessInfo.processInfo.environment["VQZ_WINOGRAD"] != "0"

    /// The Winograd tile: 4 (F(4×4, 3×3), the default) or 2 (F(2×2, 3×3), `VQZ_WINOGRAD=2`).
    public nonisolated(unsafe) static var winogradTile: Int = ProcessInfo.processInfo.environment["VQZ_WINOGRAD"] == "2" ? 2 : 4

    /// F(4×4, 3×3)'s tiles per band (each 4× the outputs of an F(2×2, 3×3) tile).
    static let winograd4Tiles = 64

    /// Tiles per band: 96, 128 and 256 measured alike on v11z's decoder (Zen 3), 512 and more slower.
    static let winogradTiles = 128

    /// Whether `conv2dForwardWinograd` computes this convolution.
    public static func winogradApplies(_ g: ConvGeometry) -> Bool {
        g.kernelSize == 3 && g.stride == 1 && g.padding == 1 && g.inputHeight >= 2 && g.inputWidth >= 2
    }

    /// The transformed filter `U [16, C_out, C_in]` of `weight [C_out, C_in, 3, 3]`.
    static func winogradFilter(_ w: UnsafePointer<Float>, outputChannels co: Int, inputChannels ci: Int, into u: UnsafeMutablePointer<Float>) {
        let plane = co * ci
        for o in 0..<co {
            for c in 0..<ci {
                let g = w + (o * ci + c) * 9
                // Gg (4 × 3: G applied to the filter's columns), then (Gg)Gᵀ row by row.
                @inline(__always) func row(_ i: Int) -> (Float, Float, Float) {
                    let j0 = (g[0], g[3], g[6]), j1 = (g[1], g[4], g[7]), j2 = (g[2], g[5], g[8])
                    @inline(__always) func gRow(_ t: (Float, Float, Float)) -> Float {
                        switch i {
                        case 0: return t.0
                        case 1: return 0.5 * (t.0 + t.1 + t.2)
                        case 2: return 0.5 * (t.0 - t.1 + t.2)
                        default: return t.2
                        }
                    }
                    return (gRow(j0), gRow(j1), gRow(j2))
                }
                for i in 0..<4 {
                    let (r0, r1, r2) = row(i)
                    let at = u + (4 * i) * plane + o * ci + c
                    at[0] = r0
                    at[plane] = 0.5 * (r0 + r1 + r2)
                    at[2 * plane] = 0.5 * (r0 - r1 + r2)
                    at[3 * plane] = r2
                }
            }
        }
    }

    /// `conv2dForward` for 3×3 kernels, stride 1, padding 1, by F(2×2, 3×3) (file comment). With
    /// `depthToSpace`, the result is `depthToSpace(conv, blockSize: 2)`, written in one pass (no
    /// `[N, C_out, H, W]` intermediate): the decoders' convolution + sub-pixel pairs.
    public static func conv2dForwardWinograd(input x: Tensor, weight: Tensor, bias: Tensor?, depthToSpace: Bool = false, tile: Int = winogradTile) -> Tensor {
        let g = conv2dGeometry(input: x, weight: weight, stride: 1, padding: 1)
        precondition(winogradApplies(g), "conv2dForwardWinograd: needs a 3×3 kernel, stride 1, padding 1")
        return winograd(x, weight: weight, bias: bias, h: g.inputHeight, w: g.inputWidth, ci: g.inputChannels, spaceToDepth: false, depthToSpace: depthToSpace, tile: tile)
    }

    /// Whether `conv2dForwardWinogradStride2` computes this convolution: 5×5, stride 2, padding 2,
    /// even height and width, and enough input channels for the 16 GEMMs to pay (C_in ≥ 8).
    public static func winogradStride2Applies(_ g: ConvGeometry) -> Bool {
        g.kernelSize == 5 && g.stride == 2 && g.padding == 2 && g.inputChannels >= 8
            && g.inputHeight % 2 == 0 && g.inputWidth % 2 == 0 && g.inputHeight >= 4 && g.inputWidth >= 4
    }

    /// A 5×5 convolution with stride 2 and padding 2 (the encoders' layers) as the 3×3 stride-1
    /// convolution it is on the space-to-depth ×2 of its input:
    /// `y[o,i,j] = Σ_{c,a,b,p,q} w[o, c, 2p+a, 2q+b]·X[4c+2a+b, i+p−1, j+q−1]` with
    /// `X[4c+2a+b, m, n] = x[c, 2m+a, 2n+b]` (taps past 4 are zero), by F(2×2, 3×3): 36 taps per
    /// channel instead of 25, 16 multiplications per tile instead of 36 — 1.56× fewer in all. The
    /// input is read in place (`vqz_wino_input_s2d`).
    public static func conv2dForwardWinogradStride2(input x: Tensor, weight: Tensor, bias: Tensor?, tile: Int = winogradTile) -> Tensor {
        let g = conv2dGeometry(input: x, weight: weight, stride: 2, padding: 2)
        precondition(winogradStride2Applies(g), "conv2dForwardWinogradStride2: needs 5×5, stride 2, padding 2, even sizes")
        let co = g.outputChannels, ci = g.inputChannels
        var w3 = Tensor(shape: [co, 4 * ci, 3, 3])
        weight.withUnsafeBufferPointer { pw in
            w3.withUnsafeMutableBufferPointer { p3 in
                for o in 0..<co {
                    for c in 0..<ci {
                        for a in 0..<2 {
                            for b in 0..<2 {
                                for p in 0..<3 where 2 * p + a < 5 {
                                    for q in 0..<3 where 2 * q + b < 5 {
                                        p3[((o * 4 * ci + 4 * c + 2 * a + b) * 3 + p) * 3 + q] = pw[((o * ci + c) * 5 + 2 * p + a) * 5 + 2 * q + b]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return winograd(x, weight: w3, bias: bias, h: g.inputHeight / 2, w: g.inputWidth / 2, ci: 4 * ci, spaceToDepth: true, depthToSpace: false, tile: tile)
    }

    /// Tests: F(4×4, 3×3)'s filter transform on its portable scalar loop instead of AVX2.
    nonisolated(unsafe) public static var winogradPortableFilter = false

    /// The Winograd pipeline, F(2×2, 3×3) (`tile` 2) or F(4×4, 3×3) (`tile` 4: 36 GEMMs per band
    /// of 4×4-output tiles, a quarter of the direct multiplications against F(2×2)'s 4/9), on a
    /// (virtual) input of `ci` channels of `h × w`: `x` itself, or with `spaceToDepth` the
    /// space-to-depth ×2 of `x` [ci/4, 2h, 2w].
    static func winograd(_ x: Tensor, weight: Tensor, bias: Tensor?, h: Int, w: Int, ci: Int, spaceToDepth: Bool, depthToSpace: Bool, tile: Int) -> Tensor {
        precondition(tile == 2 || tile == 4, "winograd: tile \(tile)")
        let co = weight.shape[0], n = x.shape[0], points = (tile + 2) * (tile + 2)
        if let bias { precondition(bias.shape == [co], "conv2d: bias \(bias.shape)") }
        let th = (h + tile - 1) / tile, tw = (w + tile - 1) / tile
        // Bands of tile rows of about `winogradTiles` tiles: V and M of a band stay within a few MB.
        let rowsPerBand = max(1, (tile == 4 ? winograd4Tiles : winogradTiles) / tw)
        let bands = (th + rowsPerBand - 1) / rowsPerBand
        precondition(!depthToSpace || co % 4 == 0, "conv2dForwardWinograd: depth-to-space needs C_out divisible by 4")
        var y = Tensor(uninitializedShape: depthToSpace ? [n, co / 4, 2 * h, 2 * w] : [n, co, h, w])
        let u = UnsafeMutablePointer<Float>.allocate(capacity: points * co * ci)
        defer { u.deallocate() }
        weight.withUnsafeBufferPointer { pw in
            if tile == 4 {
                // Split over output channels (each writes its own rows of every plane).
                let pw = pw.baseAddress!, chunks = min(co, 4 * ThreadPool.current.threadCount)
                ThreadPool.current.parallelFor(count: chunks) { part in
                    vqz_wino4_filter_rows(pw, Int32(co), Int32(ci), Int32(part * co / chunks), Int32((part + 1) * co / chunks), u, winogradPortableFilter ? 1 : 0)
                }
            } else { winogradFilter(pw.baseAddress!, outputChannels: co, inputChannels: ci, into: u) }
        }
        let biasStorage = bias.map { b in UnsafeMutablePointer<Float>.allocate(capacity: b.count) }
        defer { biasStorage?.deallocate() }
        if let bias, let biasStorage { bias.withUnsafeBufferPointer { biasStorage.update(from: $0.baseAddress!, count: bias.count) } }
        let pb = biasStorage.map { UnsafePointer($0) }
        let uc = UnsafePointer(u)
        let scratchCount = tile == 4 ? max(28 * (tw + 2), 40 * tw) : 10 * (tw + 1)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                let px = px.baseAddress!, py = py.baseAddress!
                ThreadPool.current.parallelFor(count: n * bands) { item in
                    let img = item / bands, band = item % bands
                    let tr0 = band * rowsPerBand, tr1 = min(th, tr0 + rowsPerBand)
                    let t = (tr1 - tr0) * tw
                    let v = Scratch.buffer(slot: 11, count: points * ci * t)
                    let m = Scratch.buffer(slot: 12, count: points * co * t)
                    let scratch = Scratch.buffer(slot: 13, count: scratchCount)
                    let xi = px + img * ci * h * w, yi = py + img * co * h * w
                    let (c32, h32, w32, r0, r1, tw32, t32) = (Int32(ci), Int32(h), Int32(w), Int32(tr0), Int32(tr1), Int32(tw), Int32(t))
                    if tile == 4 {
                        vqz_wino4_input(xi, c32, h32, w32, r0, r1, tw32, t32, v, scratch, spaceToDepth ? 1 : 0)
                    } else if spaceToDepth {
                        vqz_wino_input_s2d(xi, c32, h32, w32, r0, r1, tw32, t32, v, scratch)
                    } else {
                        vqz_wino_input(xi, c32, h32, w32, r0, r1, tw32, t32, v, scratch)
                    }
                    // The products, one GEMM per transform point.
                    for p in 0..<points {
                        gemm(transposeA: false, transposeB: false, m: co, n: t, k: ci,
                             a: uc + p * co * ci, lda: ci, b: v + p * ci * t, ldb: t,
                             beta: 0, c: m + p * co * t, ldc: t)
                    }
                    let o32 = Int32(co)
                    if tile == 4 {
                        vqz_wino4_output(m, o32, h32, w32, r0, r1, tw32, t32, pb, yi, scratch, depthToSpace ? 1 : 0)
                    } else if depthToSpace {
                        vqz_wino_output_d2s(m, o32, h32, w32, r0, r1, tw32, t32, pb, yi)
                    } else {
                        vqz_wino_output(m, o32, h32, w32, r0, r1, tw32, t32, pb, yi)
                    }
                }
            }
        }
        return y
    }
}
