// The token prior as it codes: integer-only inference of the small per-stage network
// (docs/design/prior.md, docs/MODEL-FORMAT.md "Token prior files"), so that encoder and decoder
// compute the same frequencies on every CPU, thread count and BLAS kernel. No floating point is
// used from the integer weights to the frequency table.
//
// Stage l (0-based), position p = (i, j) of an h × w grid, raster order:
//   slot tokens  L, U, UL, UR of stage l (K = "outside the grid") and, for l ≥ 1, stage l−1 at p
//   dense input  x = Σ_{t<l} cbq[t][token_t(p)]   (the partial reconstruction in fixed point)
//   a_j  = b1_j + Σ_d wp[j][d]·x_d + Σ_slots emb[slot][token][j]          (Int32)
//   h_j  = clamp((a_j · mult_j + 2^23) >> 24, 0, 4095)                    (Int64 product)
//   z_k  = b2_k + Σ_j w2[k][j]·h_j                                         (Int32)
//   t_k  = min(((max z − z_k) · c) >> 24, 8191)  (1/256-bit units)         (Int64 product)
//   e_k  = EXP[t_k & 255] >> (t_k >> 8)          (EXP[i] = round(2^24 · 2^(−i/256)))
//   freq_k = 1 + (e_k · R) >> 32, R = ⌊(2^16 − K) · 2^32 / Σ e⌋; the remainder up to 2^16 goes to
//   the first k with the largest z.

import Container
import RealModule

/// One stage's integer weights.
public struct IntegerPriorStage: Sendable, Equatable {
    /// Slot count: 4 (L, U, UL, UR) at stage 1, 5 (… and the previous stage's token) after.
    public var slots: Int
    /// `[H, D]` row-major (empty at stage 1), each in −2047 … 2047.
    public var wp: [Int16]
    /// `[H]`.
    public var b1: [Int32]
    /// `[slots, K + 1, H]`.
    public var emb: [Int32]
    /// `[H]`, the hidden requantisation multipliers (2^24 fixed point).
    public var mult: [Int64]
    /// `[K, H]` row-major, each in −2047 … 2047.
    public var w2: [Int16]
    /// `[K]`.
    public var b2: [Int32]
    /// Logit difference → 1/256-bit units, 2^24 fixed point.
    public var logitScale: Int64

    public init(slots: Int, wp: [Int16], b1: [Int32], emb: [Int32], mult: [Int64], w2: [Int16], b2: [Int32], logitScale: Int64) {
        (self.slots, self.wp, self.b1, self.emb, self.mult, self.w2, self.b2, self.logitScale) = (slots, wp, b1, emb, mult, w2, b2, logitScale)
    }
}

/// The integer prior of one model: every stage, plus the model's codebooks in fixed point.
public struct IntegerPrior: Sendable {
    public let codebookSize: Int
    public let latentChannels: Int
    public let hidden: Int
    /// Fixed-point position of the dense input: `cbq = round(codebook · 2^inputShift)`.
    public let inputShift: Int
    public let stages: [IntegerPriorStage]
    /// `[stage][K · D]` the model's codebooks in fixed point (round half away from zero).
    public let cbq: [[Int32]]

    public static let maxHidden = 4095
    public static let weightLimit = 2047
    public static let denseLimit: Int32 = 2047
    public static let maxBitUnits: Int64 = 8191

    /// - Parameter codebooks: the model's `[K · D]` codebooks, stage 1 first (as loaded: f16 values).
    public init(codebookSize: Int, latentChannels: Int, hidden: Int, inputShift: Int, stages: [IntegerPriorStage], codebooks: [[Float]]) {
        self.codebookSize = codebookSize
        self.latentChannels = latentChannels
        self.hidden = hidden
        self.inputShift = inputShift
        self.stages = stages
        cbq = codebooks.map { IntegerPrior.fixedPoint($0, shift: inputShift) }
    }

    /// `round(v · 2^shift)`, half away from zero, saturated to ±2^30: exact (a power-of-two scale).
    public static func fixedPoint(_ values: [Float], shift: Int) -> [Int32] {
        let scale = Float(sign: .plus, exponent: shift, significand: 1)
        return values.map { v in
            let s = (v * scale).rounded(.toNearestOrAwayFromZero)
            return s.isNaN ? 0 : Int32(max(-1_073_741_824, min(1_073_741_824, s)))
        }
    }

    /// `EXP[i] = round(2^24 · 2^(−i/256))`, i = 0 … 255. Computed in Double; every entry lies more
    /// than 10^-4 from a rounding boundary (tested), so any libm gives the same table.
    public static let expTable: [UInt32] = (0..<256).map { i in
        UInt32((16_777_216.0 * pow2(-Double(i) / 256)).rounded())
    }

