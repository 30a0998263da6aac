// Generalized divisive normalization (GDN) and its inverse, full and simplified, forward and
// backward, with CompressAI's non-negative reparameterisation of β and γ. Per image, the
// normalizer over channels is one GEMM: `D [C, H·W] = γ [C, C] · a(x) + β`.

/// Which member of the GDN family (over channels `C` at each pixel; `β [C] > 0`, `γ [C, C] ≥ 0`).
///
/// Reference: Ballé, Laparra & Simoncelli 2016, https://arxiv.org/abs/1511.06281 (GDN);
/// Johnston et al. 2019, https://arxiv.org/abs/1912.08771 (simplified GDN).
public enum GDNKind: String, Sendable, CaseIterable {
    /// `y_i = x_i / sqrt(β_i + Σ_j γ_ij x_j²)`
    case gdn
    /// `y_i = x_i · sqrt(β_i + Σ_j γ_ij x_j²)`
    case inverse
    /// `y_i = x_i / (β_i + Σ_j γ_ij |x_j|)`
    case simplified
    /// `y_i = x_i · (β_i + Σ_j γ_ij |x_j|)`
    case simplifiedInverse

    var usesAbsolute: Bool { self == .simplified || self == .simplifiedInverse }
}

/// CompressAI's `NonNegativeParametrizer`: a stored parameter `p` maps to `max(p, bound)² − pedestal`,
/// with `pedestal = 2⁻³⁶` and `bound = sqrt(minimum + pedestal)` (β: minimum 1e-6; γ: minimum 0).
///
/// The gradient through the lower bound follows CompressAI's `LowerBound`: it passes where
/// `p ≥ bound` or where the incoming gradient is negative (so descent can lift `p` off the bound).
public struct NonNegativeParametrizer: Sendable {
    public static let pedestal: Float = 1.0 / 68_719_476_736  // 2⁻³⁶
    public let minimum: Float
    public let bound: Float

    public init(minimum: Float) {
        self.minimum = minimum
        self.bound = (minimum + Self.pedestal).squareRoot()
    }

    /// The stored value whose effective value is `x`: `sqrt(max(x + pedestal, pedestal))`.
    public func stored(forEffective x: Float) -> Float {
        max(x + Self.pedestal, Self.pedestal).squareRoot()
    }

    /// Effective (non-negative) values of stored parameters.
    public func effective(_ p: Tensor) -> Tensor {
        var out = p
        for i in 0..<out.count {
            let b = max(p.scalars[i], bound)
            out.scalars[i] = b * b - Self.pedestal
        }
        return out
    }

    /// Accumulates `dStored += ∂L/∂p` given `dEffective = ∂L/∂(effective value)`.
    public func accumulateGradient(stored p: Tensor, dEffective: Tensor, into dStored: inout Tensor) {
        for i in 0..<p.count {
            let x = p.scalars[i]
            let dBounded = dEffective.scalars[i] * 2 * max(x, bound)
            if x >= bound || dBounded < 0 { dStored.scalars[i] += dBounded }
        }
    }
}

extension Kernels {
    /// GDN-family forward on `x [N, C, H, W]` with effective `beta [C]`, `gamma [C, C]`.
    ///
    /// Returns the output and the normalizer `D = β + γ·a(x)` (`a = x²` or `|x|`), which
    /// `gdnBackward` reuses (pass `keepNormalizer: false` at inference to skip keeping it).
    /// Reference: `gdnForwardNaive`.
    public static func gdnForward(
        input x: Tensor, beta: Tensor, gamma: Tensor, kind: GDNKind, keepNormalizer: Bool = true
    ) -> (output: Tensor, normalizer: Tensor) {
        var y = Tensor(uninitializedShape: x.shape)
        let norm = gdnForward(input: x, into: &y, beta: beta, gamma: gamma, kind: kind, keepNormalizer: keepNormalizer)
        return (y, norm)
    }

    /// `gdnForward` in place (inference: no normalizer kept): the output overwrites `x`, which a
    /// caller that owns the only reference gets back without a new allocation (and its page faults).
    /// The same values as `gdnForward` (each block's activations are copied before it is written).
    public static func gdnForwardInPlace(_ x: inout Tensor, beta: Tensor, gamma: Tensor, kind: GDNKind) {
        let shape = x.shape
        _ = gdnShape(x, beta, gamma)
        x.withUnsafeMutableBufferPointer { px in
            let raw = px.baseAddress!
            gdnKernel(x: UnsafePointer(raw), y: raw, shape: shape, beta: beta, gamma: gamma, kind: kind, normalizer: nil)
        }
    }

