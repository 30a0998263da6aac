// The token prior as it codes: integer-only inference of the small per-stage network
// (docs/design/prior.md, docs/MODEL-FORMAT.md "Token prior files"), so that encoder and decoder
// compute the same frequencies on every CPU, thread count and BLAS kernel. No floating point is
// used from the integer weights to the frequency table.
//
// Stage l (0-based), position p = (i, j) of an h × w grid, raster order:
//   slot tokens  L, U, UL, UR, LL, UU of stage l (K = "outside the grid"), for l ≥ 1 stage l−1 at
//                p, right of p and below p, and the file's level − 1
//   dense input  x = Σ_{t<l} cbq[t][token_t(p)] (the partial reconstruction in fixed point, each
//                component clamped to ±2047), then (x_L + x_R + x_U + x_D) >> 2 (for l ≥ 1)
//   a_j  = b1_j + Σ_d wp[j][d]·input_d + Σ_slots emb[slot][token][j]      (Int32)
//   h_j  = clamp((a_j · mult_j + 2^23) >> 24, 0, 4095)                    (Int64 product)
//   z_k  = b2_k + Σ_j w2[k][j]·h_j                                         (Int32)
//   t_k  = min(((max z − z_k) · c) >> 24, 8191)  (1/256-bit units)         (Int64 product)
//   e_k  = EXP[t_k & 255] >> (t_k >> 8)          (EXP[i] = round(2^24 · 2^(−i/256)))
//   freq_k = 1 + (e_k · R) >> 32, R = ⌊(2^16 − K) · 2^32 / Σ e⌋; the remainder up to 2^16 goes to
//   the first k with the largest z.

import Container
import RealModule
import CTokenPrior
import TensorCore
#if canImport(Glibc)
    import Glibc
#endif

/// One stage's integer weights.
public struct IntegerPriorStage: Sendable, Equatable {
    /// Slot count: `IntegerPrior.slotCount(stage:)`.
    public var slots: Int
    /// `[H, 2·D]` row-major (empty at stage 1), each in −2047 … 2047.
    public var wp: [Int16]
    /// `[H]`.
    public var b1: [Int32]
    /// `[slots, K + 1, H]`, as the file stores them: i16 values `v`, the embedding being `v · 2^embShift`
    /// (kept in 16 bits in memory too: half the reading, the allocation and the cache footprint).
    public private(set) var emb16: [Int16]
    public private(set) var embShift: Int
    /// `[H]`, the hidden requantisation multipliers (2^24 fixed point).
    public var mult: [Int64]
    /// `[K, H]` row-major, each in −2047 … 2047.
    public var w2: [Int16]
    /// `[K]`.
    public var b2: [Int32]
    /// Logit difference → 1/256-bit units, 2^24 fixed point.
    public var logitScale: Int64

    /// `[slots, K + 1, H]`, the embeddings' values (`emb16 · 2^embShift`).
    public var emb: [Int32] { emb16.map { Int32($0) &* (1 << Int32(embShift)) } }

    /// The smallest left shift (0 … 16) that brings every embedding within ±32767 after rounding.
    public static func embeddingShift(_ emb: [Int32]) -> Int {
        let m = emb.map { abs(Int64($0)) }.max() ?? 0
        var s = 0
        while s < 16, (m + (1 << s) / 2) >> s > 32767 { s += 1 }
        return s
    }

    /// From embedding values on the i16 grid (`v · 2^s` with |v| ≤ 32767, s = `embeddingShift(emb)`;
    /// `PriorTrainer`'s quantization makes them so).
    public init(slots: Int, wp: [Int16], b1: [Int32], emb: [Int32], mult: [Int64], w2: [Int16], b2: [Int32], logitScale: Int64) {
        let shift = Self.embeddingShift(emb)
        precondition(emb.allSatisfy({ ($0 >> shift) << shift == $0 && abs($0 >> shift) <= 32767 }),
                     "IntegerPriorStage: embeddings are not i16 values shifted by \(shift)")
        self.init(slots: slots, wp: wp, b1: b1, emb16: emb.map { Int16($0 >> shift) }, embShift: shift, mult: mult, w2: w2, b2: b2, logitScale: logitScale)
    }

