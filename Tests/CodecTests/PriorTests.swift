// The learned token prior (`--entropy prior`): the rANS coder, the integer network, prior files,
// and prior-coded .vqz files through the whole decode path (docs/FORMAT.md "Prior-coded token
// section", docs/MODEL-FORMAT.md "Token prior files").

import Codec
import CTokenPrior
import Foundation
import Container
import Models
import Imaging
import TensorCore
import Testing
import TokenPrior

enum TinyPrior {
    /// Token grids of a few test images under `model`, every level.
    static func grids(_ model: LoadedModel, count: Int, seed: UInt64) throws -> [TokenGrid] {
        try (0..<count).map { i in
            let image = testImage(width: 40 + 8 * (i % 3), height: 32 + 8 * (i % 2), format: .rgb, seed: seed + UInt64(i))
            let g = try ImageCodec.tokens(image, model: model, level: model.levels.last!)
            return TokenGrid(planes: g.planes, height: g.height, width: g.width)
        }
    }

    /// A small prior for `model`, fit in well under a second.
    static func prior(for model: LoadedModel, hidden: Int = 8) throws -> LoadedPrior {
        let vq = model.vq!
        var options = PriorTrainingOptions()
        options.hidden = hidden
        options.samplesPerEpoch = 2048
        options.epochs = 1
        options.batch = 64
        let train = try grids(model, count: 6, seed: 100), val = try grids(model, count: 2, seed: 200)
        let trainer = PriorTrainer(codebooks: vq.quantizer.codebooks.map { $0.scalars }, codebookSize: vq.quantizer.codebookSize,
                                   latentChannels: vq.quantizer.dimension, grids: train, options: options)
        let (p, _) = trainer.train(grids: train, validation: val) { _ in }
        let file = PriorFile(modelID: model.id, modelName: model.name, codebookSize: p.codebookSize, latentChannels: p.latentChannels,
                             hidden: p.hidden, inputShift: p.inputShift, stages: p.stages)
        return try LoadedPrior(bytes: try file.serialized(), name: "tiny.vqzp", model: model)
    }
}

