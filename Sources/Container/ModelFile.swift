// The .vqzm model file (docs/MODEL-FORMAT.md) as a value: ordered key–value metadata and named
// arrays. Container knows bytes and named arrays, never layers (GGUF's separation); NN maps the
// arrays to parameters. Reading: ModelFile+Reading.swift; writing: ModelFile+Writing.swift.

/// A parsed (or to-be-written) `.vqzm` model file.
public struct ModelFile: Sendable, Equatable {
    /// `89 56 51 4D 0D 0A 1A 0A`.
    public static let signature: [UInt8] = [0x89, 0x56, 0x51, 0x4D, 0x0D, 0x0A, 0x1A, 0x0A]
    public static let versionMajor: UInt8 = 1
    public static let versionMinor: UInt8 = 0
    public static let headerSize = 64
    /// Data alignment of every tensor.
    public static let alignment = 64

    /// Limits from the spec, checked before allocating.
    public enum Limits {
        public static let fileSize: UInt64 = 1 << 32
        public static let metadataCount = 4096
        public static let tensorCount = 65_536
        public static let nameLength = 255
        public static let stringLength = 65_536
        public static let rank = 8
        public static let elements = Int(Int32.max)
    }

    /// Element type of a stored array.
    public enum DType: UInt8, Sendable, CaseIterable {
        case f32 = 0
        case f16 = 1
        case u8 = 2

        /// Bytes per element.
        public var size: Int {
            switch self {
            case .f32: return 4
            case .f16: return 2
            case .u8: return 1
            }
        }
    }

    /// A metadata value.
    public enum Value: Sendable, Equatable, CustomStringConvertible {
        case string(String)
        case int(Int64)
        case float(Double)

        var typeCode: UInt8 {
            switch self {
            case .string: return 1
            case .int: return 2
            case .float: return 3
            }
        }

        public var description: String {
            switch self {
            case .string(let s): return "\"\(s)\""
            case .int(let i): return "\(i)"
            case .float(let f): return "\(f)"
            }
        }
    }

    /// One key–value metadata entry.
    public struct MetadataEntry: Sendable, Equatable {
        public var key: String
        public var value: Value
        public init(_ key: String, _ value: Value) {
            self.key = key
            self.value = value
        }
    }

    /// A named, shaped array: floats for `f32`/`f16` (held as Float; f16 values widen exactly), bytes
    /// for `u8`.
    public struct NamedArray: Sendable, Equatable {
        public enum Payload: Sendable, Equatable {
            case floats([Float])
            case bytes([UInt8])
        }

        public var name: String
        public var dtype: DType
        /// Dimensions, outermost first; `[]` is a scalar.
        public var shape: [Int]
        public var payload: Payload

        /// A float array stored as `dtype` (`.f32` or `.f16`).
        public init(name: String, shape: [Int], floats: [Float], dtype: DType = .f32) {
            precondition(dtype != .u8, "NamedArray: floats need dtype f32 or f16")
            precondition(shape.reduce(1, *) == floats.count, "NamedArray(\(name)): shape \(shape) vs \(floats.count) values")
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.payload = .floats(floats)
        }

        /// An opaque byte array (dtype `u8`, rank 1).
        public init(name: String, bytes: [UInt8]) {
            self.name = name
            self.dtype = .u8
            self.shape = [bytes.count]
            self.payload = .bytes(bytes)
        }

        /// Number of elements.
        public var count: Int { shape.reduce(1, *) }

        /// The float values (nil for `u8`).
        public var floats: [Float]? {
            if case .floats(let f) = payload { return f }
            return nil
        }
    }

    /// Metadata in file order; keys are unique.
    public var metadata: [MetadataEntry]
    /// Arrays in file order; names are unique.
    public var arrays: [NamedArray]

    public init(metadata: [MetadataEntry], arrays: [NamedArray]) {
        self.metadata = metadata
        self.arrays = arrays
    }

    /// The value for `key`, if present.
    public subscript(key: String) -> Value? {
        metadata.first { $0.key == key }?.value
    }

    /// The `architecture` metadata string (required by the format).
    public var architecture: String? {
        if case .string(let s) = self["architecture"] { return s }
        return nil
    }

    /// The array named `name`, if present.
    public func array(named name: String) -> NamedArray? {
        arrays.first { $0.name == name }
    }

    /// The SHA-256 of a model file's bytes; its first 16 bytes are the model id a `.vqz` stores.
    public static func sha256(of bytes: some Collection<UInt8>) -> [UInt8] {
        SHA256.hash(bytes)
    }

    /// Whether `name` is a valid key or tensor name: 1…255 bytes of `[a-z0-9_.]`, no leading,
    /// trailing or doubled dot.
    public static func isValidName(_ bytes: some Collection<UInt8>) -> Bool {
        guard (1...Limits.nameLength).contains(bytes.count) else { return false }
        var previous: UInt8 = 0x2E  // treat the start as after a dot
        for b in bytes {
            let ok = (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x5F || b == 0x2E
            if !ok || (b == 0x2E && previous == 0x2E) { return false }
            previous = b
        }
        return previous != 0x2E
    }
}

extension ModelFile {
    /// Every metadata value as a string (integers and floats in their shortest decimal form).
    public var stringMetadata: [String: String] {
        var out: [String: String] = [:]
        for entry in metadata {
            switch entry.value {
            case .string(let s): out[entry.key] = s
            case .int(let i): out[entry.key] = "\(i)"
            case .float(let f): out[entry.key] = "\(f)"
            }
        }
        return out
    }
}

extension ModelFile {
    /// Checks every float array for NaN and ±∞: a loader calls this before any weight is used.
    ///
    /// - Throws: `ModelFileError.nonFiniteWeight` naming the first array (in file order) and index.
    public func checkFinite() throws(ModelFileError) {
        for a in arrays {
            guard let floats = a.floats else { continue }
            if let i = floats.firstIndex(where: { !$0.isFinite }) { throw .nonFiniteWeight(tensor: a.name, index: i) }
        }
    }
}
