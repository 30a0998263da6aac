// Every way a .vqz file can be rejected, each case carrying its evidence (expected vs found).
// The cases follow docs/FORMAT.md's order: signature, version, header size, header CRC, fields,
// limits, file length, payload CRC, zstd sections, symbols.

/// Why a `.vqz` file could not be read or written.
public enum ContainerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file ends before `needed` bytes of `field` could be read.
    case truncated(field: String, needed: Int, available: Int)
    /// The first 8 bytes are not the `.vqz` signature.
    case badSignature(found: [UInt8])
    /// `Version_Major` is not one this reader knows.
    case unsupportedVersion(major: UInt8, minor: UInt8)
    /// `Header_Size` is outside what the format (and the declared version) allows.
    case badHeaderSize(declared: Int, minimum: Int, maximum: Int)
    /// `Header_CRC32` does not match the header's bytes.
    case headerChecksumMismatch(declared: UInt32, computed: UInt32)
    /// A reserved bit is set.
    case reservedBitsSet(field: String, value: UInt64)
    /// A field holds a value the format does not allow.
    case invalidField(field: String, value: String, allowed: String)
    /// A size exceeds a limit (`Max_Pixels`, `Max_Token_Bytes`, …).
    case limitExceeded(field: String, value: Int, limit: Int)
    /// The file is not exactly `Header_Size + Token_Section_Size + Alpha_Section_Size` bytes long.
    case fileSizeMismatch(declared: Int, actual: Int)
    /// `Payload_CRC32` does not match the payload's bytes.
    case payloadChecksumMismatch(declared: UInt32, computed: UInt32)
    /// A section is not a single well-formed zstd frame of the required kind.
    case badFrame(section: String, reason: String)
    /// A frame declares a content size other than the one the header implies.
    case contentSizeMismatch(section: String, declared: UInt64?, expected: Int)
    /// libzstd failed on a section.
    case zstd(section: String, error: ZstdError)
    /// The token frame's dictionary is not the one given (or one is needed and missing).
    case dictionaryMismatch(frame: UInt32, available: UInt32?)
    /// A symbol is not below its plane's alphabet size.
    case symbolOutOfRange(plane: Int, position: Int, value: Int, alphabetSize: Int)
    /// The metadata section's content breaks a rule (entry `entry`, counted from 0).
    case badMetadata(entry: Int, reason: String)
    /// A prior-coded token section needs the prior `needed`; the one given is `available` (or none).
    case priorMismatch(needed: ModelID, available: ModelID?)
    /// A prior-coded token stream does not decode.
    case badTokenStream(plane: Int?, reason: String)

    public var description: String {
        switch self {
        case let .truncated(field, needed, available):
            return "the file is truncated: \(field) needs \(needed) bytes but only \(available) remain"
        case let .badSignature(found):
            return "not a .vqz file: the signature is \(hex(found)), expected 89 56 51 5a 0d 0a 1a 0a"
        case let .unsupportedVersion(major, minor):
            return "unsupported .vqz version \(major).\(minor): this reader handles major version 1"
        case let .badHeaderSize(declared, minimum, maximum):
            return "Header_Size is \(declared), expected \(minimum == maximum ? "\(minimum)" : "\(minimum)…\(maximum)")"
        case let .headerChecksumMismatch(declared, computed):
            return "the header is damaged: Header_CRC32 is \(hex32(declared)) but the header's bytes give \(hex32(computed))"
        case let .reservedBitsSet(field, value):
            return "reserved bits are set in \(field) (value 0x\(String(value, radix: 16))): written by a newer or broken encoder"
        case let .invalidField(field, value, allowed):
            return "\(field) is \(value), expected \(allowed)"
        case let .limitExceeded(field, value, limit):
            return "\(field) is \(value), over the limit of \(limit)"
        case let .fileSizeMismatch(declared, actual):
            return actual < declared
                ? "the file is truncated: the header declares \(declared) bytes, the file has \(actual)"
                : "the file has \(actual - declared) trailing bytes after the \(declared) the header declares"
        case let .payloadChecksumMismatch(declared, computed):
            return "the payload is damaged: Payload_CRC32 is \(hex32(declared)) but the payload gives \(hex32(computed))"
        case let .badFrame(section, reason):
            return "the \(section) section is not a valid zstd frame: \(reason)"
        case let .contentSizeMismatch(section, declared, expected):
            return "the \(section) frame declares \(declared.map { "\($0)" } ?? "no") content size, the header implies \(expected) bytes"
        case let .zstd(section, error):
            return "the \(section) section does not decompress: \(error.name)"
        case let .dictionaryMismatch(frame, available):
            if let available { return "the token frame needs zstd dictionary \(frame), the model provides \(available)" }
            return "the token frame needs zstd dictionary \(frame), which only its model provides"
        case let .symbolOutOfRange(plane, position, value, alphabetSize):
            return "symbol \(value) at position \(position) of plane \(plane) is outside the alphabet of \(alphabetSize)"
        case let .badMetadata(entry, reason):
            return "metadata entry \(entry) is malformed: \(reason)"
        case let .priorMismatch(needed, available):
            if let available { return "the tokens were coded with token prior \(needed), not the prior \(available) given" }
            return "the tokens were coded with token prior \(needed), which was not found (vqz train-prior writes one beside its model)"
        case let .badTokenStream(plane, reason):
            return "the prior-coded token section is damaged\(plane.map { " (plane \($0))" } ?? ""): \(reason)"
        }
    }
}

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String(format2($0)) }.joined(separator: " ")
}

private func format2(_ b: UInt8) -> String {
    let s = String(b, radix: 16)
    return s.count == 1 ? "0" + s : s
}

private func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}
