// Little-endian byte reader with bounds checks: every read either succeeds or throws
// `ByteReader.OutOfBounds`, which the format readers map to their own `truncated` errors.

/// Reads little-endian integers from a byte buffer, front to back.
public struct ByteReader: Sendable {
    /// Thrown when a read needs more bytes than remain.
    public struct OutOfBounds: Error, Sendable, Equatable {
        /// Offset of the read that failed.
        public var offset: Int
        /// Bytes the read needed.
        public var needed: Int
        /// Bytes that remained.
        public var available: Int

        public init(offset: Int, needed: Int, available: Int) {
            self.offset = offset
            self.needed = needed
            self.available = available
        }
    }

    public let bytes: [UInt8]
    /// Offset of the next byte to read.
    public private(set) var offset: Int
    /// Reads stop here (`bytes.count` unless given): the bytes from `end` on are out of bounds.
    public let end: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.init(bytes, offset: offset, end: bytes.count)
    }

    /// A reader of `bytes[..<end]` without copying them (`end` is clamped to `0 … bytes.count`).
    public init(_ bytes: [UInt8], offset: Int, end: Int) {
        self.bytes = bytes
        self.offset = offset
        self.end = max(0, min(end, bytes.count))
    }

    /// Bytes not yet read.
    public var remaining: Int { end - offset }

    public mutating func u8() throws(OutOfBounds) -> UInt8 { try integer() }

    public mutating func u16() throws(OutOfBounds) -> UInt16 { try integer() }

    public mutating func u32() throws(OutOfBounds) -> UInt32 { try integer() }

    public mutating func u64() throws(OutOfBounds) -> UInt64 { try integer() }

    public mutating func f32() throws(OutOfBounds) -> Float { Float(bitPattern: try integer()) }

    /// The next `count` bytes.
    public mutating func raw(_ count: Int) throws(OutOfBounds) -> ArraySlice<UInt8> {
        try need(count)
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    /// Skips `count` bytes.
    public mutating func skip(_ count: Int) throws(OutOfBounds) {
        try need(count)
        offset += count
    }

    private func need(_ count: Int) throws(OutOfBounds) {
        guard count >= 0, count <= remaining else {
            throw OutOfBounds(offset: offset, needed: count, available: max(0, remaining))
        }
    }

    private mutating func integer<T: FixedWidthInteger>() throws(OutOfBounds) -> T {
        let size = MemoryLayout<T>.size
        try need(size)
        var v = T.zero
        for i in 0..<size { v |= T(bytes[offset + i]) << (8 * i) }
        offset += size
        return v  // assembled from little-endian bytes: host order already
    }
}
