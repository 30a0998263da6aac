// Little-endian byte writer: every integer in vqz's formats is little-endian, converted explicitly.

/// Appends little-endian integers and raw bytes to a growing buffer.
public struct ByteWriter: Sendable {
    /// Everything written so far.
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    /// Number of bytes written so far.
    public var count: Int { bytes.count }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }

    public mutating func u16(_ v: UInt16) { integer(v) }

    public mutating func u32(_ v: UInt32) { integer(v) }

    public mutating func u64(_ v: UInt64) { integer(v) }

    /// Writes the IEEE-754 bit pattern of `v`, little-endian.
    public mutating func f32(_ v: Float) { integer(v.bitPattern) }

    public mutating func raw(_ data: some Sequence<UInt8>) { bytes.append(contentsOf: data) }

    /// Appends zero bytes until `count` is a multiple of `alignment`.
    public mutating func pad(toMultipleOf alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    /// Overwrites a little-endian u32 at `offset` (for sizes and checksums known only later).
    public mutating func patchU32(_ v: UInt32, at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }

    private mutating func integer<T: FixedWidthInteger>(_ v: T) {
        var x = v.littleEndian
        withUnsafeBytes(of: &x) { bytes.append(contentsOf: $0) }
    }
}
