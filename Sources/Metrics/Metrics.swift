// Image quality and rate–distortion comparison: PSNR, SSIM and MS-SSIM on 8-bit RGB, and the
// Bjøntegaard delta rate between two RD curves.
//
// MS-SSIM follows Wang, Simoncelli & Bovik 2003 ("Multi-scale structural similarity for image quality
// assessment") with the conventions of pytorch_msssim, which CompressAI reports: an 11-tap Gaussian
// window of σ 1.5 applied separably without padding, K = (0.01, 0.03), L = 255, five scales with
// weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2×2 average pooling between scales (an odd
// dimension is padded with one zero on both sides, and the zeros count in the average), negative
// contrast-structure terms clamped to 0, computed per channel and averaged over R, G, B.
//
// BD-rate: Bjøntegaard, VCEG-M33 (2001): log-rate as a cubic polynomial of PSNR, least squares, both
// integrated over the overlapping PSNR range; and the piecewise-cubic (PCHIP, Fritsch–Carlson)
// variant used by the JVET common test conditions.

import Foundation

public enum Metrics {
    /// PSNR in dB between two 8-bit buffers of equal size; +∞ when they are equal.
    public static func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
        precondition(a.count == b.count && !a.isEmpty, "psnr: sizes differ")
        var s = 0.0
        for i in 0..<a.count { let d = Double(a[i]) - Double(b[i]); s += d * d }
        return s == 0 ? .infinity : 10 * log10(255 * 255 / (s / Double(a.count)))
    }

    /// What `cappedPSNR` reports for identical images.
    public static let psnrCap = 99.0

    /// `psnr` capped at `psnrCap` (99 dB) for identical images, so that averages over images stay
    /// finite: the PSNR every report of this project uses (vqz encode/eval, training validation,
    /// the benchmarks).
    public static func cappedPSNR(_ a: [UInt8], _ b: [UInt8]) -> Double {
        min(psnr(a, b), psnrCap)
    }

    /// MS-SSIM in dB: `−10·log10(1 − msssim)` (+∞ for identical images).
    public static func decibels(msssim: Double) -> Double {
        msssim >= 1 ? .infinity : -10 * log10(1 - msssim)
    }

    static let weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]

    /// The normalised 11-tap Gaussian window, σ = 1.5.
    static let window: [Double] = {
        let g = (-5...5).map { exp(-Double($0 * $0) / (2 * 1.5 * 1.5)) }
        let sum = g.reduce(0, +)
        return g.map { $0 / sum }
    }()

    /// A single-channel image in doubles.
    struct Plane {
        var width: Int, height: Int
        var v: [Double]
    }

    /// Separable Gaussian filter, 'valid' (each side shrinks by 5).
    static func filter(_ p: Plane) -> Plane {
        let w = p.width - 10, h = p.height - 10
        var rows = [Double](repeating: 0, count: w * p.height)
        for y in 0..<p.height {
            for x in 0..<w {
                var s = 0.0
                for k in 0..<11 { s += window[k] * p.v[y * p.width + x + k] }
                rows[y * w + x] = s
            }
        }
        var out = [Double](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                var s = 0.0
                for k in 0..<11 { s += window[k] * rows[(y + k) * w + x] }
                out[y * w + x] = s
            }
        }
        return Plane(width: w, height: h, v: out)
    }

    /// (mean SSIM, mean contrast-structure) of one channel at one scale.
    static func ssimAndCS(_ x: Plane, _ y: Plane) -> (ssim: Double, cs: Double) {
        let c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255)
        let mu1 = filter(x), mu2 = filter(y)
        let xx = filter(Plane(width: x.width, height: x.height, v: zip(x.v, x.v).map(*)))
        let yy = filter(Plane(width: y.width, height: y.height, v: zip(y.v, y.v).map(*)))
        let xy = filter(Plane(width: x.width, height: x.height, v: zip(x.v, y.v).map(*)))
        var ssim = 0.0, cs = 0.0
        for i in 0..<mu1.v.count {
            let m1 = mu1.v[i], m2 = mu2.v[i]
            let s11 = xx.v[i] - m1 * m1, s22 = yy.v[i] - m2 * m2, s12 = xy.v[i] - m1 * m2
            let csMap = (2 * s12 + c2) / (s11 + s22 + c2)
            cs += csMap
            ssim += (2 * m1 * m2 + c1) / (m1 * m1 + m2 * m2 + c1) * csMap
        }
        let n = Double(mu1.v.count)
        return (ssim / n, cs / n)
    }

    /// 2×2 average pooling, stride 2; an odd dimension gets one zero of padding on both sides.
    static func pool(_ p: Plane) -> Plane {
        let padY = p.height % 2, padX = p.width % 2
        let h = (p.height + 2 * padY - 2) / 2 + 1, w = (p.width + 2 * padX - 2) / 2 + 1
        var out = [Double](repeating: 0, count: w * h)
        for oy in 0..<h {
            for ox in 0..<w {
                var s = 0.0
                for dy in 0..<2 {
                    for dx in 0..<2 {
                        let y = 2 * oy + dy - padY, x = 2 * ox + dx - padX
                        if y >= 0 && y < p.height && x >= 0 && x < p.width { s += p.v[y * p.width + x] }
                    }
                }
                out[oy * w + ox] = s / 4
            }
        }
        return Plane(width: w, height: h, v: out)
    }

    /// The three channels of an interleaved 8-bit RGB buffer.
    static func planes(_ rgb: [UInt8], width: Int, height: Int) -> [Plane] {
        (0..<3).map { c in Plane(width: width, height: height, v: (0..<(width * height)).map { Double(rgb[$0 * 3 + c]) }) }
    }

    /// Smallest side MS-SSIM accepts: the 11-tap window must fit at the fifth scale.
    public static let msssimMinimumSide = 161

    /// MS-SSIM and single-scale SSIM of two interleaved 8-bit RGB images (`[H, W, 3]`).
    public static func msssim(_ reference: [UInt8], _ test: [UInt8], width: Int, height: Int) -> (msssim: Double, ssim: Double) {
        precondition(reference.count == width * height * 3 && test.count == reference.count, "msssim: sizes differ")
        precondition(min(width, height) >= msssimMinimumSide, "msssim: the image is smaller than \(msssimMinimumSide) pixels on a side")
        var total = 0.0, ssim0 = 0.0
        for (var x, var y) in zip(planes(reference, width: width, height: height), planes(test, width: width, height: height)) {
            var value = 1.0
            for level in 0..<5 {
                let (s, cs) = ssimAndCS(x, y)
                if level == 0 { ssim0 += s / 3 }
                if level < 4 {
                    value *= pow(max(cs, 0), weights[level])
                    x = pool(x)
                    y = pool(y)
                } else {
                    value *= pow(max(s, 0), weights[level])
                }
            }
            total += value / 3
        }
        return (total, ssim0)
    }

    // MARK: BD-rate

    /// How the log-rate curve is interpolated.
    public enum BDMethod: String, Sendable, CaseIterable {
        /// A least-squares cubic polynomial (Bjøntegaard 2001).
        case cubic
        /// A piecewise cubic Hermite interpolant with Fritsch–Carlson slopes (PCHIP).
        case pchip
    }

    /// The average rate difference in percent of `test` against `anchor` at equal quality, over the
    /// quality range both cover (negative: `test` needs fewer bits). Nil when the ranges do not
    /// overlap or a curve has fewer than 4 points (cubic) or 2 points (PCHIP).
    public static func bdRate(anchor: [(rate: Double, quality: Double)], test: [(rate: Double, quality: Double)], method: BDMethod = .cubic) -> Double? {
        let a = anchor.sorted { $0.quality < $1.quality }, t = test.sorted { $0.quality < $1.quality }
        guard let aMin = a.first?.quality, let aMax = a.last?.quality, let tMin = t.first?.quality, let tMax = t.last?.quality else { return nil }
        let lo = max(aMin, tMin), hi = min(aMax, tMax)
        guard hi > lo else { return nil }
        func integral(_ curve: [(rate: Double, quality: Double)]) -> Double? {
            let x = curve.map(\.quality), y = curve.map { log($0.rate) }
            switch method {
            case .cubic:
                guard curve.count >= 4, let p = Polynomial.fit(x: x, y: y, degree: 3) else { return nil }
                return p.integral(from: lo, to: hi)
            case .pchip:
                guard curve.count >= 2, Set(x).count == x.count else { return nil }
                return PCHIP(x: x, y: y).integral(from: lo, to: hi)
            }
        }
        guard let ia = integral(a), let it = integral(t) else { return nil }
        return (exp((it - ia) / (hi - lo)) - 1) * 100
    }
}