@Suite struct PriorTests {
    /// `vqz train-prior --initial`: each stage starts as the float form of the given prior's stage
    /// (its validation bits are the integer prior's code length), and training keeps it unless an
    /// epoch does better, so the result is never worse on the validation grids than where it began.
    @Test func fineTuningStartsFromTheInitialPrior() throws {
        let model = TinyModels.vq, vq = model.vq!
        var options = PriorTrainingOptions()
        options.hidden = 8
        options.samplesPerEpoch = 2048
        options.epochs = 1
        options.batch = 64
        let train = try TinyPrior.grids(model, count: 6, seed: 100), val = try TinyPrior.grids(model, count: 2, seed: 200)
        func fit(_ options: PriorTrainingOptions) -> (IntegerPrior, [PriorStageReport], [Double]) {
            let trainer = PriorTrainer(codebooks: vq.quantizer.codebooks.map { $0.scalars }, codebookSize: vq.quantizer.codebookSize,
                                       latentChannels: vq.quantizer.dimension, grids: train, options: options)
            var starts: [Double] = []
            let (p, reports) = trainer.train(grids: train, validation: val) { line in
                if line.contains(" start: val "), let v = line.split(separator: " ").dropFirst(4).first.flatMap({ Double($0) }) { starts.append(v) }
            }
            return (p, reports, starts)
        }
        func bitsPerToken(_ p: IntegerPrior) -> [Double] {
            var bits = [Double](repeating: 0, count: vq.quantizer.stages)
            var tokens = 0
            for g in val {
                tokens += g.height * g.width
                for (l, b) in p.codeLength(planes: g.planes, height: g.height, width: g.width).enumerated() { bits[l] += b }
            }
            return bits.map { $0 / Double(tokens) }
        }
        let (first, _, none) = fit(options)
        #expect(none.isEmpty)
        let firstBits = bitsPerToken(first)
        options.initial = first
        options.lr = 1e-9
        options.finalLR = 1e-10
        let (again, _, starts) = fit(options)
        #expect(starts.count == vq.quantizer.stages)
        for (l, start) in starts.enumerated() {
            #expect(abs(start - firstBits[l]) < 0.05, "stage \(l + 1): float start \(start), integer prior \(firstBits[l]) bits/token")
        }
        for (l, b) in bitsPerToken(again).enumerated() {
            #expect(abs(b - firstBits[l]) < 0.05, "stage \(l + 1): requantized \(b), initial \(firstBits[l]) bits/token")
        }
        options.lr = 2e-3
        options.finalLR = 2e-4
        let (_, reports, starts2) = fit(options)
        // The start is read from the log, cut to 3 decimals (`fmt`): within that.
        for (r, start) in zip(reports, starts2) { #expect(r.floatBits <= start + 0.001, "\(r.floatBits) > \(start)") }
    }

    @Test func ransRoundTripsAnyFrequencies() throws {
        var rng = Xoshiro256(seed: 5)
        for trial in 0..<20 {
            let k = 2 + Int(rng.next() % 300)
            // A random distribution summing to 2^16, every frequency ≥ 1, some very skewed.
            var freq = [UInt32](repeating: 1, count: k)
            var left = RANS.total - UInt32(k)
            while left > 0 {
                let i = trial % 3 == 0 ? 0 : Int(rng.next() % UInt64(k))
                let add = min(left, 1 + UInt32(rng.next() % 4000))
                freq[i] += add
                left -= add
            }
            var cum = [UInt32](repeating: 0, count: k + 1)
            for i in 0..<k { cum[i + 1] = cum[i] + freq[i] }
            let symbols = (0..<(1 + Int(rng.next() % 3000))).map { _ in Int(rng.next() % UInt64(k)) }
            var enc = RANSEncoder()
            for s in symbols.reversed() { enc.put(start: cum[s], freq: freq[s]) }
            let stream = enc.finish()
            var dec = try RANSDecoder(stream)
            var back: [Int] = []
            for _ in symbols {
                let slot = dec.slot
                let s = (0..<k).last { cum[$0] <= slot }!
                try dec.advance(start: cum[s], freq: freq[s])
                back.append(s)
            }
            try dec.finish()
            #expect(back == symbols)
            // The code length is within 1 % + the 4-byte state of the ideal one.
            var ideal = 0.0
            for s in symbols { ideal += 16 - Double.log2(Double(freq[s])) }
            #expect(Double(stream.count * 8) <= ideal * 1.01 + 40)
        }
    }

    @Test func ransRefusesShortOrUnfinishedStreams() throws {
        #expect(throws: RANSError.self) { _ = try RANSDecoder([1, 2, 3]) }
        #expect(throws: RANSError.self) { _ = try RANSDecoder([0, 0, 0, 0]) }  // state below 2^23
        var enc = RANSEncoder()
        for _ in 0..<100 { enc.put(start: 0, freq: 3) }
        let stream = enc.finish()
        var dec = try RANSDecoder(stream + [7])
        for _ in 0..<100 { try dec.advance(start: 0, freq: 3) }
        #expect(throws: RANSError.self) { try dec.finish() }  // a byte is left over
    }

    @Test func expTableIsFarFromRoundingBoundaries() {
        // Any libm (or none: the table is a series in plain arithmetic) gives the same integers.
        for i in 0..<256 {
            let exact = 16_777_216.0 * Double.exp2(-Double(i) / 256)
            let frac = exact - exact.rounded(.down)
            #expect(abs(frac - 0.5) > 1e-4, "entry \(i): \(exact)")
            #expect(Double(IntegerPrior.expTable[i]) == exact.rounded())
        }
    }

    @Test func frequenciesAreAValidTableAndTheCoderRoundTrips() throws {
        let model = TinyModels.vq
        let prior = try TinyPrior.prior(for: model)
        let grids = try TinyPrior.grids(model, count: 3, seed: 300)
        var s = IntegerPrior.Scratch(prior: prior.prior)
        for g in grids {
            let flat = Array(g.planes.joined())
            flat.withUnsafeBufferPointer { buf in
                for l in 0..<g.planes.count {
                    let partial = IntegerPrior.partialReconstruction(stage: l, planes: buf.baseAddress!, count: g.height * g.width,
                                                                     cbq: prior.prior.cbq, latentChannels: prior.prior.latentChannels) + [0]
                    for i in [0, g.height - 1] { for j in [0, g.width / 2, g.width - 1] {
                        prior.prior.frequencies(stage: l, level: g.planes.count, planes: buf.baseAddress!, partial: partial, height: g.height, width: g.width, row: i, col: j, scratch: &s)
                        #expect(s.freq.allSatisfy { $0 >= 1 })
                        #expect(s.cum.last == RANS.total)
                    } }
                }
            }
            let streams = try prior.encodeStreams(planes: g.planes, codedLevel: g.level, height: g.height, width: g.width)
            #expect(try prior.decodeStreams(streams.map { $0[...] }, codedLevel: g.level, height: g.height, width: g.width) == g.planes)
            // Fewer planes coded for the same level are a prefix of the streams: plane l is coded
            // given planes < l only (what trimming relies on).
            let two = try prior.encodeStreams(planes: Array(g.planes.prefix(2)), codedLevel: g.level, height: g.height, width: g.width)
            #expect(two == Array(streams.prefix(2)))
            #expect(try prior.decodeStreams(Array(streams.prefix(2)).map { $0[...] }, codedLevel: g.level, height: g.height, width: g.width)
                    == Array(g.planes.prefix(2)))
        }
    }