    /// From the stored i16 embeddings and their shift (0 … 16).
    public init(slots: Int, wp: [Int16], b1: [Int32], emb16: [Int16], embShift: Int, mult: [Int64], w2: [Int16], b2: [Int32], logitScale: Int64) {
        precondition((0...16).contains(embShift), "IntegerPriorStage: embedding shift \(embShift) outside 0 … 16")
        (self.slots, self.wp, self.b1, self.emb16, self.embShift, self.mult, self.w2, self.b2, self.logitScale) =
            (slots, wp, b1, emb16, embShift, mult, w2, b2, logitScale)
    }

    /// Equal weights: the same embedding values, however they are split into `emb16` and `embShift`.
    public static func == (a: Self, b: Self) -> Bool {
        a.slots == b.slots && a.wp == b.wp && a.b1 == b.b1 && a.mult == b.mult && a.w2 == b.w2 && a.b2 == b.b2
            && a.logitScale == b.logitScale && (a.embShift == b.embShift ? a.emb16 == b.emb16 : a.emb == b.emb)
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
        pairedW2 = stages.map { Self.paired($0.w2, inputs: hidden, outputs: codebookSize) }
        pairedWp = stages.enumerated().map { l, st in
            Self.paired(st.wp, inputs: Self.denseCount(stage: l, latentChannels: latentChannels), outputs: hidden)
        }
    }

    /// `w [outputs, inputs]` in the paired layout of the vector kernels (`vqz_prior_pair_weights`);
    /// empty where they do not take it (outputs not a multiple of 16, inputs odd or none).
    static func paired(_ w: [Int16], inputs: Int, outputs: Int) -> [Int16] {
        guard inputs > 0, inputs % 2 == 0, outputs % 16 == 0, w.count == inputs * outputs else { return [] }
        var p = [Int16](repeating: 0, count: w.count)
        p.withUnsafeMutableBufferPointer { vqz_prior_pair_weights(w, Int32(inputs), Int32(outputs), $0.baseAddress!) }
        return p
    }

    /// Per stage, `w2` in the paired layout the vector kernels read (`paired`); empty where K is not
    /// a multiple of 16 (the kernels also need H a multiple of 16, and check it).
    let pairedW2: [[Int16]]

    /// Per stage, the dense weights `wp` [H, 2·D] in the same paired layout (pairs of inputs, groups
    /// of 16 hidden units) for the AVX-512 dense kernel; empty at stage 1 and where H is not a
    /// multiple of 16.
    let pairedWp: [[Int16]]

