// Writing a .vqzm file: the one canonical encoding of a ModelFile (docs/MODEL-FORMAT.md).

extension ModelFile {
    /// The file's bytes. Throws when a name is invalid or duplicated, a value is non-finite, a
    /// limit is exceeded, `architecture` is missing, or an f16 value overflows.
    public func serialized() throws(ModelFileError) -> [UInt8] {
        try validateForWriting()
        // Metadata.
        var meta = ByteWriter()
        for entry in metadata {
            let key = Array(entry.key.utf8)
            meta.u16(UInt16(key.count))
            meta.raw(key)
            meta.u8(entry.value.typeCode)
            switch entry.value {
            case .string(let s):
                let b = Array(s.utf8)
                meta.u32(UInt32(b.count))
                meta.raw(b)
            case .int(let i): meta.u64(UInt64(bitPattern: i))
            case .float(let f): meta.u64(f.bitPattern)
            }
        }
        // Tensor table and data offsets.
        var table = ByteWriter()
        var sectionOffset = 0
        var offsets: [Int] = []
        for a in arrays {
            let name = Array(a.name.utf8)
            table.u16(UInt16(name.count))
            table.raw(name)
            table.u8(a.dtype.rawValue)
            table.u8(UInt8(a.shape.count))
            for d in a.shape { table.u32(UInt32(d)) }
            table.u64(UInt64(sectionOffset))
            offsets.append(sectionOffset)
            sectionOffset = Self.aligned(sectionOffset + a.count * a.dtype.size)
        }
        let tableOffset = Self.headerSize + meta.count
        let dataOffset = Self.aligned(tableOffset + table.count)
        let dataSize = sectionOffset
        let fileSize = dataOffset + dataSize + 4
        guard UInt64(fileSize) <= Limits.fileSize else {
            throw .limitExceeded(field: "File_Size", value: UInt64(fileSize), limit: Limits.fileSize)
        }
        var w = ByteWriter(capacity: fileSize)
        w.raw(Self.signature)
        w.u8(Self.versionMajor)
        w.u8(Self.versionMinor)
        w.u16(0)
        w.u32(UInt32(metadata.count))
        w.u32(UInt32(arrays.count))
        w.u32(0)
        w.u64(UInt64(tableOffset))
        w.u64(UInt64(dataOffset))
        w.u64(UInt64(dataSize))
        w.u64(UInt64(fileSize))
        w.u32(0)
        w.u32(CRC32.checksum(w.bytes))
        w.raw(meta.bytes)
        w.raw(table.bytes)
        w.pad(toMultipleOf: Self.alignment)
        for (a, offset) in zip(arrays, offsets) {
            while w.count < dataOffset + offset { w.u8(0) }
            switch a.payload {
            case .bytes(let b): w.raw(b)
            case .floats(let f):
                if a.dtype == .f32 {
                    for v in f { w.u32(v.bitPattern) }
                } else {
                    for v in f { w.u16(try Self.f16Bits(v, tensor: a.name)) }
                }
            }
        }
        w.pad(toMultipleOf: Self.alignment)
        w.u32(CRC32.checksum(w.bytes))
        precondition(w.count == fileSize, "ModelFile: size bookkeeping")
        return w.bytes
    }

    private func validateForWriting() throws(ModelFileError) {
        guard (1...Limits.metadataCount).contains(metadata.count) else {
            throw .limitExceeded(field: "Metadata_Count", value: UInt64(metadata.count), limit: UInt64(Limits.metadataCount))
        }
        guard arrays.count <= Limits.tensorCount else {
            throw .limitExceeded(field: "Tensor_Count", value: UInt64(arrays.count), limit: UInt64(Limits.tensorCount))
        }
        var keys = Set<String>()
        for e in metadata {
            guard Self.isValidName(Array(e.key.utf8)) else { throw .invalidName(kind: "metadata key", bytes: Array(e.key.utf8)) }
            guard keys.insert(e.key).inserted else { throw .duplicateKey(e.key) }
            switch e.value {
            case .string(let s):
                guard s.utf8.count <= Limits.stringLength else {
                    throw .limitExceeded(field: "\(e.key) string length", value: UInt64(s.utf8.count), limit: UInt64(Limits.stringLength))
                }
            case .float(let f): guard f.isFinite else { throw .nonFiniteValue(key: e.key) }
            case .int: break
            }
        }
        guard architecture != nil else { throw .missingMetadata(key: "architecture") }
        var names = Set<String>()
        for a in arrays {
            guard Self.isValidName(Array(a.name.utf8)) else { throw .invalidName(kind: "tensor", bytes: Array(a.name.utf8)) }
            guard names.insert(a.name).inserted else { throw .duplicateTensor(a.name) }
            guard a.shape.count <= Limits.rank else {
                throw .limitExceeded(field: "\(a.name) Rank", value: UInt64(a.shape.count), limit: UInt64(Limits.rank))
            }
            var count = 1
            for d in a.shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                count = overflow ? .max : product
            }
            guard a.shape.allSatisfy({ $0 >= 1 && $0 <= Int(Int32.max) }), count <= Limits.elements else {
                throw .invalidDimensions(tensor: a.name, dims: a.shape.map { UInt64(max(0, $0)) })
            }
        }
    }

    static func aligned(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// IEEE binary16 bits of `v`, rounded to nearest even; throws when a finite `v` overflows.
    static func f16Bits(_ v: Float, tensor: String) throws(ModelFileError) -> UInt16 {
        let h = Float16(v)
        if v.isFinite && !h.isFinite { throw .f16Overflow(tensor: tensor, value: v) }
        return h.bitPattern
    }
}
