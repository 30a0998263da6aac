// Every way a .vqzm file can be rejected, each case carrying its evidence (swift-png's discipline).

/// Why a model file could not be read, written, or loaded into layers.
public enum ModelFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file ends before `expected` bytes (`available` present).
    case truncated(expected: Int, available: Int)
    /// The first 8 bytes are not the `.vqzm` signature.
    case badSignature([UInt8])
    case unsupportedVersion(major: UInt8, minor: UInt8)
    case headerChecksumMismatch(declared: UInt32, computed: UInt32)
    case fileChecksumMismatch(declared: UInt32, computed: UInt32)
    /// A reserved field or flag bit is not zero.
    case reservedFieldSet(field: String, value: UInt64)
    case limitExceeded(field: String, value: UInt64, limit: UInt64)
    /// The file is longer than `File_Size`.
    case trailingBytes(declared: UInt64, actual: Int)
    /// A derived size or offset differs from the one computed from the rest of the file.
    case offsetMismatch(field: String, declared: UInt64, expected: UInt64)
    case invalidName(kind: String, bytes: [UInt8])
    case invalidUTF8(key: String)
    case duplicateKey(String)
    case duplicateTensor(String)
    case unknownValueType(key: String, code: UInt8)
    case nonFiniteValue(key: String)
    case unknownDType(tensor: String, code: UInt8)
    case invalidDimensions(tensor: String, dims: [UInt64])
    case nonZeroPadding(offset: Int)
    case missingMetadata(key: String)
    /// Writing: a value does not fit binary16.
    case f16Overflow(tensor: String, value: Float)
    // Loading into layers (NN): each names the tensor.
    case missingTensor(String)
    case unexpectedTensor(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    case dtypeMismatch(tensor: String, expected: String, found: String)
    case architectureMismatch(expected: String, found: String)
    /// A float array holds NaN or ±∞ at `index` (a damaged file or a diverged run).
    case nonFiniteWeight(tensor: String, index: Int)

    public var description: String {
        switch self {
        case .truncated(let e, let a):
            return "model file truncated: needs \(e) bytes, has \(a)"
        case .badSignature(let b):
            return "not a .vqzm model file: signature \(hex(b)), expected \(hex(ModelFile.signature))"
        case .unsupportedVersion(let major, let minor):
            return "model file version \(major).\(minor) is not supported (this reader knows major version \(ModelFile.versionMajor))"
        case .headerChecksumMismatch(let d, let c):
            return "model file header is damaged: Header_CRC32 is \(hex32(d)), computed \(hex32(c))"
        case .fileChecksumMismatch(let d, let c):
            return "model file is damaged: File_CRC32 is \(hex32(d)), computed \(hex32(c))"
        case .reservedFieldSet(let f, let v):
            return "model file field \(f) is reserved and must be 0, found \(v)"
        case .limitExceeded(let f, let v, let l):
            return "model file field \(f) = \(v) exceeds the limit \(l)"
        case .trailingBytes(let d, let a):
            return "model file has trailing bytes: File_Size is \(d), file has \(a) bytes"
        case .offsetMismatch(let f, let d, let e):
            return "model file field \(f) is \(d), expected \(e)"
        case .invalidName(let k, let b):
            return "invalid \(k) name \(String(decoding: b, as: UTF8.self).debugDescription): names are 1–255 bytes of [a-z0-9_.]"
        case .invalidUTF8(let k):
            return "metadata \(k) holds a string that is not valid UTF-8"
        case .duplicateKey(let k):
            return "metadata key \(k) appears twice"
        case .duplicateTensor(let n):
            return "tensor \(n) appears twice"
        case .unknownValueType(let k, let c):
            return "metadata \(k) has unknown Value_Type \(c) (1 string, 2 i64, 3 f64)"
        case .nonFiniteValue(let k):
            return "metadata \(k) is NaN or infinite"
        case .unknownDType(let t, let c):
            return "tensor \(t) has unknown DType \(c) (0 f32, 1 f16, 2 u8)"
        case .invalidDimensions(let t, let d):
            return "tensor \(t) has invalid dimensions \(d) (each 1…2³¹−1, at most 2³¹−1 elements)"
        case .nonZeroPadding(let o):
            return "model file padding byte at offset \(o) is not zero"
        case .missingMetadata(let k):
            return "model file has no \(k) metadata"
        case .f16Overflow(let t, let v):
            return "tensor \(t): value \(v) does not fit f16 (max 65504); store it as f32"
        case .missingTensor(let n):
            return "model file lacks tensor \(n)"
        case .unexpectedTensor(let n):
            return "model file has tensor \(n), which this architecture does not use"
        case .shapeMismatch(let t, let e, let f):
            return "\(t): expected \(e), file has \(f)"
        case .dtypeMismatch(let t, let e, let f):
            return "\(t): expected \(e), file has \(f)"
        case .architectureMismatch(let e, let f):
            return "model file is architecture \(f), expected \(e)"
        case .nonFiniteWeight(let t, let i):
            return "tensor \(t) holds a non-finite value (NaN or infinity) at index \(i); the model is damaged or its training diverged"
        }
    }
}

private func hex(_ b: [UInt8]) -> String {
    b.map { x in
        let s = String(x, radix: 16)
        return s.count == 1 ? "0" + s : s
    }.joined(separator: " ")
}

private func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}