    @Test func priorFilesRoundTripAndNameTheirModel() throws {
        let model = TinyModels.vq
        let prior = try TinyPrior.prior(for: model)
        let bytes = try prior.file.serialized()
        let back = try PriorFile(bytes: bytes)
        #expect(back.stages == prior.file.stages)
        #expect(back.modelID == model.id)
        // Another model refuses it, by id.
        #expect(throws: CodecError.self) { _ = try LoadedPrior(bytes: bytes, name: "p.vqzp", model: TinyModels.otherVQ) }
        // A damaged weight (out of range) is refused with a sentence, not used.
        // Each weight array's extremes, Int16.min included (|−32768| does not fit an Int16: the check
        // must not compute it).
        for value: Int16 in [4000, -4000, .min, .max] {
            var file = prior.file
            file.stages[0].w2[0] = value
            #expect(throws: PriorFile.ReadError.self) { _ = try PriorFile(bytes: try file.serialized()) }
            if file.stages.count > 1, !file.stages[1].wp.isEmpty {
                file = prior.file
                file.stages[1].wp[0] = value
                #expect(throws: PriorFile.ReadError.self) { _ = try PriorFile(bytes: try file.serialized()) }
            }
        }
        for value: Int32 in [.min, .max] {
            var file = prior.file
            file.stages[0].b1[0] = value
            #expect(throws: PriorFile.ReadError.self) { _ = try PriorFile(bytes: try file.serialized()) }
            file = prior.file
            file.stages[0].b2[0] = value
            #expect(throws: PriorFile.ReadError.self) { _ = try PriorFile(bytes: try file.serialized()) }
        }
    }