    /// `round(v · 2^shift)`, half away from zero, saturated to ±2^30: exact (a power-of-two scale).
    /// Without a libm call per value (`rounded(_:)` is one on baseline x86-64; this runs over every
    /// code vector each time a prior is bound): below 2^30 in magnitude the product truncates to an
    /// Int32 t, and s − t is exact (for |s| ≥ 2^23, s is an integer and s = t; below, t fits a
    /// Float's 24 bits), so comparing it with ±0.5 rounds halves away from zero as `rounded` does.
    public static func fixedPoint(_ values: [Float], shift: Int) -> [Int32] {
        let scale = Float(sign: .plus, exponent: shift, significand: 1)
        let limit: Float = 1_073_741_824
        return [Int32](unsafeUninitializedCapacity: values.count) { out, initialized in
            values.withUnsafeBufferPointer { v in
                for i in 0..<v.count {
                    let s = v[i] * scale
                    if s.isNaN { out[i] = 0; continue }
                    if s >= limit { out[i] = 1 << 30; continue }
                    if s <= -limit { out[i] = -(1 << 30); continue }
                    let t = Int32(s)  // toward zero
                    let d = s - Float(t)
                    out[i] = t &+ (d >= 0.5 ? 1 : d <= -0.5 ? -1 : 0)
                }
            }
            initialized = values.count
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

    /// Slot count of stage `l`: L, U, UL, UR, LL, UU of the stage itself, for `l` ≥ 1 the previous
    /// stage's tokens at the position, to its right and below, and last the file's level − 1 (the
    /// encoder's token choice, its λ, depends on the level).
    public static func slotCount(stage l: Int) -> Int { l == 0 ? 7 : 10 }

    /// Dense inputs of stage `l`: none at stage 1, else the partial reconstruction at the position
    /// and the mean of its four neighbours (2·D).
    public static func denseCount(stage l: Int, latentChannels d: Int) -> Int { l == 0 ? 0 : 2 * d }

    /// The slot tokens of stage `l` at (i, j) into `out` (K for a position off the grid).
    @inline(__always)
    public static func slotTokens(stage l: Int, level: Int, planes: UnsafePointer<UInt16>, height h: Int, width w: Int, row i: Int, col j: Int,
                                  outside k: Int, into out: UnsafeMutablePointer<Int>) {
        let n = h * w
        let cur = planes + l * n
        let p = i * w + j
        out[0] = j > 0 ? Int(cur[p - 1]) : k
        out[1] = i > 0 ? Int(cur[p - w]) : k
        out[2] = i > 0 && j > 0 ? Int(cur[p - w - 1]) : k
        out[3] = i > 0 && j + 1 < w ? Int(cur[p - w + 1]) : k
        out[4] = j > 1 ? Int(cur[p - 2]) : k
        out[5] = i > 1 ? Int(cur[p - 2 * w]) : k
        if l > 0 {
            let prev = planes + (l - 1) * n
            out[6] = Int(prev[p])
            out[7] = j + 1 < w ? Int(prev[p + 1]) : k
            out[8] = i + 1 < h ? Int(prev[p + w]) : k
        }
        out[slotCount(stage: l) - 1] = level - 1
    }

    /// The partial reconstruction of stage `l` (Σ of stages < `l`'s fixed-point code vectors, each
    /// component clamped to ±2047) at every position: `[h · w · D]`.
    public static func partialReconstruction(stage l: Int, planes: UnsafePointer<UInt16>, count n: Int, cbq: [[Int32]], latentChannels d: Int) -> [Int16] {
        var out = [Int16](repeating: 0, count: n * d)
        let chunk = min(n, 1024)
        var acc = [Int32](repeating: 0, count: chunk * d)
        out.withUnsafeMutableBufferPointer { o in
            acc.withUnsafeMutableBufferPointer { a in
                for first in stride(from: 0, to: n, by: chunk) {
                    partialRow(stage: l, planes: planes, count: n, first: first, positions: min(chunk, n - first), cbq: cbq, latentChannels: d,
                               scratch: a.baseAddress!, into: o.baseAddress!)
                }
            }
        }
        return out
    }

    /// `partialReconstruction`'s values at positions `first ..< first + positions` (raster order),
    /// written at their places in `out` (`[n · D]`); `scratch` holds `positions · D` Int32. Stage by
    /// stage over the positions (one codebook in hand at a time); wrapping sums, so the order
    /// changes no bit.
    @inline(__always)
    static func partialRow(stage l: Int, planes: UnsafePointer<UInt16>, count n: Int, first: Int, positions: Int, cbq: [[Int32]], latentChannels d: Int,
                           scratch acc: UnsafeMutablePointer<Int32>, into out: UnsafeMutablePointer<Int16>) {
        acc.update(repeating: 0, count: positions * d)
        for t in 0..<l {
            cbq[t].withUnsafeBufferPointer { cb in
                vqz_prior_add_rows(acc, cb.baseAddress!, planes + t * n + first, Int32(positions), Int32(d))
            }
        }
        vqz_prior_clamp16(acc, Int64(positions * d), denseLimit, out + first * d)
    }

    /// The dense input of (i, j) into `out` (`2·D`): the partial reconstruction there, then
    /// (Σ of its L, R, U, D neighbours) >> 2, a neighbour off the grid counting as the centre.
    @inline(__always)
    public static func denseInput(_ x: UnsafePointer<Int16>, height h: Int, width w: Int, row i: Int, col j: Int, latentChannels d: Int,
                                  into out: UnsafeMutablePointer<Int16>) {
        let p = i * w + j
        let c = x + p * d
        let l = j > 0 ? x + (p - 1) * d : c, r = j + 1 < w ? x + (p + 1) * d : c
        let u = i > 0 ? x + (p - w) * d : c, dn = i + 1 < h ? x + (p + w) * d : c
        for k in 0..<d {
            out[k] = c[k]
            out[d + k] = Int16((Int32(l[k]) + Int32(r[k]) + Int32(u[k]) + Int32(dn[k])) >> 2)
        }
    }

    /// Scratch buffers for `frequencies`.
    public struct Scratch {
        var dense: [Int16]
        var slots: [Int]
        var hidden: [Int32]
        var hidden16: [Int16]
        var logits: [Int32]
        var weights: [UInt32]
        public var freq: [UInt32]
        /// `[K + 1]` cumulative frequencies: `cum[k]` = Σ freq[< k].
        public var cum: [UInt32]
        public init(prior: IntegerPrior) {
            dense = Array(repeating: 0, count: 2 * prior.latentChannels)
            slots = Array(repeating: 0, count: 10)
            hidden = Array(repeating: 0, count: prior.hidden)
            hidden16 = Array(repeating: 0, count: prior.hidden)
            logits = Array(repeating: 0, count: prior.codebookSize)
            weights = Array(repeating: 0, count: prior.codebookSize)
            freq = Array(repeating: 0, count: prior.codebookSize)
            cum = Array(repeating: 0, count: prior.codebookSize + 1)
        }
    }

    /// The frequency table (`scratch.freq`, summing to 2^16, each ≥ 1) and its cumulative table
    /// (`scratch.cum`) for the stage-`l` token at (i, j), from the stage-`l` tokens before it in
    /// raster order and every token of the stages before `l` (`planes`: stage-major, row-major;
    /// `partial`: `partialReconstruction(stage: l, …)`, unused at stage 1).
    public func frequencies(stage l: Int, level: Int, planes: UnsafePointer<UInt16>, partial: UnsafePointer<Int16>, height h: Int, width w: Int,
                            row i: Int, col j: Int, scratch s: inout Scratch) {
        let st = stages[l]
        let K = codebookSize, D = latentChannels, H = hidden
        s.slots.withUnsafeMutableBufferPointer { Self.slotTokens(stage: l, level: level, planes: planes, height: h, width: w, row: i, col: j, outside: K, into: $0.baseAddress!) }

        // Hidden layer.
        s.hidden.withUnsafeMutableBufferPointer { hid in
            st.b1.withUnsafeBufferPointer { b1 in for jj in 0..<H { hid[jj] = b1[jj] } }
            if l > 0 {
                let F = 2 * D
                s.dense.withUnsafeMutableBufferPointer { x in
                    Self.denseInput(partial, height: h, width: w, row: i, col: j, latentChannels: D, into: x.baseAddress!)
                    st.wp.withUnsafeBufferPointer { wp in
                        for jj in 0..<H {
                            let row = wp.baseAddress! + jj * F
                            var acc: Int32 = 0
                            for d in 0..<F { acc &+= Int32(row[d]) &* Int32(x[d]) }
                            hid[jj] &+= acc
                        }
                    }
                }
            }
            st.emb16.withUnsafeBufferPointer { emb in
                let stride = (K + 1) * H, scale = Int32(1) << Int32(st.embShift)
                for slot in 0..<st.slots {
                    let row = emb.baseAddress! + slot * stride + s.slots[slot] * H
                    for jj in 0..<H { hid[jj] &+= Int32(row[jj]) &* scale }
                }
            }
            st.mult.withUnsafeBufferPointer { m in
                s.hidden16.withUnsafeMutableBufferPointer { h16 in
                    for jj in 0..<H {
                        let v = (Int64(hid[jj]) &* m[jj] &+ (1 << 23)) >> 24
                        h16[jj] = Int16(max(0, min(Int64(Self.maxHidden), v)))
                    }
                }
            }
        }

        // Output layer and the integer softmax.
        var best: Int32 = .min
        var bestK = 0
        s.logits.withUnsafeMutableBufferPointer { z in
            s.hidden16.withUnsafeBufferPointer { hid in
                st.w2.withUnsafeBufferPointer { w2 in
                    for k in 0..<K {
                        let row = w2.baseAddress! + k * H
                        var acc: Int32 = 0
                        for jj in 0..<H { acc &+= Int32(row[jj]) &* Int32(hid[jj]) }
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

    /// Runs planes `0 ..< levels`, each in raster order: for each position, the frequency table
    /// into `s.freq` and `s.cum` (exactly `frequencies(…)`'s, tested), then `token(state, l, i, j, s)`
    /// — which may write the token of (i, j) into `planes` (the decoder) before the next position of
    /// that plane is computed. `start(l)` makes a plane's state before its first position, `finish`
    /// closes it after its last.
    ///
    /// With `concurrent`, the planes run as a wavefront on the thread pool: a worker claims the next
    /// plane and computes its row i once plane l − 1 has published rows 0 … i + 2 (everything row i
    /// reads of it: the previous-stage slots at p, right of p and below p, and the partial
    /// reconstruction at p and its four neighbours; and one row more, so that plane l − 1 has read
    /// for the last time the running sums of the rows that plane l advances to its own stage, see
    /// `sums`). Each token's table depends only on tokens, not on
    /// the schedule, so the output does not depend on the thread count; the callbacks of different
    /// planes may then run at the same time and must write disjoint memory. Without `concurrent`,
    /// plane after plane on the calling thread.
    ///
    /// Per row: the part of the hidden pre-activation that does not depend on plane l itself (bias,
    /// dense input, the previous stage's slots, the level), then per token the rest by the integer
    /// kernel (`vqz_prior_token`, C: AVX2 where the CPU has it). Integer sums wrap, so the order and
    /// the vector width do not change a single bit.
    func runPlanes<State, E: Error>(levels: Int, level: Int, planes: UnsafeMutablePointer<UInt16>, height h: Int, width w: Int, concurrent: Bool,
                                    start: (Int) throws(E) -> State,
                                    token: (inout State, Int, Int, Int, TokenTable) throws(E) -> Void,
                                    finish: (inout State, Int) throws(E) -> Void) throws(E) {
        guard levels > 0 else { return }
        let pool = ThreadPool.current
        let progress = PlaneProgress(planes: levels)
        var failure: E?
        let workers = concurrent ? min(levels, pool.threadCount) : 1
        // The running sum Σ_{t<l} cbq[t][token_t] of every position, shared by the planes and
        // advanced in place: plane l turns row r from stage l − 1's sum into its own once plane l − 1
        // has finished row r + 1 (the last that reads row r), so each plane adds one code vector per
        // position instead of l, in the memory of one grid (Int32; the planes' windows are Int16).
        let sums: UnsafeMutablePointer<Int32>? = levels > 1 ? .allocate(capacity: h * w * latentChannels) : nil
        defer { sums?.deallocate() }
        withoutActuallyEscaping(start) { start in
        withoutActuallyEscaping(token) { token in
        withoutActuallyEscaping(finish) { finish in
            let work = { () -> Void in
                let D = latentChannels, H = hidden
                let b = WorkBuffers(codebookSize: codebookSize, hidden: H, latentChannels: D, width: w)
                defer { b.deallocate() }
                while let l = progress.claim() {
                    do throws(E) {
                        var state = try start(l)
                        var sumRows = 0
                        let completed = try withStage(l) { (k) throws(E) -> Bool in
                            for i in 0..<h {
                                var window: (rows: Int, row: Int) = (0, 0)
                                if l > 0 {
                                    // Plane l − 1 past row i + 1: its tokens up to row i + 1 are out
                                    // and it no longer reads the running sums of rows ≤ i + 1.
                                    guard progress.wait(plane: l - 1, rows: min(i + 3, h)) else { return false }
                                    while sumRows < min(i + 2, h) {
                                        let row = sums! + sumRows * w * D
                                        if l == 1 { row.update(repeating: 0, count: w * D) }
                                        cbq[l - 1].withUnsafeBufferPointer { cb in
                                            vqz_prior_add_rows(row, cb.baseAddress!, planes + (l - 1) * h * w + sumRows * w, Int32(w), Int32(D))
                                        }
                                        sumRows += 1
                                    }
                                    // Rows i − 1 … i + 1 of this stage's partial reconstruction.
                                    let first = max(0, i - 1), end = min(h, i + 2)
                                    vqz_prior_clamp16(sums! + first * w * D, Int64((end - first) * w * D), Self.denseLimit, b.window)
                                    window = (end - first, i - first)
                                }
                                rowBase(stage: l, level: level, planes: planes, partial: b.window, partialRows: window.rows, partialRow: window.row,
                                        height: h, width: w, row: i, base: b.base, x: b.x, slots: b.slots)
                                for j in 0..<w {
                                    tokenTable(k, stage: l, level: level, planes: planes, base: b.base + j * H, height: h, width: w, row: i, col: j, buffers: b)
                                    try token(&state, l, i, j, TokenTable(freq: b.freq, cum: b.cum))
                                }
                                progress.publish(plane: l, rows: i + 1)
                            }
                            return true
                        }
                        guard completed else { return }
                        try finish(&state, l)
                    } catch {
                        progress.fail { if failure == nil { failure = error } }
                        return
                    }
                }
            }
            if workers == 1 { work() } else { pool.parallelFor(count: workers) { _ in work() } }
        } } }
        if let failure { throw failure }
    }

    /// One token's frequency table as `runPlanes` hands it to its callback: `freq[k]` (k < K) and
    /// `cum[k]` (k ≤ K), valid during the call.
    public struct TokenTable {
        public let freq: UnsafeMutablePointer<UInt32>
        public let cum: UnsafeMutablePointer<UInt32>
    }

    /// A `runPlanes` worker's buffers, allocated once for all its planes.
    struct WorkBuffers {
        let base: UnsafeMutablePointer<Int32>      // [w · H] the row's plane-independent hidden part
        let window: UnsafeMutablePointer<Int16>    // [3 · w · D] rows i − 1 … i + 1 of the partial reconstruction
        let x: UnsafeMutablePointer<Int16>         // [8 · D + 1] four positions' dense inputs
        let slots: UnsafeMutablePointer<Int>       // [10]
        let rows: UnsafeMutablePointer<UnsafePointer<Int16>?>  // [6] the same-stage slots' embedding rows
        let h16: UnsafeMutablePointer<Int16>       // [H]
        let z: UnsafeMutablePointer<Int32>         // [K]
        let weights: UnsafeMutablePointer<UInt32>  // [K]
        let freq: UnsafeMutablePointer<UInt32>     // [K]
        let cum: UnsafeMutablePointer<UInt32>      // [K + 1]

        init(codebookSize K: Int, hidden H: Int, latentChannels D: Int, width w: Int) {
            base = .allocate(capacity: w * H); window = .allocate(capacity: 3 * w * D); x = .allocate(capacity: 8 * D + 1)
            slots = .allocate(capacity: 10); rows = .allocate(capacity: 6); h16 = .allocate(capacity: H)
            z = .allocate(capacity: K); weights = .allocate(capacity: K); freq = .allocate(capacity: K); cum = .allocate(capacity: K + 1)
            x.initialize(repeating: 0, count: 8 * D + 1)
        }

        func deallocate() {
            for p in [base, z] as [UnsafeMutablePointer<Int32>] { p.deallocate() }
            window.deallocate()
            for p in [weights, freq, cum] { p.deallocate() }
            x.deallocate(); slots.deallocate(); rows.deallocate(); h16.deallocate()
        }
    }

    /// Stage `l`'s weights as the per-token kernel reads them, valid during `body`.
    struct StagePointers {
        let emb: UnsafePointer<Int16>, mult: UnsafePointer<Int64>, w2: UnsafePointer<Int16>, w2p: UnsafePointer<Int16>?
        let b2: UnsafePointer<Int32>, table: UnsafePointer<UInt32>
        let embShift: Int32, logitScale: Int64
    }

    func withStage<R, E: Error>(_ l: Int, _ body: (StagePointers) throws(E) -> R) throws(E) -> R {
        let st = stages[l]
        return try st.emb16.withUnsafeBufferPointer { (emb) throws(E) -> R in
        try st.mult.withUnsafeBufferPointer { (m) throws(E) -> R in
        try st.w2.withUnsafeBufferPointer { (w2) throws(E) -> R in
        try pairedW2[l].withUnsafeBufferPointer { (w2p) throws(E) -> R in
        try st.b2.withUnsafeBufferPointer { (b2) throws(E) -> R in
        try Self.expTable.withUnsafeBufferPointer { (table) throws(E) -> R in
            try body(StagePointers(emb: emb.baseAddress!, mult: m.baseAddress!, w2: w2.baseAddress!, w2p: w2p.baseAddress, b2: b2.baseAddress!,
                                   table: table.baseAddress!, embShift: Int32(st.embShift), logitScale: st.logitScale))
        } } } } } }
    }

    /// The plane-independent part of the hidden pre-activation of row `i` of plane `l`, `[w · H]`:
    /// bias, the dense input (for l ≥ 1: `partial` holds the `partialRows` rows of the partial
    /// reconstruction around row i — i − 1 … i + 1 where they exist — row i being its `partialRow`)
    /// and slots 6 … (the previous stage's and the level).
    @inline(__always)
    func rowBase(stage l: Int, level: Int, planes: UnsafePointer<UInt16>, partial: UnsafePointer<Int16>, partialRows: Int, partialRow: Int,
                 height h: Int, width w: Int, row i: Int,
                 base: UnsafeMutablePointer<Int32>, x: UnsafeMutablePointer<Int16>, slots t: UnsafeMutablePointer<Int>) {
        let st = stages[l]
        let K = codebookSize, D = latentChannels, H = hidden
        st.b1.withUnsafeBufferPointer { b1 in
        st.wp.withUnsafeBufferPointer { wp in
        pairedWp[l].withUnsafeBufferPointer { wpp in
        st.emb16.withUnsafeBufferPointer { emb in
            for j in 0..<w { (base + j * H).update(from: b1.baseAddress!, count: H) }
            if l > 0 {
                vqz_prior_dense_row(partial, Int32(partialRows), Int32(w), Int32(partialRow), Int32(D), wp.baseAddress!, pairedWp[l].isEmpty ? nil : wpp.baseAddress, Int32(H), base, x)
            }
            for j in 0..<w {
                let a = base + j * H
                Self.slotTokens(stage: l, level: level, planes: planes, height: h, width: w, row: i, col: j, outside: K, into: t)
                for slot in 6..<Self.slotCount(stage: l) {
                    vqz_prior_add_emb(a, emb.baseAddress! + (slot * (K + 1) + t[slot]) * H, Int32(st.embShift), Int32(H))
                }
            }
        } } } }
    }

    /// The table of (i, j) of plane `l` into `b.freq`, `b.cum` from its position's part of the row's
    /// `base` (`rowBase`) and the plane's own causal neighbours (slots 0 … 5).
    @inline(__always)
    func tokenTable(_ k: StagePointers, stage l: Int, level: Int, planes: UnsafePointer<UInt16>, base: UnsafePointer<Int32>, height h: Int, width w: Int,
                    row i: Int, col j: Int, buffers b: WorkBuffers) {
        let K = codebookSize, H = hidden
        Self.slotTokens(stage: l, level: level, planes: planes, height: h, width: w, row: i, col: j, outside: K, into: b.slots)
        let stride = (K + 1) * H
        for slot in 0..<6 { b.rows[slot] = UnsafePointer(k.emb + slot * stride + b.slots[slot] * H) }
        _ = vqz_prior_token(base, b.rows, k.embShift, k.mult, k.w2, k.w2p, k.b2, k.logitScale, k.table, Int32(H), Int32(K),
                            b.h16, b.z, b.weights, b.freq, b.cum)
    }

    /// Calls `body(l, i, j, scratch)` after computing the table of every token of `planes`, stage
    /// by stage, raster order (the decoder's order), on the calling thread.
    public func forEachTable(planes flat: [UInt16], levels: Int, level: Int, height h: Int, width w: Int, _ body: (Int, Int, Int, inout Scratch) -> Void) {
        var planes = flat
        var s = Scratch(prior: self)
        planes.withUnsafeMutableBufferPointer { buf in
            runPlanes(levels: levels, level: level, planes: buf.baseAddress!, height: h, width: w, concurrent: false,
                      start: { (_: Int) throws(Never) in () },
                      token: { (_: inout Void, l: Int, i: Int, j: Int, t: TokenTable) throws(Never) in
                          for k in 0..<codebookSize { s.freq[k] = t.freq[k]; s.cum[k] = t.cum[k] }
                          s.cum[codebookSize] = t.cum[codebookSize]
                          body(l, i, j, &s)
                      },
                      finish: { (_: inout Void, _: Int) throws(Never) in })
        }
    }

    /// Ideal code length of a token grid under the prior, bits per stage (`planes` `[L][h · w]`).
    public func codeLength(planes: [[UInt16]], height h: Int, width w: Int) -> [Double] {
        let flat = Array(planes.joined())
        var bits = [Double](repeating: 0, count: planes.count)
        forEachTable(planes: flat, levels: planes.count, level: planes.count, height: h, width: w) { l, i, j, s in
            bits[l] += 16 - Double.log2(Double(s.freq[Int(flat[l * h * w + i * w + j])]))
        }
        return bits
    }

    /// One rANS stream per stage (`planes` `[L][h · w]`, L ≤ the prior's stages). The planes are
    /// modelled concurrently on the thread pool.
    public func encode(planes: [[UInt16]], level: Int? = nil, height h: Int, width w: Int) -> [[UInt8]] {
        let n = h * w
        var flat = Array(planes.joined())
        var starts = [UInt32](repeating: 0, count: planes.count * n), freqs = starts
        flat.withUnsafeMutableBufferPointer { buf in
        starts.withUnsafeMutableBufferPointer { sp in
        freqs.withUnsafeMutableBufferPointer { fp in
            let tokens = UnsafePointer(buf.baseAddress!)
            runPlanes(levels: planes.count, level: level ?? planes.count, planes: buf.baseAddress!, height: h, width: w, concurrent: true,
                      start: { (_: Int) throws(Never) in () },
                      token: { (_: inout Void, l: Int, i: Int, j: Int, t: TokenTable) throws(Never) in
                          let q = l * n + i * w + j
                          let tok = Int(tokens[q])
                          sp[q] = t.cum[tok]
                          fp[q] = t.freq[tok]
                      },
                      finish: { (_: inout Void, _: Int) throws(Never) in })
        } } }
        var out = [[UInt8]](repeating: [], count: planes.count)
        starts.withUnsafeBufferPointer { sp in
        freqs.withUnsafeBufferPointer { fp in
        out.withUnsafeMutableBufferPointer { ob in
            ThreadPool.current.parallelFor(count: planes.count) { l in
                var enc = RANSEncoder()
                for p in stride(from: n - 1, through: 0, by: -1) { enc.put(start: sp[l * n + p], freq: fp[l * n + p]) }
                ob[l] = enc.finish()
            }
        } } }
        return out
    }

    /// The token grid `[L][h · w]` of `streams` (one per stage, L = streams.count). The planes are
    /// decoded as a wavefront on the thread pool (`runPlanes`); the tokens do not depend on it.
    public func decode(streams: [ArraySlice<UInt8>], level: Int? = nil, height h: Int, width w: Int) throws(RANSError) -> [[UInt16]] {
        let n = h * w, levels = streams.count, K = codebookSize
        let level = level ?? levels
        guard levels <= level, level <= stages.count else {
            throw RANSError(description: "\(levels) token streams coded for level \(level); the prior codes levels 1…\(stages.count)")
        }
        var flat = [UInt16](repeating: 0, count: levels * n)
        try flat.withUnsafeMutableBufferPointer { (buf) throws(RANSError) in
            let planes = buf.baseAddress!
            try runPlanes(levels: levels, level: level, planes: planes, height: h, width: w, concurrent: true,
                          start: { (l: Int) throws(RANSError) in try RANSDecoder(streams[l]) },
                          token: { (dec: inout RANSDecoder, l: Int, i: Int, j: Int, t: TokenTable) throws(RANSError) in
                              let slot = dec.slot
                              // The symbol whose interval holds the slot: the last k with cum[k] ≤ slot
                              // (cum[0] = 0; cum strictly increases), by halving without branches.
                              var lo = 0, span = K
                              while span > 1 {
                                  let half = span >> 1
                                  lo = t.cum[lo + half] <= slot ? lo + half : lo
                                  span -= half
                              }
                              try dec.advance(start: t.cum[lo], freq: t.freq[lo])
                              planes[l * n + i * w + j] = UInt16(lo)
                          },
                          finish: { (dec: inout RANSDecoder, _: Int) throws(RANSError) in try dec.finish() })
        }
        return (0..<levels).map { Array(flat[$0 * n..<($0 + 1) * n]) }
    }
}

/// Rows published per plane, for `IntegerPrior.runPlanes`' wavefront: a plane's worker waits here
/// for the rows of the plane before it; a failed plane releases every waiter.
final class PlaneProgress: @unchecked Sendable {
    private var rows: [Int]
    private var next = 0
    private var failed = false
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()

    init(planes: Int) {
        rows = Array(repeating: 0, count: planes)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    /// The next unclaimed plane, in order; nil when all are claimed or a plane failed.
    func claim() -> Int? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard !failed, next < rows.count else { return nil }
        next += 1
        return next - 1
    }

    func publish(plane l: Int, rows r: Int) {
        pthread_mutex_lock(&mutex)
        rows[l] = r
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    /// Waits until plane `l` has `r` rows; false if a plane failed meanwhile.
    func wait(plane l: Int, rows r: Int) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while rows[l] < r && !failed { pthread_cond_wait(&condition, &mutex) }
        return !failed
    }

    /// Marks the run failed (running `record` under the lock) and wakes every waiter.
    func fail(_ record: () -> Void) {
        pthread_mutex_lock(&mutex)
        record()
        failed = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }
}