/// A polynomial fitted on centred, scaled abscissae (well conditioned for PSNR-sized x).
struct Polynomial {
    var coefficients: [Double]  // in u = (x − centre) / scale, lowest degree first
    var centre: Double, scale: Double

    static func fit(x: [Double], y: [Double], degree: Int) -> Polynomial? {
        let n = x.count, m = degree + 1
        guard n >= m else { return nil }
        let centre = x.reduce(0, +) / Double(n)
        let scale = max(1e-12, sqrt(x.map { ($0 - centre) * ($0 - centre) }.reduce(0, +) / Double(n)))
        let u = x.map { ($0 - centre) / scale }
        // Normal equations (small and well conditioned after scaling), solved by Gaussian
        // elimination with partial pivoting.
        var a = [[Double]](repeating: [Double](repeating: 0, count: m + 1), count: m)
        for i in 0..<m {
            for j in 0..<m { a[i][j] = u.reduce(0) { $0 + pow($1, Double(i + j)) } }
            a[i][m] = zip(u, y).reduce(0) { $0 + pow($1.0, Double(i)) * $1.1 }
        }
        for col in 0..<m {
            guard let pivot = (col..<m).max(by: { abs(a[$0][col]) < abs(a[$1][col]) }), abs(a[pivot][col]) > 1e-300 else { return nil }
            a.swapAt(col, pivot)
            for r in 0..<m where r != col {
                let f = a[r][col] / a[col][col]
                for c in col...m { a[r][c] -= f * a[col][c] }
            }
        }
        return Polynomial(coefficients: (0..<m).map { a[$0][m] / a[$0][$0] }, centre: centre, scale: scale)
    }