    @Test func priorCodedFilesDecodeToTheSamePixelsAsZstdFiles() throws {
        let model = TinyModels.vq
        let prior = try TinyPrior.prior(for: model)
        for format in [PixelFormat.rgb, .rgba] {
            let image = testImage(width: 45, height: 27, format: format, seed: 9)
            for level in model.levels {
                let z = try ImageCodec.encode(image, model: model, level: level)
                let p = try ImageCodec.encode(image, model: model, level: level, prior: prior)
                let h = try BitstreamHeader.parse(p)
                #expect(h.flags.contains(.tokenPrior))
                #expect(h.versionMinor == 2)
                #expect(BitstreamFile.priorID(of: p, header: h) == prior.priorID)
                #expect(try ImageCodec.decode(p, model: model, prior: prior) == ImageCodec.decode(z, model: model))
                // Without its prior the file is refused with a sentence naming the prior.
                #expect {
                    _ = try ImageCodec.decode(p, model: model)
                } throws: { "\($0)".contains(prior.priorID.hex) }
            }
        }
    }

    @Test func damagedPriorCodedFilesAreRefused() throws {
        let model = TinyModels.vq
        let prior = try TinyPrior.prior(for: model)
        let image = testImage(width: 29, height: 21, format: .rgb, seed: 11)
        let bytes = try ImageCodec.encode(image, model: model, level: model.levels.last!, prior: prior)
        for length in 0..<bytes.count {
            #expect((try? ImageCodec.decode(Array(bytes[..<length]), model: model, prior: prior)) == nil)
        }
        var rng = Xoshiro256(seed: 0xF11F)
        for _ in 0..<1500 {
            var damaged = bytes
            damaged[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(1 + rng.next() % 255)
            #expect((try? ImageCodec.decode(damaged, model: model, prior: prior)) == nil)
        }
        // Damage behind a recomputed CRC (what a fuzzer does): never a crash; an error, or tokens.
        let h = try BitstreamHeader.parse(bytes)
        for _ in 0..<300 {
            var damaged = bytes
            let o = h.headerSize + 17 + Int(rng.next() % UInt64(h.tokenSectionSize - 17))
            damaged[o] ^= UInt8(1 + rng.next() % 255)
            let crc = CRC32.checksum(damaged[h.headerSize...])
            for k in 0..<4 { damaged[64 + k] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k))) }
            let headerCRC = CRC32.checksum(damaged[..<(h.headerSize - 4)])
            for k in 0..<4 { damaged[h.headerSize - 4 + k] = UInt8(truncatingIfNeeded: headerCRC >> (8 * UInt32(k))) }
            _ = try? ImageCodec.decode(damaged, model: model, prior: prior)
        }
    }
}

/// The committed prior-coded golden file (Tests/Fixtures/prior): a tiny model (codebooks only), an
/// integer prior drawn from a seeded generator (no training, no floating point), and a file coded
/// with them. Encoding must give the same bytes on every machine, and decoding the same tokens.
/// VQZ_REGENERATE_GOLDEN=1 rewrites the files on purpose.
enum PriorGolden {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/prior")
    static let (K, D, H, S, gw, gh) = (16, 3, 8, 3, 7, 5)

    static var codebooks: [[Float]] {
        var rng = Xoshiro256(seed: 71)
        // Values exactly representable in f16 (multiples of 1/64 within ±2).
        return (0..<S).map { _ in (0..<(K * D)).map { _ in Float(Int(rng.next() % 257) - 128) / 64 } }
    }

    static var modelFile: ModelFile {
        ModelFile(metadata: [.init("architecture", .string("golden-codebooks"))],
                  arrays: codebooks.enumerated().map { .init(name: "vq.codebook.\($0.offset)", shape: [K, D], floats: $0.element, dtype: .f16) })
    }

    static func stages() -> [IntegerPriorStage] {
        randomStages(K: K, D: D, H: H, S: S, seed: 72, multLimit: 4096) { _, rng in 1 + Int64(rng.next() % 400) }
    }

    /// Random integer stages within the format's ranges: embeddings on the i16 grid (shift 5), hidden
    /// multipliers below `multLimit`, stage l's logit scale from `logitScale(l, &rng)` after its
    /// other weights.
    static func randomStages(K: Int, D: Int, H: Int, S: Int, seed: UInt64, multLimit: UInt64,
                             logitScale: (Int, inout Xoshiro256) -> Int64) -> [IntegerPriorStage] {
        var rng = Xoshiro256(seed: seed)
        func ints(_ n: Int, _ limit: Int) -> [Int] { (0..<n).map { _ in Int(rng.next() % UInt64(2 * limit + 1)) - limit } }
        return (0..<S).map { l in
            let slots = IntegerPrior.slotCount(stage: l)
            let wp = ints(H * IntegerPrior.denseCount(stage: l, latentChannels: D), 2047).map { Int16($0) }, b1 = ints(H, 1 << 20).map { Int32($0) }
            let emb = ints(slots * (K + 1) * H, 32767).map { Int32($0) << 5 }, mult = (0..<H).map { _ in Int64(rng.next() % multLimit) }
            let w2 = ints(K * H, 2047).map { Int16($0) }, b2 = ints(K, 1 << 16).map { Int32($0) }
            return IntegerPriorStage(slots: slots, wp: wp, b1: b1, emb: emb, mult: mult, w2: w2, b2: b2, logitScale: logitScale(l, &rng))
        }
    }