    /// The forward into `y` (same shape as `x`); returns the normalizer when kept.
    static func gdnForward(
        input x: Tensor, into y: inout Tensor, beta: Tensor, gamma: Tensor, kind: GDNKind, keepNormalizer: Bool
    ) -> Tensor {
        _ = gdnShape(x, beta, gamma)
        var norm = keepNormalizer ? Tensor(uninitializedShape: x.shape) : Tensor(shape: [0])
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                norm.withUnsafeMutableBufferPointer { pn in
                    gdnKernel(x: px.baseAddress!, y: py.baseAddress!, shape: x.shape, beta: beta, gamma: gamma, kind: kind,
                              normalizer: keepNormalizer ? pn.baseAddress : nil)
                }
            }
        }
        return norm
    }

    static func gdnKernel(
        x px: UnsafePointer<Float>, y py: UnsafeMutablePointer<Float>, shape: [Int], beta: Tensor, gamma: Tensor,
        kind: GDNKind, normalizer pn: UnsafeMutablePointer<Float>?
    ) {
        let n = shape[0], c = shape[1], hw = shape[2] * shape[3]
        precondition(beta.shape == [c] && gamma.shape == [c, c], "gdn: beta \(beta.shape), gamma \(gamma.shape) for \(shape)")
        let keepNormalizer = pn != nil
        let bands = gdnBands(n: n, hw: hw)
        do {
            gamma.withUnsafeBufferPointer { pg in
                do {
                    do {
                        let pg = pg.baseAddress!
                        let betaS = beta.scalars
                        ThreadPool.current.parallelFor(count: n * bands) { item in
                            let img = item / bands, band = item % bands
                            let jEnd = (band + 1) * hw / bands
                            var j0 = band * hw / bands
                            while j0 < jEnd {  // cache blocks of pixels
                            let bw = min(gdnBlock, jEnd - j0)
                            let off = img * c * hw + j0
                            defer { j0 += bw }
                            let a = Scratch.buffer(slot: 1, count: c * bw)
                            fillActivation(px + off, ld: hw, a, c: c, bw: bw, kind: kind)
                            let d = pn.map { $0 + off } ?? Scratch.buffer(slot: 2, count: c * bw)
                            let ldd = pn == nil ? bw : hw
                            gemm(
                                transposeA: false, transposeB: false, m: c, n: bw, k: c, a: pg,
                                lda: c, b: a, ldb: bw, beta: 0, c: d, ldc: ldd)
                            for i in 0..<c {
                                let xr = px + off + i * hw, yr = py + off + i * hw
                                let dr = d + i * ldd, b = betaS[i]
                                switch kind {
                                case .gdn:
                                    for j in 0..<bw {
                                        dr[j] += b
                                        yr[j] = xr[j] / dr[j].squareRoot()
                                    }
                                case .inverse:
                                    for j in 0..<bw {
                                        dr[j] += b
                                        yr[j] = xr[j] * dr[j].squareRoot()
                                    }
                                case .simplified:
                                    for j in 0..<bw {
                                        dr[j] += b
                                        yr[j] = xr[j] / dr[j]
                                    }
                                case .simplifiedInverse:
                                    for j in 0..<bw {
                                        dr[j] += b
                                        yr[j] = xr[j] * dr[j]
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

    /// GDN-family backward. Accumulates `dBeta += ∂L/∂β`, `dGamma += ∂L/∂γ` (effective parameters;
    /// map them to stored ones with `NonNegativeParametrizer`) and returns `∂L/∂x`.
    ///
    /// With `u_i = ∂L/∂D_i` (e.g. `−dY_i·x_i/D_i²` for `.simplified`): `dx = dY·∂y/∂x|_D + a'(x)·(γᵀu)`,
    /// `dγ = Σ_pixels u·a(x)ᵀ`, `dβ = Σ_pixels u`. Reference: `gdnBackwardNaive`.
    public static func gdnBackward(
        input x: Tensor, normalizer: Tensor, gamma: Tensor, dOut: Tensor, kind: GDNKind,
        dBeta: inout Tensor, dGamma: inout Tensor
    ) -> Tensor {
        let (n, c, hw) = gdnShape(x, dBeta, gamma)
        precondition(normalizer.shape == x.shape && dOut.shape == x.shape, "gdnBackward: shapes")
        precondition(dGamma.shape == [c, c], "gdnBackward: dGamma \(dGamma.shape)")
        var dx = Tensor(uninitializedShape: x.shape)
        let bands = gdnBands(n: n, hw: hw)
        let items = n * bands
        let partSize = c * c + c
        let partials = Scratch.buffer(slot: 9, count: items * partSize)
        x.withUnsafeBufferPointer { px in
            gamma.withUnsafeBufferPointer { pg in
                normalizer.withUnsafeBufferPointer { pn in
                    dOut.withUnsafeBufferPointer { pdy in
                        dx.withUnsafeMutableBufferPointer { pdx in
                            let px = px.baseAddress!, pg = pg.baseAddress!, pn = pn.baseAddress!
                            let pdy = pdy.baseAddress!, pdx = pdx.baseAddress!
                            ThreadPool.current.parallelFor(count: items) { item in
                                let img = item / bands, band = item % bands
                                let jStart = band * hw / bands, jEnd = (band + 1) * hw / bands
                                var j0 = jStart
                                while j0 < jEnd {  // cache blocks of pixels
                                let bw = min(gdnBlock, jEnd - j0)
                                let off = img * c * hw + j0
                                let first = j0 == jStart
                                defer { j0 += bw }
                                let a = Scratch.buffer(slot: 1, count: c * bw)
                                let u = Scratch.buffer(slot: 2, count: c * bw)
                                let t = Scratch.buffer(slot: 3, count: c * bw)
                                fillActivation(px + off, ld: hw, a, c: c, bw: bw, kind: kind)
                                for i in 0..<c {
                                    let xr = px + off + i * hw, dr = pn + off + i * hw
                                    let dyr = pdy + off + i * hw, dxr = pdx + off + i * hw
                                    let ur = u + i * bw
                                    switch kind {
                                    case .gdn:
                                        for j in 0..<bw {
                                            let r = 1 / dr[j].squareRoot()
                                            dxr[j] = dyr[j] * r
                                            ur[j] = -0.5 * dyr[j] * xr[j] * r * r * r
                                        }
                                    case .inverse:
                                        for j in 0..<bw {
                                            let s = dr[j].squareRoot()
                                            dxr[j] = dyr[j] * s
                                            ur[j] = 0.5 * dyr[j] * xr[j] / s
                                        }
                                    case .simplified:
                                        for j in 0..<bw {
                                            let r = 1 / dr[j]
                                            dxr[j] = dyr[j] * r
                                            ur[j] = -dyr[j] * xr[j] * r * r
                                        }
                                    case .simplifiedInverse:
                                        for j in 0..<bw {
                                            dxr[j] = dyr[j] * dr[j]
                                            ur[j] = dyr[j] * xr[j]
                                        }
                                    }
                                }
                                // t [C, bw] = γᵀ · u
                                gemm(
                                    transposeA: true, transposeB: false, m: c, n: bw, k: c, a: pg,
                                    lda: c, b: u, ldb: bw, beta: 0, c: t, ldc: bw)
                                for i in 0..<c {
                                    let xr = px + off + i * hw, dxr = pdx + off + i * hw
                                    let tr = t + i * bw
                                    if kind.usesAbsolute {
                                        for j in 0..<bw {
                                            let sign: Float = xr[j] > 0 ? 1 : (xr[j] < 0 ? -1 : 0)
                                            dxr[j] += tr[j] * sign  // d|x|/dx, 0 at 0
                                        }
                                    } else {
                                        for j in 0..<bw { dxr[j] += tr[j] * 2 * xr[j] }
                                    }
                                }
                                // dγ partial [C, C] = u · aᵀ; dβ partial = row sums of u.
                                let part = partials + item * partSize
                                gemm(
                                    transposeA: false, transposeB: true, m: c, n: c, k: bw, a: u,
                                    lda: bw, b: a, ldb: bw, beta: first ? 0 : 1, c: part, ldc: c)
                                for i in 0..<c {
                                    part[c * c + i] = (first ? 0 : part[c * c + i]) + sumRow(u + i * bw, bw)
                                }
                                }
                            }
                        }
                    }
                }
            }
        }
        // Sum the per-item partials in item order (deterministic).
        for item in 0..<items {
            let part = partials + item * partSize
            dGamma.withUnsafeMutableBufferPointer { d in
                for e in 0..<(c * c) { d[e] += part[e] }
            }
            dBeta.withUnsafeMutableBufferPointer { d in
                for i in 0..<c { d[i] += part[c * c + i] }
            }
        }
        return dx
    }

    private static func gdnShape(_ x: Tensor, _ beta: Tensor, _ gamma: Tensor) -> (Int, Int, Int) {
        precondition(x.rank == 4, "GDN: input must be [N, C, H, W], got \(x.shape)")
        let c = x.shape[1]
        precondition(beta.shape == [c], "GDN: expected beta [\(c)], got \(beta.shape)")
        precondition(gamma.shape == [c, c], "GDN: expected gamma [\(c), \(c)], got \(gamma.shape)")
        return (x.shape[0], c, x.shape[2] * x.shape[3])
    }

    /// Pixels per cache block: the `[C, block]` scratch buffers stay in L2.
    static let gdnBlock = 512

    private static func gdnBands(n: Int, hw: Int) -> Int {
        n >= 4 ? 1 : max(1, hw / 2048)
    }

    @inline(__always)
    private static func fillActivation(
        _ x: UnsafePointer<Float>, ld: Int, _ a: UnsafeMutablePointer<Float>, c: Int, bw: Int,
        kind: GDNKind
    ) {
        for i in 0..<c {
            let xr = x + i * ld, ar = a + i * bw
            if kind.usesAbsolute {
                for j in 0..<bw { ar[j] = abs(xr[j]) }
            } else {
                for j in 0..<bw { ar[j] = xr[j] * xr[j] }
            }
        }
    }

    // MARK: naive references

    /// The definition of `gdnForward`, per pixel, in Double.
    public static func gdnForwardNaive(input x: Tensor, beta: Tensor, gamma: Tensor, kind: GDNKind)
        -> Tensor
    {
        let (n, c, hw) = gdnShape(x, beta, gamma)
        var y = Tensor(shape: x.shape)
        for b in 0..<n {
            for p in 0..<hw {
                for i in 0..<c {
                    var d = Double(beta.scalars[i])
                    for j in 0..<c {
                        let xj = Double(x.scalars[(b * c + j) * hw + p])
                        d += Double(gamma.scalars[i * c + j]) * (kind.usesAbsolute ? abs(xj) : xj * xj)
                    }
                    let xi = Double(x.scalars[(b * c + i) * hw + p])
                    let v: Double
                    switch kind {
                    case .gdn: v = xi / d.squareRoot()
                    case .inverse: v = xi * d.squareRoot()
                    case .simplified: v = xi / d
                    case .simplifiedInverse: v = xi * d
                    }
                    y.scalars[(b * c + i) * hw + p] = Float(v)
                }
            }
        }
        return y
    }

    /// The definition of `gdnBackward` (effective parameters), per pixel, in Double.
    public static func gdnBackwardNaive(
        input x: Tensor, beta: Tensor, gamma: Tensor, dOut: Tensor, kind: GDNKind
    ) -> (dInput: Tensor, dBeta: Tensor, dGamma: Tensor) {
        let (n, c, hw) = gdnShape(x, beta, gamma)
        var dx = [Double](repeating: 0, count: x.count)
        var dBeta = [Double](repeating: 0, count: c)
        var dGamma = [Double](repeating: 0, count: c * c)
        for b in 0..<n {
            for p in 0..<hw {
                let xs = (0..<c).map { Double(x.scalars[(b * c + $0) * hw + p]) }
                let dys = (0..<c).map { Double(dOut.scalars[(b * c + $0) * hw + p]) }
                let a = xs.map { kind.usesAbsolute ? abs($0) : $0 * $0 }
                let da = xs.map { kind.usesAbsolute ? ($0 > 0 ? 1.0 : ($0 < 0 ? -1.0 : 0)) : 2 * $0 }
                for i in 0..<c {
                    var d = Double(beta.scalars[i])
                    for j in 0..<c { d += Double(gamma.scalars[i * c + j]) * a[j] }
                    // y_i = x_i · f(D_i): dy/dx_i (direct) = f(D), dy/dD = x_i f'(D).
                    let f: Double, fPrime: Double
                    switch kind {
                    case .gdn: f = 1 / d.squareRoot(); fPrime = -0.5 / (d * d.squareRoot())
                    case .inverse: f = d.squareRoot(); fPrime = 0.5 / d.squareRoot()
                    case .simplified: f = 1 / d; fPrime = -1 / (d * d)
                    case .simplifiedInverse: f = d; fPrime = 1
                    }
                    dx[(b * c + i) * hw + p] += dys[i] * f
                    let u = dys[i] * xs[i] * fPrime
                    dBeta[i] += u
                    for j in 0..<c {
                        dGamma[i * c + j] += u * a[j]
                        dx[(b * c + j) * hw + p] += u * Double(gamma.scalars[i * c + j]) * da[j]
                    }
                }
            }
        }
        return (
            Tensor(shape: x.shape, scalars: dx.map(Float.init)),
            Tensor(shape: [c], scalars: dBeta.map(Float.init)),
            Tensor(shape: [c, c], scalars: dGamma.map(Float.init))
        )
    }
}
