// NumPy's .npy format (version 1.0 and 2.0), integers only: how `vqz tokens` hands token grids to
// Python and how `vqz decode` takes them back. Spec: numpy.lib.format ("A simple file format for
// NumPy arrays"): magic `\x93NUMPY`, version, header length, a Python-literal dict header
// (`descr`, `fortran_order`, `shape`) padded with spaces to a multiple of 64, then the raw data.

/// Why bytes are not an integer .npy array vqz can read.
public struct NPYError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum NPY {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Whether `bytes` start like a .npy file.
    public static func looksLikeNPY(_ bytes: [UInt8]) -> Bool { bytes.starts(with: magic) }

    /// A version-1.0 .npy of little-endian `uint16` values in C order.
    public static func encode(_ values: [UInt16], shape: [Int]) -> [UInt8] {
        precondition(shape.reduce(1, *) == values.count, "NPY.encode: \(values.count) values for shape \(shape)")
        var payload: [UInt8] = []
        payload.reserveCapacity(2 * values.count)
        for v in values { payload += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        return encode(descr: "<u2", shape: shape, payload: payload)
    }

    /// A version-1.0 .npy of any dtype `descr` (`<f4`, `<u2`…) whose C-order data is `payload`.
    public static func encode(descr: String, shape: [Int], payload: [UInt8]) -> [UInt8] {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dims)), }"
        while (magic.count + 4 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let length = header.utf8.count
        return magic + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(header.utf8) + payload
    }

    /// The shape and values of an integer array: dtypes `u1`, `i1`, `<u2`, `<i2`, `<u4`, `<i4`, `<u8`,
    /// `<i8` (`|` or `<` byte order), C order, at most `maxElements` values.
    public static func decodeIntegers(_ bytes: [UInt8], maxElements: Int) throws(NPYError) -> (shape: [Int], values: [Int]) {
        guard looksLikeNPY(bytes), bytes.count >= 10 else { throw NPYError("not a .npy file (no \\x93NUMPY signature)") }
        let major = bytes[6]
        let (headerLength, headerStart): (Int, Int)
        switch major {
        case 1: (headerLength, headerStart) = (Int(bytes[8]) | Int(bytes[9]) << 8, 10)
        case 2, 3:
            guard bytes.count >= 12 else { throw NPYError(".npy header is truncated") }
            (headerLength, headerStart) = ((8..<12).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 8)) }, 12)
        default: throw NPYError(".npy version \(major) is not supported")
        }
        guard headerLength <= 65_536, headerStart + headerLength <= bytes.count else { throw NPYError(".npy header is truncated") }
        let header = String(decoding: bytes[headerStart..<headerStart + headerLength], as: UTF8.self)
        func field(_ key: String) throws(NPYError) -> Substring {
            guard let r = header.range(of: "'\(key)':") else { throw NPYError(".npy header has no '\(key)'") }
            return header[r.upperBound...].drop { $0 == " " }
        }
        let descrField = try field("descr")
        guard descrField.first == "'", let end = descrField.dropFirst().firstIndex(of: "'") else { throw NPYError(".npy descr is malformed") }
        let descr = String(descrField[descrField.index(after: descrField.startIndex)..<end])
        let types: [String: (size: Int, signed: Bool)] = [
            "|u1": (1, false), "u1": (1, false), "|i1": (1, true), "i1": (1, true), "<u2": (2, false), "<i2": (2, true),
            "<u4": (4, false), "<i4": (4, true), "<u8": (8, false), "<i8": (8, true),
        ]
        guard let type = types[descr] else { throw NPYError(".npy dtype \(descr) is not a little-endian integer type") }
        guard try field("fortran_order").hasPrefix("False") else { throw NPYError(".npy array is in Fortran order; save it in C order") }
        let shapeField = try field("shape")
        guard shapeField.first == "(", let close = shapeField.firstIndex(of: ")") else { throw NPYError(".npy shape is malformed") }
        var shape: [Int] = []
        for part in shapeField[shapeField.index(after: shapeField.startIndex)..<close].split(separator: ",") {
            let text = part.trimmingCharacters(in: " ")
            if text.isEmpty { continue }
            guard let d = Int(text), d >= 0 else { throw NPYError(".npy shape has a bad dimension \"\(text)\"") }
            shape.append(d)
        }
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= maxElements else { throw NPYError(".npy array has more than \(maxElements) elements") }
            count = product
        }
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart == count * type.size else {
            throw NPYError(".npy data holds \(bytes.count - dataStart) bytes, the shape \(shape) needs \(count * type.size)")
        }
        var values = [Int](repeating: 0, count: count)
        for i in 0..<count {
            var u: UInt64 = 0
            for b in 0..<type.size { u |= UInt64(bytes[dataStart + i * type.size + b]) << (8 * UInt64(b)) }
            if type.signed && type.size < 8 && u >> (8 * UInt64(type.size) - 1) & 1 == 1 { u |= ~0 << (8 * UInt64(type.size)) }
            values[i] = Int(truncatingIfNeeded: u)
        }
        return (shape, values)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> Substring {
        var s = self
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return s
    }
}