    static var tokens: [UInt16] {
        var rng = Xoshiro256(seed: 73)
        return (0..<(S * gw * gh)).map { _ in UInt16(rng.next() % UInt64(K)) }
    }
}

extension PriorTests {
    @Test func goldenPriorCodedFileIsByteExact() throws {
        let modelBytes = try PriorGolden.modelFile.serialized()
        let modelID = ModelID(modelFile: modelBytes)
        let pf = PriorFile(modelID: modelID, modelName: "golden", codebookSize: PriorGolden.K, latentChannels: PriorGolden.D,
                           hidden: PriorGolden.H, inputShift: 6, stages: PriorGolden.stages())
        let priorBytes = try pf.serialized()
        struct Coder: TokenPriorCoding {
            let priorID: ModelID, prior: IntegerPrior
            func encodeStreams(planes: [[UInt16]], codedLevel: Int, height: Int, width: Int) throws -> [[UInt8]] {
                prior.encode(planes: planes, level: codedLevel, height: height, width: width)
            }
            func decodeStreams(_ s: [ArraySlice<UInt8>], codedLevel: Int, height: Int, width: Int) throws -> [[UInt16]] {
                try prior.decode(streams: s, level: codedLevel, height: height, width: width)
            }
        }
        let coder = Coder(priorID: ModelID(modelFile: priorBytes), prior: pf.prior(codebooks: PriorGolden.codebooks))
        let content = BitstreamFile(payloadKind: .vqTokens, downsampleFactor: 8, imageWidth: 8 * PriorGolden.gw - 3, imageHeight: 8 * PriorGolden.gh,
                                    level: PriorGolden.S, planeCount: PriorGolden.S, alphabetSizes: [PriorGolden.K], modelID: modelID,
                                    symbols: PriorGolden.tokens)
        let bytes = try content.serialized(options: BitstreamWriteOptions(prior: coder))
        let files = [("golden.vqzm", modelBytes), ("golden.vqzp", priorBytes), ("golden.vqz", bytes)]
        if ProcessInfo.processInfo.environment["VQZ_REGENERATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: PriorGolden.dir, withIntermediateDirectories: true)
            for (name, b) in files { try Data(b).write(to: PriorGolden.dir.appendingPathComponent(name)) }
        }
        for (name, b) in files {
            let committed = try [UInt8](Data(contentsOf: PriorGolden.dir.appendingPathComponent(name)))
            #expect(committed == b, "\(name) differs from the committed golden file")
        }
        let (_, back) = try BitstreamFile.parse(bytes, prior: coder)
        #expect(back.symbols == PriorGolden.tokens)
    }
}

extension PriorTests {
    @Test func priorCodedFilesTrimWithoutThePrior() throws {
        let model = TinyModels.vq
        let prior = try TinyPrior.prior(for: model)
        let image = testImage(width: 37, height: 30, format: .rgba, seed: 4)
        let top = try ImageCodec.encode(image, model: model, level: 3, refine: 0, beam: 1, prior: prior)
        for level in 1...3 {
            let trimmed = try BitstreamFile.trimmedPriorCoded(top, toLevel: level)
            let direct = try ImageCodec.encode(image, model: model, level: level, refine: 0, beam: 1, prior: prior)
            // The tiny model chooses nearest codes at every level, so greedy level L is the first L stages;
            // the trimmed streams keep the level they were coded for (Coded_Level 3).
            let h = try BitstreamHeader.parse(trimmed)
            #expect(try BitstreamFile.priorSectionLayout(trimmed[h.headerSize..<h.headerSize + h.tokenSectionSize], header: h).codedLevel == 3)
            #expect(try ImageCodec.decode(trimmed, model: model, prior: prior) == ImageCodec.decode(direct, model: model, prior: prior), "level \(level)")
        }
        #expect(throws: ContainerError.self) { _ = try BitstreamFile.trimmedPriorCoded(top, toLevel: 4) }
        #expect(throws: ContainerError.self) { _ = try BitstreamFile.trimmedPriorCoded(try ImageCodec.encode(image, model: model, level: 2), toLevel: 1) }
    }
}

