// Random mutations almost never pass a CRC-32, so the fuzzer would only ever test the checksum
// check. These repair the checksums of a mutated input first (each target runs the input as given
// too), so the fuzzer reaches the field rules, zstd and the decoder behind them.

import Container

public enum Checksums {
    static func putU32LE(_ v: UInt32, _ b: inout [UInt8], at o: Int) {
        for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }

    /// A .vqz with Header_CRC32 and Payload_CRC32 recomputed where Header_Size allows (FORMAT.md).
    public static func repairedVQZ(_ input: [UInt8]) -> [UInt8]? {
        guard input.count >= 76 else { return nil }
        var b = input
        let headerSize = Int(b[10]) | Int(b[11]) << 8
        guard headerSize >= 76, headerSize <= b.count else { return nil }
        putU32LE(CRC32.checksum(b[headerSize...]), &b, at: 64)
        putU32LE(CRC32.checksum(b[..<(headerSize - 4)]), &b, at: headerSize - 4)
        return b == input ? nil : b
    }

    /// A PNG with every chunk's CRC recomputed (chunks: length u32 BE, type, data, CRC of type+data).
    public static func repairedPNG(_ input: [UInt8]) -> [UInt8]? {
        guard input.count > 8 else { return nil }
        var b = input
        var o = 8
        while o + 12 <= b.count {
            let length = Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3])
            guard length <= b.count - o - 12 else { break }
            let crc = CRC32.checksum(b[(o + 4)..<(o + 8 + length)])
            for i in 0..<4 { b[o + 8 + length + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(3 - i))) }
            o += 12 + length
        }
        return b == input ? nil : b
    }
}