    static func pow2(_ x: Double) -> Double {
        // exp2 without Foundation: 2^x = e^(x ln 2) via the series on a reduced argument (|x| < 1 here).
        let y = x * 0.693_147_180_559_945_3
        var term = 1.0, sum = 1.0
        for n in 1..<40 { term *= y / Double(n); sum += term }
        return sum
    }

    /// Scratch buffers for `frequencies`.
    public struct Scratch {
        var dense: [Int32]
        var hidden: [Int32]
        var logits: [Int32]
        var weights: [UInt32]
        public var freq: [UInt32]
        /// `[K + 1]` cumulative frequencies: `cum[k]` = Σ freq[< k].
        public var cum: [UInt32]
        public init(prior: IntegerPrior) {
            dense = Array(repeating: 0, count: prior.latentChannels)
            hidden = Array(repeating: 0, count: prior.hidden)
            logits = Array(repeating: 0, count: prior.codebookSize)
            weights = Array(repeating: 0, count: prior.codebookSize)
            freq = Array(repeating: 0, count: prior.codebookSize)
            cum = Array(repeating: 0, count: prior.codebookSize + 1)
        }
    }

    /// The slot tokens of stage `l` at `p` (`outside` = K where a neighbour is off the grid).
    @inline(__always)
    func slotTokens(stage l: Int, planes: UnsafePointer<UInt16>, n: Int, width w: Int, row i: Int, col j: Int) -> (Int, Int, Int, Int, Int) {
        let k = codebookSize
        let base = planes + l * n
        let p = i * w + j
        let left = j > 0 ? Int(base[p - 1]) : k
        let up = i > 0 ? Int(base[p - w]) : k
        let ul = i > 0 && j > 0 ? Int(base[p - w - 1]) : k
        let ur = i > 0 && j + 1 < w ? Int(base[p - w + 1]) : k
        let prev = l > 0 ? Int(planes[(l - 1) * n + p]) : k
        return (left, up, ul, ur, prev)
    }

    /// The frequency table (`scratch.freq`, summing to 2^16, each ≥ 1) and its cumulative table
    /// (`scratch.cum`) for the stage-`l` token at (i, j), from the stage-`l` tokens before it in
    /// raster order and every token of the stages before `l` (`planes`: stage-major, row-major).
    public func frequencies(stage l: Int, planes: UnsafePointer<UInt16>, height h: Int, width w: Int, row i: Int, col j: Int, scratch s: inout Scratch) {
        let st = stages[l]
        let K = codebookSize, D = latentChannels, H = hidden
        let n = h * w
        let p = i * w + j
        let (left, up, ul, ur, prev) = slotTokens(stage: l, planes: planes, n: n, width: w, row: i, col: j)

        // Hidden layer.
        s.hidden.withUnsafeMutableBufferPointer { hid in
            st.b1.withUnsafeBufferPointer { b1 in for jj in 0..<H { hid[jj] = b1[jj] } }
            if l > 0 {
                s.dense.withUnsafeMutableBufferPointer { x in
                    for d in 0..<D { x[d] = 0 }
                    for t in 0..<l {
                        let tok = Int(planes[t * n + p])
                        cbq[t].withUnsafeBufferPointer { cb in
                            let row = cb.baseAddress! + tok * D
                            for d in 0..<D { x[d] &+= row[d] }
                        }
                    }
                    for d in 0..<D { x[d] = max(-Self.denseLimit, min(Self.denseLimit, x[d])) }
                    st.wp.withUnsafeBufferPointer { wp in
                        for jj in 0..<H {
                            let row = wp.baseAddress! + jj * D
                            var acc: Int32 = 0
                            for d in 0..<D { acc &+= Int32(row[d]) &* x[d] }
                            hid[jj] &+= acc
                        }
                    }
                }
            }
            st.emb.withUnsafeBufferPointer { emb in
                let stride = (K + 1) * H
                let tokens = [left, up, ul, ur, prev]
                for slot in 0..<st.slots {
                    let row = emb.baseAddress! + slot * stride + tokens[slot] * H
                    for jj in 0..<H { hid[jj] &+= row[jj] }
                }
            }
            st.mult.withUnsafeBufferPointer { m in
                for jj in 0..<H {
                    let v = (Int64(hid[jj]) &* m[jj] &+ (1 << 23)) >> 24
                    hid[jj] = Int32(max(0, min(Int64(Self.maxHidden), v)))
                }
            }
        }

        // Output layer and the integer softmax.
        var best: Int32 = .min
        var bestK = 0
        s.logits.withUnsafeMutableBufferPointer { z in
            s.hidden.withUnsafeBufferPointer { hid in
                st.w2.withUnsafeBufferPointer { w2 in
                    for k in 0..<K {
                        let row = w2.baseAddress! + k * H
                        var acc: Int32 = 0
                        for jj in 0..<H { acc &+= Int32(row[jj]) &* hid[jj] }
                        acc &+= st.b2[k]
                        z[k] = acc
                        if acc > best { best = acc; bestK = k }
                    }
                }
            }
        }
        var sum: UInt64 = 0
        Self.expTable.withUnsafeBufferPointer { table in
            for k in 0..<K {
                let diff = Int64(best) - Int64(s.logits[k])
                let t = min((diff &* st.logitScale) >> 24, Self.maxBitUnits)
                let e = table[Int(t & 255)] >> UInt32(t >> 8)
                s.weights[k] = e
                sum += UInt64(e)
            }
        }
        let r = (UInt64(RANS.total - UInt32(K)) << 32) / sum
        var used: UInt32 = 0
        for k in 0..<K {
            let f = 1 + UInt32((UInt64(s.weights[k]) &* r) >> 32)
            s.freq[k] = f
            used += f
        }
        s.freq[bestK] += RANS.total - used
        var c: UInt32 = 0
        for k in 0..<K { s.cum[k] = c; c += s.freq[k] }
        s.cum[K] = c
    }