extension PriorTests {
    @Test func tokenPriorNeedsVersionMinor2() throws {
        var bytes = try [UInt8](Data(contentsOf: PriorGolden.dir.appendingPathComponent("golden.vqz")))
        #expect(bytes[9] == 2)
        bytes[9] = 1
        let hs = Int(bytes[10]) | Int(bytes[11]) << 8
        let crc = CRC32.checksum(bytes[..<(hs - 4)])
        for k in 0..<4 { bytes[hs - 4 + k] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k))) }
        #expect(throws: ContainerError.invalidField(field: "Flags", value: "Token_Prior in a version 1.1 file", allowed: "Token_Prior only from Version_Minor 2")) {
            _ = try BitstreamHeader.parse(bytes)
        }
    }
}

extension PriorTests {
    /// The fast path (banded, threaded, sparse output layer) gives exactly the reference tables.
    @Test func fastTablesEqualTheReference() throws {
        let model = TinyModels.vq
        let trained = try TinyPrior.prior(for: model).prior
        let random = PriorFile(modelID: model.id, modelName: "", codebookSize: PriorGolden.K, latentChannels: PriorGolden.D,
                               hidden: PriorGolden.H, inputShift: 6, stages: PriorGolden.stages()).prior(codebooks: PriorGolden.codebooks)
        for (prior, grids) in [(trained, try TinyPrior.grids(model, count: 2, seed: 400)),
                               (random, [TokenGrid(planes: (0..<3).map { l in Array(PriorGolden.tokens[(l * 35)..<((l + 1) * 35)]) }, height: 5, width: 7)])] {
            for g in grids {
                let flat = Array(g.planes.joined())
                let n = g.height * g.width
                var reference = IntegerPrior.Scratch(prior: prior)
                var mismatches = 0
                prior.forEachTable(planes: flat, levels: g.planes.count, level: g.planes.count, height: g.height, width: g.width) { l, i, j, s in
                    flat.withUnsafeBufferPointer { buf in
                        let partial = IntegerPrior.partialReconstruction(stage: l, planes: buf.baseAddress!, count: n, cbq: prior.cbq,
                                                                         latentChannels: prior.latentChannels) + [0]
                        prior.frequencies(stage: l, level: g.planes.count, planes: buf.baseAddress!, partial: partial, height: g.height, width: g.width,
                                          row: i, col: j, scratch: &reference)
                    }
                    if reference.freq != s.freq || reference.cum != s.cum { mismatches += 1 }
                }
                #expect(mismatches == 0)
            }
        }
    }
}

extension PriorTests {
    static let pools = [ThreadPool(threadCount: 1), ThreadPool(threadCount: 2), ThreadPool(threadCount: 3)]

    /// Planes run as a wavefront across threads: the streams and the decoded tokens are the same
    /// with 1, 2 or 3 threads, and a damaged plane in the middle fails the decode (no hang, no
    /// partial grid) whatever the thread count.
    @Test func wavefrontDoesNotDependOnTheThreadCount() throws {
        let prior = PriorFile(modelID: TinyModels.vq.id, modelName: "", codebookSize: PriorGolden.K, latentChannels: PriorGolden.D,
                              hidden: PriorGolden.H, inputShift: 6, stages: PriorGolden.stages()).prior(codebooks: PriorGolden.codebooks)
        let (h, w) = (24, 31), n = h * w
        var rng = Xoshiro256(seed: 5)
        let planes = (0..<PriorGolden.S).map { _ in (0..<n).map { _ in UInt16(rng.next() % UInt64(PriorGolden.K)) } }
        let reference = Self.pools[0].run { prior.encode(planes: planes, height: h, width: w) }
        for pool in Self.pools {
            let streams = pool.run { prior.encode(planes: planes, height: h, width: w) }
            #expect(streams == reference, "\(pool.threadCount) threads")
            let back = try pool.run { try prior.decode(streams: streams.map { $0[...] }, height: h, width: w) }
            #expect(back == planes, "\(pool.threadCount) threads")
            var damaged = streams.map { $0[...] }
            damaged[1] = damaged[1].prefix(2)
            #expect(throws: RANSError.self, "\(pool.threadCount) threads") {
                _ = try pool.run { try prior.decode(streams: damaged, height: h, width: w) }
            }
        }
    }
}

