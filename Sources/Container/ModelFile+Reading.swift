// Reading a .vqzm file, checking every rule of docs/MODEL-FORMAT.md in the order it lists, and
// every size against the limits before anything is allocated from it.

extension ModelFile {
    /// Parses and validates a whole model file.
    ///
    /// - Throws: the first rule broken, as a `ModelFileError` case with its evidence.
    public init(bytes: [UInt8]) throws(ModelFileError) {
        try self.init(bytes: bytes, hashVerified: false)
    }

    /// Parses and validates a whole model file.
    ///
    /// - Parameter hashVerified: the caller has just checked that `bytes` hash (SHA-256) to the id a
    ///   bitstream or the registry names. Those are the bytes of a file that was loaded, with every
    ///   check, when the id was taken, so `File_CRC32` (a weaker check of the same bytes, ≈ 1 ms per
    ///   1.5 MB here) is not recomputed; every other rule still is.
    /// - Throws: the first rule broken, as a `ModelFileError` case with its evidence.
    public init(bytes: [UInt8], hashVerified: Bool) throws(ModelFileError) {
        let layout = try Self.layout(of: bytes, hashVerified: hashVerified)
        var arrays: [NamedArray] = []
        arrays.reserveCapacity(layout.arrays.count)
        for e in layout.arrays {
            let start = e.range.lowerBound, count = e.count
            var a: NamedArray
            switch e.dtype {
            case .u8:
                a = NamedArray(name: e.name, bytes: Array(bytes[e.range]))
                a.shape = e.shape
            case .f32, .f16:
                let floats = [Float](unsafeUninitializedCapacity: count) { buf, initialized in
                    bytes.withUnsafeBufferPointer { b in
                        if e.dtype == .f32 {
                            for i in 0..<count {
                                let o = start + 4 * i
                                buf[i] = Float(bitPattern: UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24)
                            }
                        } else {
                            for i in 0..<count {
                                let o = start + 2 * i
                                buf[i] = widenHalf(UInt16(b[o]) | UInt16(b[o + 1]) << 8)
                            }
                        }
                    }
                    initialized = count
                }
                a = NamedArray(name: e.name, shape: e.shape, floats: floats, dtype: e.dtype)
            }
            arrays.append(a)
        }
        self = ModelFile(metadata: layout.metadata, arrays: arrays)
    }

