// CRC-32 (ISO-HDLC: the polynomial of PNG, zlib and gzip), used by the .vqz header and .vqzm files.

/// CRC-32/ISO-HDLC: reflected polynomial `0xEDB88320`, initial value and final XOR `0xFFFFFFFF`.
///
/// `CRC32.checksum(Array("123456789".utf8)) == 0xCBF43926` (the catalogue check value).
public struct CRC32: Sendable {
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// Slicing-by-8 tables: `sliced[k · 256 + n]` is the CRC register after byte n followed by k
    /// zero bytes (`sliced[0 ..< 256]` = `table`), so 8 bytes are folded with 8 lookups and no
    /// dependency between them (≈ 4× the byte-at-a-time loop; model and prior files are hashed and
    /// checked on every decode).
    private static let sliced: [UInt32] = {
        var t = table + [UInt32](repeating: 0, count: 7 * 256)
        for k in 1..<8 {
            for n in 0..<256 { t[k * 256 + n] = (t[(k - 1) * 256 + n] >> 8) ^ table[Int(t[(k - 1) * 256 + n] & 0xFF)] }
        }
        return t
    }()

    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// Feeds more bytes.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        if bytes.withContiguousStorageIfAvailable({ update(contiguous: $0) }) != nil { return }
        var c = state
        Self.table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        state = c
    }

    private mutating func update(contiguous bytes: UnsafeBufferPointer<UInt8>) {
        var c = state
        var p = 0
        let n = bytes.count
        Self.sliced.withUnsafeBufferPointer { t in
            if let base = bytes.baseAddress {
                while n - p >= 8 {
                    let lo = UInt32(base[p]) | UInt32(base[p + 1]) << 8 | UInt32(base[p + 2]) << 16 | UInt32(base[p + 3]) << 24
                    let x = c ^ lo
                    c = t[7 * 256 + Int(x & 0xFF)] ^ t[6 * 256 + Int((x >> 8) & 0xFF)]
                        ^ t[5 * 256 + Int((x >> 16) & 0xFF)] ^ t[4 * 256 + Int(x >> 24)]
                        ^ t[3 * 256 + Int(base[p + 4])] ^ t[2 * 256 + Int(base[p + 5])]
                        ^ t[1 * 256 + Int(base[p + 6])] ^ t[Int(base[p + 7])]
                    p += 8
                }
                while p < n {
                    c = t[Int((c ^ UInt32(base[p])) & 0xFF)] ^ (c >> 8)
                    p += 1
                }
            }
        }
        state = c
    }

    /// The checksum of everything fed so far.
    public var value: UInt32 { state ^ 0xFFFF_FFFF }

    /// The CRC-32 of `bytes`.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }
}
