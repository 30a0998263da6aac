// Damaged .vqz files through the whole decode path (container → tokens → model → pixels): every
// truncation and thousands of seeded random byte changes of real encoded files, VQ and Gaussian,
// with and without alpha. FORMAT.md: Header_CRC32 and Payload_CRC32 together cover every byte, so
// every such change must be refused with an error — none decodes, none crashes.

import Codec
import Container
import Imaging
import Models
import TensorCore
import Testing

@Suite struct CorruptionTests {
    enum Case: String, CaseIterable, CustomTestStringConvertible {
        case vq, vqAlpha, gaussian, gaussianAlpha
        var testDescription: String { rawValue }
    }

    /// A file of each kind, and the model that decodes it.
    static func file(_ c: Case) throws -> ([UInt8], LoadedModel) {
        let model = (c == .vq || c == .vqAlpha) ? TinyModels.vq : TinyModels.gaussian
        let format: PixelFormat = (c == .vqAlpha || c == .gaussianAlpha) ? .rgba : .rgb
        let image = testImage(width: 29, height: 21, format: format, seed: 11)
        let bytes = try ImageCodec.encode(image, model: model, level: model.levels.last!)
        _ = try ImageCodec.decode(bytes, model: model)  // the undamaged file decodes
        return (bytes, model)
    }

    @Test(arguments: Case.allCases)
    func everyTruncationIsRefused(_ c: Case) throws {
        let (bytes, model) = try Self.file(c)
        var decoded: [Int] = []
        for length in 0..<bytes.count {
            if (try? ImageCodec.decode(Array(bytes[..<length]), model: model)) != nil { decoded.append(length) }
        }
        #expect(decoded.isEmpty, "truncated to \(decoded) bytes, the file still decoded")
        // … and one extra byte too.
        #expect((try? ImageCodec.decode(bytes + [0], model: model)) == nil)
    }

    @Test(arguments: Case.allCases)
    func randomByteChangesAreRefused(_ c: Case) throws {
        let (bytes, model) = try Self.file(c)
        var rng = Xoshiro256(seed: 0xF11F + UInt64(c.rawValue.count))
        var undetected: [(offset: Int, mask: UInt8)] = []
        var messages = Set<String>()
        for _ in 0..<1500 {
            var damaged = bytes
            let offset = Int(rng.next() % UInt64(bytes.count))
            let mask = UInt8(1 + rng.next() % 255)
            damaged[offset] ^= mask
            do {
                _ = try ImageCodec.decode(damaged, model: model)
                undetected.append((offset, mask))
            } catch {
                messages.insert("\(error)".split(separator: ":").first.map(String.init) ?? "")
            }
        }
        #expect(undetected.isEmpty, "changes decoded without an error: \(undetected.prefix(10))")
        // Every refusal is a sentence naming what is wrong (not an empty or generic message).
        #expect(!messages.contains(""))
    }

    @Test(arguments: Case.allCases)
    func multiByteDamageIsRefused(_ c: Case) throws {
        // Runs of 2–16 random bytes: what a bad sector or a partial overwrite does.
        let (bytes, model) = try Self.file(c)
        var rng = Xoshiro256(seed: 0xBAD5EC)
        for _ in 0..<500 {
            var damaged = bytes
            let length = 2 + Int(rng.next() % 15)
            let start = Int(rng.next() % UInt64(bytes.count))
            for i in start..<min(start + length, bytes.count) { damaged[i] = UInt8(truncatingIfNeeded: rng.next()) }
            if damaged == bytes { continue }
            #expect((try? ImageCodec.decode(damaged, model: model)) == nil, "damage at \(start)..<\(start + length) decoded")
        }
    }
}