    /// Ideal code length of a token grid under the prior, bits per stage (`planes` `[L][h · w]`).
    public func codeLength(planes: [[UInt16]], height h: Int, width w: Int) -> [Double] {
        var flat: [UInt16] = []
        for p in planes { flat += p }
        var s = Scratch(prior: self)
        var bits: [Double] = []
        flat.withUnsafeBufferPointer { buf in
            for l in 0..<planes.count {
                var total = 0.0
                for i in 0..<h {
                    for j in 0..<w {
                        frequencies(stage: l, planes: buf.baseAddress!, height: h, width: w, row: i, col: j, scratch: &s)
                        let f = s.freq[Int(buf[l * h * w + i * w + j])]
                        total += 16 - Double.log2(Double(f))
                    }
                }
                bits.append(total)
            }
        }
        return bits
    }

    /// One rANS stream per stage (`planes` `[L][h · w]`, L ≤ the prior's stages).
    public func encode(planes: [[UInt16]], height h: Int, width w: Int) -> [[UInt8]] {
        let n = h * w
        var flat: [UInt16] = []
        flat.reserveCapacity(planes.count * n)
        for p in planes { flat += p }
        var s = Scratch(prior: self)
        var streams: [[UInt8]] = []
        var starts = [UInt32](repeating: 0, count: n), freqs = [UInt32](repeating: 0, count: n)
        flat.withUnsafeBufferPointer { buf in
            for l in 0..<planes.count {
                for i in 0..<h {
                    for j in 0..<w {
                        frequencies(stage: l, planes: buf.baseAddress!, height: h, width: w, row: i, col: j, scratch: &s)
                        let tok = Int(buf[l * n + i * w + j])
                        starts[i * w + j] = s.cum[tok]
                        freqs[i * w + j] = s.freq[tok]
                    }
                }
                var enc = RANSEncoder()
                for p in stride(from: n - 1, through: 0, by: -1) { enc.put(start: starts[p], freq: freqs[p]) }
                streams.append(enc.finish())
            }
        }
        return streams
    }

    /// The token grid `[L][h · w]` of `streams` (one per stage, L = streams.count).
    public func decode(streams: [ArraySlice<UInt8>], height h: Int, width w: Int) throws(RANSError) -> [[UInt16]] {
        let n = h * w, levels = streams.count, K = codebookSize
        guard levels <= stages.count else { throw RANSError(description: "\(levels) token streams; the prior has \(stages.count) stages") }
        var flat = [UInt16](repeating: 0, count: levels * n)
        var s = Scratch(prior: self)
        for l in 0..<levels {
            var dec = try RANSDecoder(streams[l])
            for i in 0..<h {
                for j in 0..<w {
                    flat.withUnsafeBufferPointer { buf in
                        frequencies(stage: l, planes: buf.baseAddress!, height: h, width: w, row: i, col: j, scratch: &s)
                    }
                    let slot = dec.slot
                    // The symbol whose interval holds the slot: binary search of the cumulative table.
                    var lo = 0, hi = K
                    while hi - lo > 1 {
                        let mid = (lo + hi) >> 1
                        if s.cum[mid] <= slot { lo = mid } else { hi = mid }
                    }
                    try dec.advance(start: s.cum[lo], freq: s.freq[lo])
                    flat[l * n + i * w + j] = UInt16(lo)
                }
            }
            try dec.finish()
        }
        return (0..<levels).map { Array(flat[$0 * n..<($0 + 1) * n]) }
    }
}