    func integral(from lo: Double, to hi: Double) -> Double {
        func antiderivative(_ x: Double) -> Double {
            let u = (x - centre) / scale
            return coefficients.enumerated().reduce(0) { $0 + $1.element * pow(u, Double($1.offset + 1)) / Double($1.offset + 1) } * scale
        }
        return antiderivative(hi) - antiderivative(lo)
    }
}

/// Piecewise cubic Hermite interpolation with Fritsch–Carlson slopes and the end-point rule of
/// SciPy's `PchipInterpolator`.
struct PCHIP {
    var x: [Double], y: [Double], d: [Double]

    init(x: [Double], y: [Double]) {
        self.x = x
        self.y = y
        let n = x.count
        let h = (0..<(n - 1)).map { x[$0 + 1] - x[$0] }
        let m = (0..<(n - 1)).map { (y[$0 + 1] - y[$0]) / h[$0] }
        var d = [Double](repeating: 0, count: n)
        if n == 2 {
            d = [m[0], m[0]]
        } else {
            for k in 1..<(n - 1) {
                if m[k - 1] == 0 || m[k] == 0 || (m[k - 1] > 0) != (m[k] > 0) { d[k] = 0; continue }
                let w1 = 2 * h[k] + h[k - 1], w2 = h[k] + 2 * h[k - 1]
                d[k] = (w1 + w2) / (w1 / m[k - 1] + w2 / m[k])
            }
            func sign(_ v: Double) -> Int { v > 0 ? 1 : (v < 0 ? -1 : 0) }
            func edge(_ h0: Double, _ h1: Double, _ m0: Double, _ m1: Double) -> Double {
                let e = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
                if sign(e) != sign(m0) { return 0 }
                if sign(m0) != sign(m1) && abs(e) > 3 * abs(m0) { return 3 * m0 }
                return e
            }
            d[0] = edge(h[0], h[1], m[0], m[1])
            d[n - 1] = edge(h[n - 2], h[n - 3], m[n - 2], m[n - 3])
        }
        self.d = d
    }

    func value(_ t: Double, segment k: Int) -> Double {
        let h = x[k + 1] - x[k], s = (t - x[k]) / h
        let h00 = (1 + 2 * s) * (1 - s) * (1 - s), h10 = s * (1 - s) * (1 - s)
        let h01 = s * s * (3 - 2 * s), h11 = s * s * (s - 1)
        return h00 * y[k] + h10 * h * d[k] + h01 * y[k + 1] + h11 * h * d[k + 1]
    }

    /// ∫ over [lo, hi] ⊆ [x₀, xₙ₋₁]: three-point Gauss–Legendre per segment piece (exact for cubics).
    func integral(from lo: Double, to hi: Double) -> Double {
        let nodes = [-sqrt(0.6), 0, sqrt(0.6)], weights = [5.0 / 9, 8.0 / 9, 5.0 / 9]
        var total = 0.0
        for k in 0..<(x.count - 1) {
            let a = max(lo, x[k]), b = min(hi, x[k + 1])
            guard b > a else { continue }
            let mid = (a + b) / 2, half = (b - a) / 2
            for (node, w) in zip(nodes, weights) { total += w * half * value(mid + half * node, segment: k) }
        }
        return total
    }
}
