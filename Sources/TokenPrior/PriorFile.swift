// Token prior files (`NAME.vqzp`, docs/MODEL-FORMAT.md "Token prior files"): the .vqzm container
// with architecture `vqz-token-prior-v1`, tied to its VQ model by `prior.model_id`, every weight an
// integer stored as a little-endian u8 blob (i16, i32 or i64, named by the array).

import Container

/// A prior file's content: the integer prior (without the model's codebooks) and its model's id.
public struct PriorFile: Sendable {
    public static let architecture = "vqz-token-prior-v1"
    public static let fileExtension = ".vqzp"

    public var modelID: ModelID
    public var modelName: String
    public var codebookSize: Int
    public var latentChannels: Int
    public var hidden: Int
    public var inputShift: Int
    public var stages: [IntegerPriorStage]
    /// Free-form provenance (`train.*` keys), written after the required keys.
    public var provenance: [(String, String)]

    public init(modelID: ModelID, modelName: String, codebookSize: Int, latentChannels: Int, hidden: Int, inputShift: Int,
                stages: [IntegerPriorStage], provenance: [(String, String)] = []) {
        self.modelID = modelID
        self.modelName = modelName
        self.codebookSize = codebookSize
        self.latentChannels = latentChannels
        self.hidden = hidden
        self.inputShift = inputShift
        self.stages = stages
        self.provenance = provenance
    }

    /// The prior that codes with the model's codebooks (`[stage][K · D]`).
    public func prior(codebooks: [[Float]]) -> IntegerPrior {
        IntegerPrior(codebookSize: codebookSize, latentChannels: latentChannels, hidden: hidden, inputShift: inputShift,
                     stages: stages, codebooks: codebooks)
    }

    public func serialized() throws(ModelFileError) -> [UInt8] {
        var meta: [ModelFile.MetadataEntry] = [
            .init("architecture", .string(Self.architecture)),
            .init("prior.model_id", .string(modelID.hex)),
            .init("prior.model_name", .string(modelName)),
            .init("prior.stages", .int(Int64(stages.count))),
            .init("prior.codebook_size", .int(Int64(codebookSize))),
            .init("prior.latent_channels", .int(Int64(latentChannels))),
            .init("prior.hidden", .int(Int64(hidden))),
            .init("prior.input_shift", .int(Int64(inputShift))),
        ]
        for (l, s) in stages.enumerated() {
            meta.append(.init("prior.\(l).logit_scale", .int(s.logitScale)))
            meta.append(.init("prior.\(l).emb_shift", .int(Int64(s.embShift))))
        }
        for (k, v) in provenance { meta.append(.init(k, .string(v))) }
        var arrays: [ModelFile.NamedArray] = []
        for (l, s) in stages.enumerated() {
            if l > 0 { arrays.append(.init(name: "prior.\(l).wp", bytes: Self.bytes(s.wp))) }
            arrays.append(.init(name: "prior.\(l).b1", bytes: Self.bytes(s.b1)))
            // i16 values v with emb = v << emb_shift, as the stage holds them (its initializer refuses
            // embeddings off that grid).
            arrays.append(.init(name: "prior.\(l).emb", bytes: Self.bytes(s.emb16)))
            arrays.append(.init(name: "prior.\(l).mult", bytes: Self.bytes(s.mult)))
            arrays.append(.init(name: "prior.\(l).w2", bytes: Self.bytes(s.w2)))
            arrays.append(.init(name: "prior.\(l).b2", bytes: Self.bytes(s.b2)))
        }
        return try ModelFile(metadata: meta, arrays: arrays).serialized()
    }

