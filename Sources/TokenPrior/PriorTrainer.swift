// Training the token prior (`vqz train-prior`): one small network per quantizer stage, fit in
// Float32 on the frozen tokens of the training images, then quantised to `IntegerPrior`.
// The network is the integer one's float twin (IntegerPrior.swift): slot embeddings plus a linear
// map of the partial reconstruction, ReLU, a linear map to K logits, softmax cross-entropy.

import Container
import RealModule
import TensorCore

/// The token grids of one image, stage-major.
public struct TokenGrid: Sendable {
    public var planes: [[UInt16]]
    public var height: Int
    public var width: Int
    /// The level the tokens were chosen for (a file of this level codes them): `planes.count`.
    public var level: Int { planes.count }
    public init(planes: [[UInt16]], height: Int, width: Int) { (self.planes, self.height, self.width) = (planes, height, width) }
}

/// Options of `PriorTrainer`.
public struct PriorTrainingOptions: Sendable {
    public var hidden = 64
    /// Training examples drawn per stage and epoch (positions sampled with replacement).
    public var samplesPerEpoch = 400_000
    public var epochs = 4
    public var batch = 256
    public var lr: Float = 2e-3
    public var finalLR: Float = 2e-4
    public var seed: UInt64 = 0
    /// A prior to start from (`vqz train-prior --initial`): stage l's network begins as the float form of
    /// `initial.stages[l]` (when there is one and its shape fits) and is kept when no epoch beats it on
    /// the validation grids. Nil: every stage starts from random weights.
    public var initial: IntegerPrior?
    public init() {}
}

/// One stage's float network.
struct FloatStage {
    let K: Int, D: Int, H: Int, slots: Int
    var wp: [Float], b1: [Float], emb: [Float], w2: [Float], b2: [Float]

    init(K: Int, D: Int, H: Int, slots: Int, rng: inout Xoshiro256) {
        (self.K, self.D, self.H, self.slots) = (K, D, H, slots)
        let sp = 1 / Float(max(D, 1)).squareRoot(), s2 = 1 / Float(H).squareRoot()
        wp = (0..<(H * D)).map { _ in rng.nextNormal() * sp }
        b1 = Array(repeating: 0, count: H)
        emb = (0..<(slots * (K + 1) * H)).map { _ in rng.nextNormal() * 0.1 }
        w2 = (0..<(K * H)).map { _ in rng.nextNormal() * s2 }
        b2 = Array(repeating: 0, count: K)
    }
}

extension FloatStage {
    /// `IntegerPriorStage.mult`'s fixed point: 2^24.
    static let multOne: Double = 16_777_216
    /// 1/256-bit units per nat at `logitScale`'s 2^24 fixed point, 2^24 · 256 · log2(e):
    /// `logitScale = natUnits / (integer logit units per nat)` (`quantize` and its inverse).
    static let natUnits: Double = 16_777_216 * 256 * 1.442_695_040_888_963_4

    /// The float network an integer stage computes (`IntegerPrior`'s arithmetic without its rounding
    /// and clamping): `a_j = pre-activation_j / u_j` with `u_j = hiddenScale · 2^24 / mult_j`, so the
    /// integer hidden unit is `hiddenScale · a_j`, and `logits = (w2 · h + b2) / P` nats with
    /// `P = 2^24 · 256 · log2(e) / logitScale`. `hiddenScale` is free (the function does not depend
    /// on it); it sets the float hidden units' size: 4095 / hiddenScale at the integer clamp.
    init(dequantizing q: IntegerPriorStage, K: Int, D: Int, H: Int, inputShift: Int, hiddenScale: Double = 512) {
        (self.K, self.D, self.H, self.slots) = (K, D, H, q.slots)
        let denseScale = Double(sign: .plus, exponent: inputShift, significand: 1)
        let unit = q.mult.map { hiddenScale * Self.multOne / Double(max($0, 1)) }
        var wp = [Float](repeating: 0, count: H * D), b1 = [Float](repeating: 0, count: H)
        for j in 0..<H {
            for d in 0..<D { wp[j * D + d] = Float(Double(q.wp[j * D + d]) * denseScale / unit[j]) }
            b1[j] = Float(Double(q.b1[j]) / unit[j])
        }
        let embValues = q.emb
        var emb = [Float](repeating: 0, count: embValues.count)
        for i in 0..<embValues.count { emb[i] = Float(Double(embValues[i]) / unit[i % H]) }
        let P = Self.natUnits / Double(max(q.logitScale, 1))
        (self.wp, self.b1, self.emb) = (wp, b1, emb)
        w2 = q.w2.map { Float(Double($0) * hiddenScale / P) }
        b2 = q.b2.map { Float(Double($0) / P) }
    }
}

