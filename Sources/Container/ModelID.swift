// The id a .vqz file stores to name the model that decodes it: a content hash of the model file.

/// The first 16 bytes of the SHA-256 of a model file.
public struct ModelID: Hashable, Sendable, CustomStringConvertible {
    /// Exactly 16 bytes.
    public let bytes: [UInt8]

    /// Wraps 16 bytes. Returns nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        self.bytes = Array(bytes)
    }

    /// The id of a model file's bytes.
    public init(modelFile: some Collection<UInt8>) {
        self.bytes = Array(SHA256.hash(modelFile).prefix(16))
    }

    /// Parses 32 hex digits.
    public init?(hex: String) {
        let chars = Array(hex.utf8)
        guard chars.count == 32 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: 32, by: 2) {
            guard let b = UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
        }
        self.bytes = out
    }

    /// 32 lowercase hex digits.
    public var hex: String {
        bytes.map { b in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }

    public var description: String { hex }
}
