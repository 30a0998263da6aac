// CRC-32, SHA-256, the byte reader/writer and the zstd wrapper, against published values.

import Container
import Foundation
import Testing

@Suite struct ChecksumTests {
    @Test func crc32CheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    @Test func crc32IsIncremental() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var crc = CRC32()
        crc.update(data[..<333])
        crc.update(data[333...])
        #expect(crc.value == CRC32.checksum(data))
    }

    /// The 8-bytes-at-a-time path (contiguous storage) equals the byte-at-a-time one (any other
    /// sequence) at every length and split, the check value included.
    @Test func crc32SlicedEqualsBytewise() {
        var x: UInt32 = 12345
        let data = (0..<1029).map { _ -> UInt8 in x = x &* 1_103_515_245 &+ 12345; return UInt8(truncatingIfNeeded: x >> 16) }
        for n in [0, 1, 7, 8, 9, 15, 16, 17, 63, 1029] {
            let bytewise = CRC32.checksum(data[..<n].lazy.map { $0 })
            #expect(CRC32.checksum(data[..<n]) == bytewise, "\(n) bytes")
            var split = CRC32()
            split.update(data[..<(n / 3)])
            split.update(data[(n / 3)..<n])
            #expect(split.value == bytewise, "\(n) bytes, split")
        }
        #expect(CRC32.checksum(Array("123456789".utf8).lazy.map { $0 }) == 0xCBF4_3926)
    }

    // FIPS 180-4 / NIST example vectors.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func sha256Vectors(input: String, expected: String) {
        let digest = SHA256.hash(Array(input.utf8))
        #expect(digest.map { String(format: "%02x", $0) }.joined() == expected)
    }

    @Test func sha256MillionA() {
        var h = SHA256()
        let chunk = [UInt8](repeating: 0x61, count: 1000)
        for _ in 0..<1000 { h.update(chunk[0..<371]); h.update(chunk[371...]) }
        let hex = h.finalize().map { String(format: "%02x", $0) }.joined()
        #expect(hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func modelIDHex() throws {
        let id = ModelID(modelFile: Array("abc".utf8))
        #expect(id.hex == "ba7816bf8f01cfea414140de5dae2223")
        #expect(ModelID(hex: id.hex) == id)
        #expect(ModelID(hex: "xyz") == nil)
        #expect(ModelID(bytes: [1, 2, 3]) == nil)
    }
}

@Suite struct ByteIOTests {
    @Test func littleEndianRoundTrip() throws {
        var w = ByteWriter()
        w.u8(0xAB); w.u16(0x1234); w.u32(0xDEAD_BEEF); w.u64(0x0102_0304_0506_0708); w.f32(-1.5)
        #expect(Array(w.bytes[1..<3]) == [0x34, 0x12])
        var r = ByteReader(w.bytes)
        #expect(try r.u8() == 0xAB)
        #expect(try r.u16() == 0x1234)
        #expect(try r.u32() == 0xDEAD_BEEF)
        #expect(try r.u64() == 0x0102_0304_0506_0708)
        #expect(try r.f32() == -1.5)
        #expect(r.remaining == 0)
        #expect(throws: ByteReader.OutOfBounds(offset: 19, needed: 1, available: 0)) { try r.u8() }
    }
}

@Suite struct ZstdTests {
    let data: [UInt8] = (0..<5000).map { UInt8(truncatingIfNeeded: ($0 * $0) >> 5) }

    @Test func roundTripWithChecksumAndSize() throws {
        let frame = try Zstd.compress(data, level: 19)
        let info = try Zstd.frameInfo(frame[...])
        #expect(info.contentSize == UInt64(data.count))
        #expect(info.hasChecksum)
        #expect(info.compressedSize == frame.count)
        #expect(info.dictionaryID == 0)
        #expect(try Zstd.decompress(frame[...], expectedSize: data.count) == data)
    }

    @Test func wrongExpectedSizeIsAnError() throws {
        let frame = try Zstd.compress(data)
        #expect(throws: ZstdError.self) { try Zstd.decompress(frame[...], expectedSize: data.count - 1) }
        #expect(throws: ZstdError.self) { try Zstd.decompress(frame[...], expectedSize: data.count + 1) }
    }

    @Test func corruptFrameIsNamed() throws {
        var frame = try Zstd.compress(data)
        frame[frame.count - 2] ^= 0xFF  // inside the content checksum
        let error = #expect(throws: ZstdError.self) { try Zstd.decompress(frame[...], expectedSize: data.count) }
        #expect(error?.name.isEmpty == false)
        #expect(throws: ZstdError.self) { try Zstd.frameInfo([1, 2, 3][...]) }
    }

    @Test func dictionaryRoundTrip() throws {
        // Token-like samples: small alphabets with structure, the case a per-model dictionary targets.
        var rng = SplitMix(seed: 7)
        let samples: [[UInt8]] = (0..<200).map { _ in (0..<300).map { _ in UInt8(rng.next() % 24) &* 3 } }
        let dictionary = try Zstd.trainDictionary(samples: samples, capacity: 4096)
        let id = Zstd.dictionaryID(dictionary)
        #expect(id != 0)
        let frame = try Zstd.compress(samples[0], dictionary: dictionary)
        #expect(try Zstd.frameInfo(frame[...]).dictionaryID == id)
        #expect(try Zstd.decompress(frame[...], expectedSize: 300, dictionary: dictionary) == samples[0])
        #expect(throws: ZstdError.self) { try Zstd.decompress(frame[...], expectedSize: 300) }
    }
}

/// A tiny deterministic generator for test data (SplitMix64).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct SectionBoundTests {
    @Test(arguments: [0, 1, 12, 255, 4096, 131_071, 131_072, 1 << 20, 123_456_789])
    func specFormulaMatchesLibzstd(n: Int) {
        #expect(BitstreamFormat.sectionBound(n) == Zstd.compressBound(n))
    }
}