/// Adam state for one flat parameter array.
struct AdamSlot {
    var m: [Float], v: [Float]
    init(_ n: Int) { m = Array(repeating: 0, count: n); v = Array(repeating: 0, count: n) }
    mutating func step(_ p: inout [Float], _ g: [Float], lr: Float, t: Int) {
        let b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-8
        let c1 = 1 - Float.pow(b1, t), c2 = 1 - Float.pow(b2, t)
        for i in 0..<p.count {
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
            p[i] -= lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
        }
    }
}

public struct PriorStageReport: Sendable {
    public var stage: Int
    /// Mean bits/token on the validation grids: float network, integer prior.
    public var floatBits: Double
    public var seconds: Double
}

/// Fits and quantises the prior.
public struct PriorTrainer {
    public let codebooks: [[Float]]
    public let K: Int, D: Int
    public let options: PriorTrainingOptions
    /// Fixed-point position of the dense input, chosen from the training grids.
    public let inputShift: Int

    public init(codebooks: [[Float]], codebookSize: Int, latentChannels: Int, grids: [TokenGrid], options: PriorTrainingOptions) {
        self.codebooks = codebooks
        K = codebookSize
        D = latentChannels
        self.options = options
        // The largest |partial reconstruction| over the grids (every stage's prefix) → the shift that
        // keeps the dense input within ±2047 (clamped beyond).
        var maxAbs: Float = 1e-6
        for g in grids {
            let n = g.height * g.width
            var acc = [Float](repeating: 0, count: n * latentChannels)
            for l in 0..<max(0, g.planes.count - 1) {
                for p in 0..<n {
                    let tok = Int(g.planes[l][p])
                    for d in 0..<latentChannels {
                        acc[p * latentChannels + d] += codebooks[l][tok * latentChannels + d]
                        maxAbs = max(maxAbs, abs(acc[p * latentChannels + d]))
                    }
                }
            }
        }
        var shift = 0
        while Float(sign: .plus, exponent: shift + 1, significand: 1) * maxAbs <= 2047, shift < 24 { shift += 1 }
        while Float(sign: .plus, exponent: shift, significand: 1) * maxAbs > 2047, shift > -24 { shift -= 1 }
        inputShift = shift
    }

    /// Examples of stage `l`: (grid, position) pairs, their slot tokens, dense inputs and targets.
    struct Examples {
        var slotTokens: [Int32]   // [count, slots]
        var dense: [Float]        // [count, D]
        var target: [Int32]
        var count: Int
    }