extension PriorTests {
    /// Random integer weights of the shapes the shipped priors use (the C kernel's AVX2 path needs
    /// H and K multiples of 16; the tiny priors above take the other path), logit scales
    /// from small to the format's largest so that the 8191 cap and the 64-bit products are reached.
    static func wideStages(K: Int, D: Int, H: Int, S: Int, seed: UInt64) -> [IntegerPriorStage] {
        PriorGolden.randomStages(K: K, D: D, H: H, S: S, seed: seed, multLimit: 1024) { l, rng in
            [1 + Int64(rng.next() % 400), (1 << 18) + Int64(rng.next() % 1000), Int64(Int32.max)][l % 3]
        }
    }

    /// (K, H, D): the dense input's 4-row AVX2 kernel takes 2·D a multiple of 16 (D = 8, 64, and the
    /// shipped 128's shape class), with H = 18 leaving rows over for its scalar tail.
    @Test(.serialized, arguments: [(256, 64, 4), (256, 48, 4), (64, 16, 4), (256, 48, 64), (64, 18, 8)])
    func wideKernelEqualsTheReference(shape: (Int, Int, Int)) throws {
        let (K, H, D) = shape, S = 3, h = 9, w = 13, n = h * w
        var rng = Xoshiro256(seed: 9)
        let codebooks = (0..<S).map { _ in (0..<(K * D)).map { _ in Float(Int(rng.next() % 257) - 128) / 64 } }
        let prior = PriorFile(modelID: TinyModels.vq.id, modelName: "", codebookSize: K, latentChannels: D, hidden: H, inputShift: 6,
                              stages: Self.wideStages(K: K, D: D, H: H, S: S, seed: UInt64(K + H))).prior(codebooks: codebooks)
        let flat = (0..<(S * n)).map { _ in UInt16(rng.next() % UInt64(K)) }
        var reference = IntegerPrior.Scratch(prior: prior)
        // Every kernel this CPU has (portable C, the same compiled for AVX2, AVX2, AVX-512 and
        // AVX512-VNNI on the paired weights), each against the Swift reference.
        defer { vqz_prior_force_kernel(-1) }
        for kernel in [-1, 0, 1, 2, 3, 4] {
            vqz_prior_force_kernel(Int32(kernel))
            var mismatches = 0, capped = 0
            prior.forEachTable(planes: flat, levels: S, level: S, height: h, width: w) { l, i, j, s in
                flat.withUnsafeBufferPointer { buf in
                    let partial = IntegerPrior.partialReconstruction(stage: l, planes: buf.baseAddress!, count: n, cbq: prior.cbq, latentChannels: D) + [0]
                    prior.frequencies(stage: l, level: S, planes: buf.baseAddress!, partial: partial, height: h, width: w, row: i, col: j, scratch: &reference)
                }
                if reference.freq != s.freq || reference.cum != s.cum { mismatches += 1 }
                capped += s.freq.filter { $0 == 1 }.count
            }
            #expect(mismatches == 0, "kernel \(kernel)")
            #expect(capped > 0, "no table reached the smallest frequency")
        }
    }
}