    /// Where an array's values lie in a model file's bytes (`ModelFile.layout(of:hashVerified:)`).
    public struct ArrayLayout: Sendable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        /// The bytes of its values (little-endian), within the file.
        public var range: Range<Int>
        public var count: Int { shape.reduce(1, *) }
    }

    /// Checks every rule a model file must follow, as `init(bytes:hashVerified:)` does, without
    /// copying the arrays out: the metadata, and where each array's values lie in `bytes`. For a
    /// reader that converts the values itself (a token prior file: 7 MB that would otherwise be
    /// copied twice).
    /// - Throws: the first rule broken, as a `ModelFileError` case with its evidence.
    public static func layout(of bytes: [UInt8], hashVerified: Bool) throws(ModelFileError) -> (metadata: [MetadataEntry], arrays: [ArrayLayout]) {
        // (1)–(3) size, signature, version.
        guard bytes.count >= Self.headerSize else {
            if bytes.count < 8 || Array(bytes[0..<8]) == Self.signature {
                throw .truncated(expected: Self.headerSize, available: bytes.count)
            }
            throw .badSignature(Array(bytes[0..<8]))
        }
        guard Array(bytes[0..<8]) == Self.signature else { throw .badSignature(Array(bytes[0..<8])) }
        var r = Cursor(reader: ByteReader(bytes, offset: 8), total: bytes.count)
        let major = try r.u8(), minor = try r.u8()
        guard major == Self.versionMajor else { throw .unsupportedVersion(major: major, minor: minor) }
        // (4) header checksum.
        let declaredHeaderCRC = UInt32(bytes[60]) | UInt32(bytes[61]) << 8 | UInt32(bytes[62]) << 16 | UInt32(bytes[63]) << 24
        let headerCRC = CRC32.checksum(bytes[0..<60])
        guard declaredHeaderCRC == headerCRC else {
            throw .headerChecksumMismatch(declared: declaredHeaderCRC, computed: headerCRC)
        }
        // (5) flags and reserved fields.
        let flags = try r.u16()
        guard flags == 0 else { throw .reservedFieldSet(field: "Flags", value: UInt64(flags)) }
        let metadataCount = try r.u32()
        let tensorCount = try r.u32()
        let reserved1 = try r.u32()
        guard reserved1 == 0 else { throw .reservedFieldSet(field: "Reserved_1", value: UInt64(reserved1)) }
        let tableOffset = try r.u64()
        let dataOffset = try r.u64()
        let dataSize = try r.u64()
        let fileSize = try r.u64()
        let reserved2 = try r.u32()
        guard reserved2 == 0 else { throw .reservedFieldSet(field: "Reserved_2", value: UInt64(reserved2)) }
        // (6) limits.
        guard (1...UInt32(Limits.metadataCount)).contains(metadataCount) else {
            throw .limitExceeded(field: "Metadata_Count", value: UInt64(metadataCount), limit: UInt64(Limits.metadataCount))
        }
        guard tensorCount <= UInt32(Limits.tensorCount) else {
            throw .limitExceeded(field: "Tensor_Count", value: UInt64(tensorCount), limit: UInt64(Limits.tensorCount))
        }
        guard fileSize <= Limits.fileSize else {
            throw .limitExceeded(field: "File_Size", value: fileSize, limit: Limits.fileSize)
        }
        // (7) length, (8) file checksum.
        guard UInt64(bytes.count) >= fileSize else { throw .truncated(expected: Int(fileSize), available: bytes.count) }
        guard UInt64(bytes.count) == fileSize else { throw .trailingBytes(declared: fileSize, actual: bytes.count) }
        guard fileSize >= UInt64(Self.headerSize + 4) else {
            throw .offsetMismatch(field: "File_Size", declared: fileSize, expected: UInt64(Self.headerSize + 4))
        }
        let end = Int(fileSize) - 4
        let declaredFileCRC = UInt32(bytes[end]) | UInt32(bytes[end + 1]) << 8 | UInt32(bytes[end + 2]) << 16 | UInt32(bytes[end + 3]) << 24
        if !hashVerified {
            let fileCRC = CRC32.checksum(bytes[0..<end])
            guard declaredFileCRC == fileCRC else { throw .fileChecksumMismatch(declared: declaredFileCRC, computed: fileCRC) }
        }

        // (9) metadata. Reads stop at the CRC trailer: a size running into it is "truncated".
        r = Cursor(reader: ByteReader(bytes, offset: Self.headerSize, end: end), total: bytes.count)
        var metadata: [MetadataEntry] = []
        var keys = Set<String>()
        for _ in 0..<metadataCount {
            let key = try r.name(kind: "metadata key")
            guard keys.insert(key).inserted else { throw .duplicateKey(key) }
            let type = try r.u8()
            let value: Value
            switch type {
            case 1:
                let length = try r.u32()
                guard length <= UInt32(Limits.stringLength) else {
                    throw .limitExceeded(field: "\(key) string length", value: UInt64(length), limit: UInt64(Limits.stringLength))
                }
                let raw = try r.raw(Int(length))
                guard let s = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8(key: key) }
                value = .string(s)
            case 2: value = .int(Int64(bitPattern: try r.u64()))
            case 3:
                let f = Double(bitPattern: try r.u64())
                guard f.isFinite else { throw .nonFiniteValue(key: key) }
                value = .float(f)
            default: throw .unknownValueType(key: key, code: type)
            }
            metadata.append(MetadataEntry(key, value))
        }
        guard tableOffset == UInt64(r.offset) else {
            throw .offsetMismatch(field: "Tensor_Table_Offset", declared: tableOffset, expected: UInt64(r.offset))
        }
        // Tensor table.
        struct Entry { var name: String; var dtype: DType; var shape: [Int]; var offset: UInt64 }
        var entries: [Entry] = []
        var names = Set<String>()
        var expectedOffset: UInt64 = 0
        for _ in 0..<tensorCount {
            let name = try r.name(kind: "tensor")
            guard names.insert(name).inserted else { throw .duplicateTensor(name) }
            let code = try r.u8()
            guard let dtype = DType(rawValue: code) else { throw .unknownDType(tensor: name, code: code) }
            let rank = try r.u8()
            guard Int(rank) <= Limits.rank else {
                throw .limitExceeded(field: "\(name) Rank", value: UInt64(rank), limit: UInt64(Limits.rank))
            }
            var dims: [UInt64] = []
            for _ in 0..<rank { dims.append(UInt64(try r.u32())) }
            var count: UInt64 = 1
            for d in dims {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                count = overflow ? .max : product
            }
            guard dims.allSatisfy({ $0 >= 1 && $0 <= UInt64(Int32.max) }), count <= UInt64(Limits.elements) else {
                throw .invalidDimensions(tensor: name, dims: dims)
            }
            let offset = try r.u64()
            guard offset == expectedOffset else {
                throw .offsetMismatch(field: "\(name) Data_Offset_In_Section", declared: offset, expected: expectedOffset)
            }
            expectedOffset = UInt64(Self.aligned(Int(offset) + Int(count) * dtype.size))
            entries.append(Entry(name: name, dtype: dtype, shape: dims.map { Int($0) }, offset: offset))
        }
        // (10) derived offsets and sizes.
        let computedDataOffset = UInt64(Self.aligned(r.offset))
        guard dataOffset == computedDataOffset else {
            throw .offsetMismatch(field: "Data_Offset", declared: dataOffset, expected: computedDataOffset)
        }
        guard dataSize == expectedOffset else {
            throw .offsetMismatch(field: "Data_Size", declared: dataSize, expected: expectedOffset)
        }
        guard fileSize == dataOffset + dataSize + 4 else {
            throw .offsetMismatch(field: "File_Size", declared: fileSize, expected: dataOffset + dataSize + 4)
        }
        // (11) padding, then the arrays.
        var arrays: [ArrayLayout] = []
        arrays.reserveCapacity(entries.count)
        var cursor = r.offset
        for e in entries {
            let start = Int(dataOffset + e.offset)
            for i in cursor..<start where bytes[i] != 0 { throw .nonZeroPadding(offset: i) }
            let length = e.shape.reduce(1, *) * e.dtype.size
            arrays.append(ArrayLayout(name: e.name, dtype: e.dtype, shape: e.shape, range: start..<start + length))
            cursor = start + length
        }
        for i in cursor..<end where bytes[i] != 0 { throw .nonZeroPadding(offset: i) }
        guard ModelFile(metadata: metadata, arrays: []).architecture != nil else { throw .missingMetadata(key: "architecture") }
        return (metadata, arrays)
    }

}