    /// Why a prior file is refused.
    public struct ReadError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// - Parameter hashVerified: `bytes` were just found to hash to the `Prior_ID` a file names
    ///   (`ModelFile.init(bytes:hashVerified:)`).
    public init(bytes: [UInt8], hashVerified: Bool = false) throws(ReadError) {
        // The layout only: the arrays are converted once, straight from `bytes`, below.
        let layout: (metadata: [ModelFile.MetadataEntry], arrays: [ModelFile.ArrayLayout])
        do { layout = try ModelFile.layout(of: bytes, hashVerified: hashVerified) } catch { throw ReadError(description: "not a prior file: \(error)") }
        let file = ModelFile(metadata: layout.metadata, arrays: [])
        var ranges: [String: (dtype: ModelFile.DType, range: Range<Int>)] = [:]
        for a in layout.arrays { ranges[a.name] = (a.dtype, a.range) }
        guard file.architecture == Self.architecture else {
            throw ReadError(description: "not a token prior: its architecture is \(file.architecture ?? "missing"), expected \(Self.architecture)")
        }
        let m = file.stringMetadata
        func int(_ key: String, _ range: ClosedRange<Int>) throws(ReadError) -> Int {
            guard let v = m[key].flatMap({ Int($0) }), range.contains(v) else {
                throw ReadError(description: "the prior's \(key) is \(m[key] ?? "missing"), expected \(range.lowerBound) … \(range.upperBound)")
            }
            return v
        }
        guard let idHex = m["prior.model_id"], let id = ModelID(hex: idHex) else {
            throw ReadError(description: "the prior's prior.model_id is \(m["prior.model_id"] ?? "missing"), expected 32 hex digits")
        }
        modelID = id
        modelName = m["prior.model_name"] ?? ""
        let count = try int("prior.stages", 1...255)
        codebookSize = try int("prior.codebook_size", 2...65_536)
        latentChannels = try int("prior.latent_channels", 1...1024)
        hidden = try int("prior.hidden", 1...1024)
        inputShift = try int("prior.input_shift", -24...24)
        guard count <= codebookSize + 1 else {
            throw ReadError(description: "the prior's prior.stages is \(count), more than prior.codebook_size + 1 = \(codebookSize + 1) (the level slot)")
        }
        let K = codebookSize, D = latentChannels, H = hidden
        var stages: [IntegerPriorStage] = []
        for l in 0..<count {
            let slots = IntegerPrior.slotCount(stage: l)
            func blob(_ name: String, elements: Int, width: Int) throws(ReadError) -> ArraySlice<UInt8> {
                guard let a = ranges["prior.\(l).\(name)"], a.dtype == .u8, a.range.count == elements * width else {
                    throw ReadError(description: "the prior's array prior.\(l).\(name) is missing or does not hold \(elements) values of \(width) bytes")
                }
                return bytes[a.range]
            }
            let logitScale = try int("prior.\(l).logit_scale", 1...Int(Int32.max))
            let wp: [Int16] = l == 0 ? [] : Self.values(try blob("wp", elements: H * IntegerPrior.denseCount(stage: l, latentChannels: D), width: 2))
            let w2: [Int16] = Self.values(try blob("w2", elements: K * H, width: 2))
            let limit = Int16(IntegerPrior.weightLimit)
            // A range test, not abs(_:): |Int16.min| does not fit an Int16 (a damaged file would trap).
            guard Self.within(wp, -limit...limit), Self.within(w2, -limit...limit) else {
                throw ReadError(description: "the prior's stage \(l + 1) has a weight outside −2047 … 2047")
            }
            let embShift = try int("prior.\(l).emb_shift", 0...16)
            let emb16: [Int16] = Self.values(try blob("emb", elements: slots * (K + 1) * H, width: 2))
            let b1: [Int32] = Self.values(try blob("b1", elements: H, width: 4))
            let embLimit = Int32(1 << 26) >> Int32(embShift)  // |v · 2^s| ≤ 2^26 ⟺ |v| ≤ 2^(26 − s)
            guard Self.within(emb16, Int16(clamping: -embLimit)...Int16(clamping: embLimit)), b1.allSatisfy({ -(1 << 26) <= $0 && $0 <= 1 << 26 }) else {
                throw ReadError(description: "the prior's stage \(l + 1) has an embedding or bias beyond ±2^26")
            }
            let mult: [Int64] = Self.values(try blob("mult", elements: H, width: 8))
            guard mult.allSatisfy({ $0 >= 0 && $0 <= 1 << 31 }) else {
                throw ReadError(description: "the prior's stage \(l + 1) has a hidden multiplier outside 0 … 2^31")
            }
            let b2: [Int32] = Self.values(try blob("b2", elements: K, width: 4))
            guard b2.allSatisfy({ -(1 << 28) <= $0 && $0 <= 1 << 28 }) else {
                throw ReadError(description: "the prior's stage \(l + 1) has an output bias beyond ±2^28")
            }
            stages.append(IntegerPriorStage(slots: slots, wp: wp, b1: b1, emb16: emb16, embShift: embShift, mult: mult, w2: w2, b2: b2,
                                            logitScale: Int64(logitScale)))
        }
        self.stages = stages
        provenance = file.metadata.compactMap { e in
            guard e.key.hasPrefix("train."), case .string(let s) = e.value else { return nil }
            return (e.key, s)
        }
    }

    static func bytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(values.count * MemoryLayout<T>.size)
        for v in values {
            var x = v.littleEndian
            withUnsafeBytes(of: &x) { out.append(contentsOf: $0) }
        }
        return out
    }

    /// Whether every value lies in `range`: the smallest and the largest in one pass (vectorised),
    /// not a closure per value (the embeddings are 3.5 M values).
    static func within(_ values: [Int16], _ range: ClosedRange<Int16>) -> Bool {
        values.withUnsafeBufferPointer { v in
            var lo = Int16.max, hi = Int16.min
            for x in v { lo = min(lo, x); hi = max(hi, x) }
            return v.isEmpty || (range.contains(lo) && range.contains(hi))
        }
    }

    static func values<T: FixedWidthInteger>(_ bytes: ArraySlice<UInt8>) -> [T] {
        let w = MemoryLayout<T>.size, count = bytes.count / w
        return [T](unsafeUninitializedCapacity: count) { out, initialized in
            bytes.withUnsafeBytes { raw in
                // One copy, then the byte order fixed in place (nothing to do on little-endian hosts).
                UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<count * w]))
                if 1.littleEndian != 1 { for i in 0..<count { out[i] = T(littleEndian: out[i]) } }
            }
            initialized = count
        }
    }
}