extension PriorTests {
    /// The codebooks' fixed point without libm equals `rounded(.toNearestOrAwayFromZero)` then the
    /// clamp (its definition) on halves, values next to halves, the 2^23 and 2^30 edges, non-finite
    /// and subnormal values, and random ones, at several shifts.
    @Test func fixedPointEqualsRoundingHalfAwayFromZero() {
        func reference(_ v: Float, _ shift: Int) -> Int32 {
            let s = (v * Float(sign: .plus, exponent: shift, significand: 1)).rounded(.toNearestOrAwayFromZero)
            return s.isNaN ? 0 : Int32(max(-1_073_741_824, min(1_073_741_824, s)))
        }
        var values: [Float] = [0, -0, .nan, .infinity, -.infinity, .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude]
        let bases: [Float] = [0.5, 1.5, 2.5, 4_194_304, 8_388_608, 16_777_216, 536_870_912, 1_073_741_824, 2_147_483_648]
        for base in bases {
            for v: Float in [base, base.nextUp, base.nextDown, base + 0.5] { values += [v, -v] }
        }
        var rng = Xoshiro256(seed: 3)
        for _ in 0..<20_000 { values.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) }
        for _ in 0..<20_000 { values.append(Float(Int(rng.next() % 2_000_001) - 1_000_000) / 1024) }
        for shift in [-3, 0, 6, 10, 24] {
            let got = IntegerPrior.fixedPoint(values, shift: shift)
            let bad = values.indices.filter { got[$0] != reference(values[$0], shift) }
            #expect(bad.isEmpty, "shift \(shift): \(bad.prefix(3).map { values[$0] })")
        }
    }
}

extension ThreadPool {
    /// `body` with this pool as the kernels' pool.
    func run<T>(_ body: () throws -> T) rethrows -> T { try ThreadPool.$current.withValue(self) { try body() } }
}

/// tools/vqz_dump.py, the second reader written from the specs alone, decodes the golden
/// prior-coded file with its own integer prior and rANS; its self-test covers the corner cases.
@Suite struct PriorSecondReaderTests {
    static func python(_ arguments: [String]) throws -> (status: Int32, stdout: Data, stderr: String) {
        let root = PriorGolden.dir.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", root.appendingPathComponent("tools/vqz_dump.py").path] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        p.environment = environment
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, stdout, stderr)
    }

    @Test func decodesTheGoldenPriorCodedFile() throws {
        let f = { PriorGolden.dir.appendingPathComponent($0).path }
        let r = try Self.python(["--json", "--model", f("golden.vqzm"), "--prior", f("golden.vqzp"), f("golden.vqz")])
        try #require(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        let planes = try #require(json["Planes"] as? [[Int]])
        #expect(planes.flatMap { $0 } == PriorGolden.tokens.map(Int.init))
        // Without the prior: the container is checked, the tokens are not decoded.
        let bare = try Self.python(["--json", f("golden.vqz")])
        #expect(bare.status == 0, "\(bare.stderr)")
    }

    @Test func selfTestPasses() throws {
        let r = try Self.python(["--self-test"])
        #expect(r.status == 0, "\(r.stderr.suffix(2000))")
    }
}

/// Finding a model by id tries the model whose card claims the id first; a card that names
/// another file's id (stale, copied) only costs a wasted hash, never a wrong model.
@Suite struct ModelLookupTests {
    @Test func cardsAreHintsNotTruth() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqz-lookup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = ModelConfig(family: .vq, channels: 4, latentChannels: 3, stages: 3, codebookSize: 16)
        let a = try TinyModels.bytes(config, seed: 1), b = try TinyModels.bytes(config, seed: 2)
        let (idA, idB) = (ModelID(modelFile: a), ModelID(modelFile: b))
        try Data(a).write(to: dir.appendingPathComponent("a.vqzm"))
        try Data(b).write(to: dir.appendingPathComponent("b.vqzm"))
        // Swapped cards: a's card claims b's id and b's claims a's.
        for (name, id) in [("a", idB), ("b", idA)] {
            let card = ModelCard(isDefault: false, modelID: id.hex, images: "test", levels: [])
            try JSONEncoder().encode(card).write(to: dir.appendingPathComponent("\(name).card.json"))
        }
        let registry = ModelRegistry(directories: [dir.path])
        #expect(registry.hintedPaths(for: idA).map { ($0 as NSString).lastPathComponent } == ["b.vqzm"])
        for id in [idA, idB] {
            #expect(try registry.model(withID: id).id == id)
            #expect(try ModelCache(registry: registry).model(withID: id).id == id)
        }
        let cache = ModelCache(registry: registry)
        #expect(try cache.model(withID: idB).id == idB)
        #expect(try cache.model(withID: idA).id == idA)
    }
}