/// ByteReader whose out-of-bounds reads become `ModelFileError.truncated`.
private struct Cursor {
    var reader: ByteReader
    let total: Int

    var offset: Int { reader.offset }

    private func truncated(_ e: ByteReader.OutOfBounds) -> ModelFileError {
        .truncated(expected: e.offset + e.needed, available: total)
    }

    mutating func u8() throws(ModelFileError) -> UInt8 {
        do { return try reader.u8() } catch { throw truncated(error) }
    }

    mutating func u16() throws(ModelFileError) -> UInt16 {
        do { return try reader.u16() } catch { throw truncated(error) }
    }

    mutating func u32() throws(ModelFileError) -> UInt32 {
        do { return try reader.u32() } catch { throw truncated(error) }
    }

    mutating func u64() throws(ModelFileError) -> UInt64 {
        do { return try reader.u64() } catch { throw truncated(error) }
    }

    mutating func raw(_ count: Int) throws(ModelFileError) -> ArraySlice<UInt8> {
        do { return try reader.raw(count) } catch { throw truncated(error) }
    }

    mutating func name(kind: String) throws(ModelFileError) -> String {
        let length = Int(try u16())
        guard (1...ModelFile.Limits.nameLength).contains(length) else {
            throw .limitExceeded(field: "\(kind) name length", value: UInt64(length), limit: UInt64(ModelFile.Limits.nameLength))
        }
        let raw = Array(try raw(length))
        guard ModelFile.isValidName(raw) else { throw .invalidName(kind: kind, bytes: raw) }
        return String(decoding: raw, as: UTF8.self)
    }
}

/// The binary16 value with bits `h` as a Float, exactly (`Float(Float16(bitPattern: h))` for every
/// finite value and infinity; NaNs stay NaN), in integer operations the compiler vectorizes instead
/// of a library call per value (a 6 MB model has millions).
@inline(__always)
func widenHalf(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1f
    let mantissa = UInt32(h & 0x3ff)
    if exponent == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | mantissa << 13) }
    if exponent == 0 {
        // Zero or subnormal: mantissa · 2⁻²⁴, exact in Float.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign == 0 ? magnitude : -magnitude
    }
    return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
}