    func examples(stage l: Int, grids: [TokenGrid], positions: [(Int, Int)], cbq: [[Int32]], scale: Float) -> Examples {
        let slots = IntegerPrior.slotCount(stage: l)
        let F = IntegerPrior.denseCount(stage: l, latentChannels: D)
        var ex = Examples(slotTokens: [], dense: [], target: [], count: positions.count)
        ex.slotTokens.reserveCapacity(positions.count * slots)
        ex.dense.reserveCapacity(positions.count * F)
        ex.target.reserveCapacity(positions.count)
        // Per grid: its planes, flat, and (l ≥ 1) the partial reconstruction of stage l.
        var flats: [Int: ([UInt16], [Int16])] = [:]
        var tokens = [Int](repeating: 0, count: 10)
        var x = [Int16](repeating: 0, count: max(F, 1))
        for (gi, p) in positions {
            let g = grids[gi]
            if flats[gi] == nil {
                let flat = Array(g.planes.joined())
                let partial = l == 0 ? [] : flat.withUnsafeBufferPointer {
                    IntegerPrior.partialReconstruction(stage: l, planes: $0.baseAddress!, count: g.height * g.width, cbq: cbq, latentChannels: D)
                }
                flats[gi] = (flat, partial)
            }
            let (flat, partial) = flats[gi]!
            let w = g.width, i = p / w, j = p % w
            flat.withUnsafeBufferPointer { buf in
                tokens.withUnsafeMutableBufferPointer {
                    IntegerPrior.slotTokens(stage: l, level: g.level, planes: buf.baseAddress!, height: g.height, width: w, row: i, col: j, outside: K, into: $0.baseAddress!)
                }
            }
            for s in 0..<slots { ex.slotTokens.append(Int32(tokens[s])) }
            if l > 0 {
                partial.withUnsafeBufferPointer { xp in
                    x.withUnsafeMutableBufferPointer {
                        IntegerPrior.denseInput(xp.baseAddress!, height: g.height, width: w, row: i, col: j, latentChannels: D, into: $0.baseAddress!)
                    }
                }
                for d in 0..<F { ex.dense.append(Float(x[d]) * scale) }
            }
            ex.target.append(Int32(g.planes[l][p]))
        }
        return ex
    }

    /// Trains every stage; `log` gets a line per epoch. Returns the integer prior and the reports.
    public func train(grids: [TokenGrid], validation: [TokenGrid], log: (String) -> Void) -> (IntegerPrior, [PriorStageReport]) {
        let stagesCount = grids.map { $0.planes.count }.max() ?? 0
        let cbq = codebooks.map { IntegerPrior.fixedPoint($0, shift: inputShift) }
        let scale = Float(sign: .plus, exponent: -inputShift, significand: 1)
        var rng = Xoshiro256(seed: options.seed)
        // Stage l is trained on every grid of level > l (a level-L grid holds the tokens chosen for level L).
        func positions(_ set: [TokenGrid], stage l: Int) -> [(Int, Int)] {
            var out: [(Int, Int)] = []
            for (gi, g) in set.enumerated() where g.level > l { for p in 0..<(g.height * g.width) { out.append((gi, p)) } }
            return out
        }

        var stages: [IntegerPriorStage] = []
        var reports: [PriorStageReport] = []
        for l in 0..<stagesCount {
            let started = Clock.now
            let slots = IntegerPrior.slotCount(stage: l)
            let dense = IntegerPrior.denseCount(stage: l, latentChannels: D)
            var net = FloatStage(K: K, D: dense, H: options.hidden, slots: slots, rng: &rng)
            var fromInitial = false
            if let initial = options.initial, l < initial.stages.count, initial.hidden == options.hidden,
               initial.codebookSize == K, initial.latentChannels == D, initial.stages[l].slots == slots {
                net = FloatStage(dequantizing: initial.stages[l], K: K, D: dense, H: options.hidden, inputShift: initial.inputShift)
                fromInitial = true
            } else if let initial = options.initial {
                log("stage \(l + 1): the initial prior has no stage of this shape (\(initial.stages.count) stages, H \(initial.hidden)); from random weights")
            }
            let all = positions(grids, stage: l)
            var valPositions = positions(validation, stage: l)
            if valPositions.count > 200_000 {  // a seeded subset bounds the validation memory and time
                var vrng = Xoshiro256(seed: options.seed &+ UInt64(l))
                valPositions = (0..<200_000).map { _ in valPositions[Int(vrng.next() % UInt64(valPositions.count))] }
            }
            let val = examples(stage: l, grids: validation, positions: valPositions, cbq: cbq, scale: scale)
            var opt = (wp: AdamSlot(net.wp.count), b1: AdamSlot(net.b1.count), emb: AdamSlot(net.emb.count), w2: AdamSlot(net.w2.count), b2: AdamSlot(net.b2.count))
            var t = 0
            let totalSteps = options.epochs * (options.samplesPerEpoch / options.batch)
            var best = (bits: fromInitial ? meanBits(net, val) : Double.infinity, net: net)
            if fromInitial { log("stage \(l + 1) start: val \(fmt(best.bits)) bits/token (from the initial prior)") }
            for epoch in 0..<options.epochs {
                let picks = (0..<options.samplesPerEpoch).map { _ in all[Int(rng.next() % UInt64(all.count))] }
                let ex = examples(stage: l, grids: grids, positions: picks, cbq: cbq, scale: scale)
                var trainBits = 0.0
                for b in 0..<(ex.count / options.batch) {
                    t += 1
                    let progress = Float(t) / Float(totalSteps)
                    let lr = options.finalLR + 0.5 * (options.lr - options.finalLR) * (1 + Float.cos(Float.pi * progress))
                    let g = gradient(net, ex, range: b * options.batch..<(b + 1) * options.batch)
                    trainBits += g.bits
                    opt.wp.step(&net.wp, g.wp, lr: lr, t: t)
                    opt.b1.step(&net.b1, g.b1, lr: lr, t: t)
                    opt.emb.step(&net.emb, g.emb, lr: lr, t: t)
                    opt.w2.step(&net.w2, g.w2, lr: lr, t: t)
                    opt.b2.step(&net.b2, g.b2, lr: lr, t: t)
                }
                let vb = meanBits(net, val)
                log("stage \(l + 1) epoch \(epoch + 1): train \(fmt(trainBits / Double(ex.count / options.batch))) val \(fmt(vb)) bits/token")
                if vb < best.bits { best = (vb, net) }
            }
            stages.append(quantize(best.net, val))
            reports.append(PriorStageReport(stage: l + 1, floatBits: best.bits, seconds: seconds(since: started)))
        }
        return (IntegerPrior(codebookSize: K, latentChannels: D, hidden: options.hidden, inputShift: inputShift, stages: stages, codebooks: codebooks), reports)
    }

    func fmt(_ x: Double) -> String { String(Double(Int(x * 1000)) / 1000) }
    func seconds(since t: ContinuousClock.Instant) -> Double {
        let d = Clock.now - t
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    struct Gradient { var wp: [Float], b1: [Float], emb: [Float], w2: [Float], b2: [Float], bits: Double }

    /// Forward pass of a batch: pre-activations `a` [B, H], hidden `h` [B, H], probabilities [B, K].
    func forward(_ net: FloatStage, _ ex: Examples, range: Range<Int>) -> (a: [Float], h: [Float], prob: [Float], bits: Double) {
        let B = range.count, H = net.H, K = net.K, D = net.D, slots = net.slots
        var a = [Float](repeating: 0, count: B * H)
        if D > 0 {
            ex.dense.withUnsafeBufferPointer { x in
                net.wp.withUnsafeBufferPointer { wp in
                    a.withUnsafeMutableBufferPointer { out in
                        Kernels.gemm(transposeA: false, transposeB: true, m: B, n: H, k: D, a: x.baseAddress! + range.lowerBound * D, lda: D,
                                     b: wp.baseAddress!, ldb: D, beta: 0, c: out.baseAddress!, ldc: H)
                    }
                }
            }
        }
        for r in 0..<B {
            let e = range.lowerBound + r
            for jj in 0..<H { a[r * H + jj] += net.b1[jj] }
            for s in 0..<slots {
                let tok = Int(ex.slotTokens[e * slots + s])
                let base = (s * (K + 1) + tok) * H
                for jj in 0..<H { a[r * H + jj] += net.emb[base + jj] }
            }
        }
        let h = a.map { max(0, $0) }
        var z = [Float](repeating: 0, count: B * K)
        h.withUnsafeBufferPointer { hb in
            net.w2.withUnsafeBufferPointer { w2 in
                z.withUnsafeMutableBufferPointer { out in
                    Kernels.gemm(transposeA: false, transposeB: true, m: B, n: K, k: H, a: hb.baseAddress!, lda: H,
                                 b: w2.baseAddress!, ldb: H, beta: 0, c: out.baseAddress!, ldc: K)
                }
            }
        }
        var bits = 0.0
        for r in 0..<B {
            var m: Float = -.infinity
            for k in 0..<K { z[r * K + k] += net.b2[k]; m = max(m, z[r * K + k]) }
            var sum: Float = 0
            for k in 0..<K { let v = Float.exp(z[r * K + k] - m); z[r * K + k] = v; sum += v }
            for k in 0..<K { z[r * K + k] /= sum }
            let y = Int(ex.target[range.lowerBound + r])
            bits -= Double.log2(Double(max(z[r * K + y], 1e-30)))
        }
        return (a, h, z, bits)
    }

    func meanBits(_ net: FloatStage, _ ex: Examples) -> Double {
        var bits = 0.0
        var start = 0
        while start < ex.count {
            let end = min(ex.count, start + 1024)
            bits += forward(net, ex, range: start..<end).bits
            start = end
        }
        return bits / Double(max(ex.count, 1))
    }

    func gradient(_ net: FloatStage, _ ex: Examples, range: Range<Int>) -> Gradient {
        let B = range.count, H = net.H, K = net.K, D = net.D, slots = net.slots
        var (a, h, dz, bits) = forward(net, ex, range: range)
        let inv = 1 / Float(B)
        for r in 0..<B {
            dz[r * K + Int(ex.target[range.lowerBound + r])] -= 1
        }
        for i in 0..<dz.count { dz[i] *= inv }
        var g = Gradient(wp: Array(repeating: 0, count: net.wp.count), b1: Array(repeating: 0, count: H),
                         emb: Array(repeating: 0, count: net.emb.count), w2: Array(repeating: 0, count: K * H),
                         b2: Array(repeating: 0, count: K), bits: bits / Double(B))
        for r in 0..<B { for k in 0..<K { g.b2[k] += dz[r * K + k] } }
        var dh = [Float](repeating: 0, count: B * H)
        dz.withUnsafeBufferPointer { dzb in
            h.withUnsafeBufferPointer { hb in
                g.w2.withUnsafeMutableBufferPointer { gw in
                    Kernels.gemm(transposeA: true, transposeB: false, m: K, n: H, k: B, a: dzb.baseAddress!, lda: K,
                                 b: hb.baseAddress!, ldb: H, beta: 0, c: gw.baseAddress!, ldc: H)
                }
            }
            net.w2.withUnsafeBufferPointer { w2 in
                dh.withUnsafeMutableBufferPointer { out in
                    Kernels.gemm(transposeA: false, transposeB: false, m: B, n: H, k: K, a: dzb.baseAddress!, lda: K,
                                 b: w2.baseAddress!, ldb: H, beta: 0, c: out.baseAddress!, ldc: H)
                }
            }
        }
        for i in 0..<a.count { a[i] = a[i] > 0 ? dh[i] : 0 }  // a becomes da
        for r in 0..<B {
            let e = range.lowerBound + r
            for jj in 0..<H { g.b1[jj] += a[r * H + jj] }
            for s in 0..<slots {
                let base = (s * (K + 1) + Int(ex.slotTokens[e * slots + s])) * H
                for jj in 0..<H { g.emb[base + jj] += a[r * H + jj] }
            }
        }
        if D > 0 {
            a.withUnsafeBufferPointer { da in
                ex.dense.withUnsafeBufferPointer { x in
                    g.wp.withUnsafeMutableBufferPointer { gw in
                        Kernels.gemm(transposeA: true, transposeB: false, m: H, n: D, k: B, a: da.baseAddress!, lda: H,
                                     b: x.baseAddress! + range.lowerBound * D, ldb: D, beta: 0, c: gw.baseAddress!, ldc: D)
                    }
                }
            }
        }
        return g
    }

    /// The integer twin of a float stage (IntegerPrior.swift gives the arithmetic). `val` sets the
    /// hidden scale: the 99.99th percentile of the positive pre-activations maps to 4095.
    func quantize(_ net: FloatStage, _ val: Examples) -> IntegerPriorStage {
        let H = net.H, K = net.K, D = net.D
        let denseScale = Double(sign: .plus, exponent: inputShift, significand: 1)  // integer units per float unit
        // Per hidden unit j: integer pre-activation = s_j · a_j, s_j = wScale_j · 2^inputShift.
        var wq = [Int16](repeating: 0, count: H * D)
        var b1q = [Int32](repeating: 0, count: H)
        var embq = [Int32](repeating: 0, count: net.emb.count)
        var unitScale = [Double](repeating: 1, count: H)
        for j in 0..<H {
            var maxW: Float = 0
            for d in 0..<D { maxW = max(maxW, abs(net.wp[j * D + d])) }
            var maxE = abs(net.b1[j])
            for s in 0..<net.slots { for t in 0...K { maxE = max(maxE, abs(net.emb[(s * (K + 1) + t) * H + j])) } }
            // Weight scale: 2047 at the largest weight, but the additive terms must stay below 2^26.
            var ws = maxW > 0 ? 2047 / Double(maxW) : 1e6
            if maxE > 0 { ws = min(ws, Double(1 << 26) / (Double(maxE) * denseScale)) }
            ws = min(ws, 1e6)
            for d in 0..<D { wq[j * D + d] = Int16((Double(net.wp[j * D + d]) * ws).rounded()) }
            let s = ws * denseScale
            unitScale[j] = s
            b1q[j] = Int32((Double(net.b1[j]) * s).rounded())
            for sl in 0..<net.slots { for t in 0...K {
                let i = (sl * (K + 1) + t) * H + j
                embq[i] = Int32((Double(net.emb[i]) * s).rounded())
            } }
        }
        // Hidden scale from the validation pre-activations (float network).
        var positives: [Float] = []
        var start = 0
        while start < val.count, positives.count < 2_000_000 {
            let end = min(val.count, start + 1024)
            positives += forward(net, val, range: start..<end).a.filter { $0 > 0 }
            start = end
        }
        positives.sort()
        let top = positives.isEmpty ? 1 : max(Double(positives[min(positives.count - 1, Int(Double(positives.count) * 0.9999))]), 1e-3)
        let hiddenScale = Double(IntegerPrior.maxHidden) / top
        let mult = (0..<H).map { Int64(min(Double(1 << 31), (hiddenScale / unitScale[$0] * FloatStage.multOne).rounded())) }
        var maxW2: Float = 1e-12
        for v in net.w2 { maxW2 = max(maxW2, abs(v)) }
        let s2 = 2047 / Double(maxW2)
        let w2q = net.w2.map { Int16((Double($0) * s2).rounded()) }
        let b2q = net.b2.map { Int32((Double($0) * s2 * hiddenScale).rounded()) }
        // Logit unit = 1 / (s2 · hiddenScale) nats; 1/256-bit units per logit unit, 2^24 fixed point.
        let logitScale = Int64((FloatStage.natUnits / (s2 * hiddenScale)).rounded())
        // The embeddings are stored as i16 with one left shift per stage (docs/MODEL-FORMAT.md):
        // round to that grid here, so training's own figures use exactly the stored values.
        let shift = IntegerPriorStage.embeddingShift(embq)
        let stored = embq.map { Int32((Double($0) / Double(1 << shift)).rounded()) << shift }
        return IntegerPriorStage(slots: net.slots, wp: wq, b1: b1q, emb: stored, mult: mult, w2: w2q, b2: b2q, logitScale: logitScale)
    }
}

enum Clock { static var now: ContinuousClock.Instant { ContinuousClock.now } }
