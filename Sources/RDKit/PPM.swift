// Binary PPM (P6, maxval 255): how the benchmark hands pixels to cjpeg and reads djpeg/dwebp output.
// Netpbm: a magic "P6", then width, height and maxval as ASCII decimals separated by whitespace
// (with `#` comments to the end of a line), one whitespace byte, then the RGB samples.

public enum PPM {
    public static func encode(rgb: [UInt8], width: Int, height: Int) -> [UInt8] {
        precondition(rgb.count == width * height * 3, "PPM.encode: wrong sample count")
        return Array("P6\n\(width) \(height)\n255\n".utf8) + rgb
    }

    /// The RGB samples and size of a P6 file with maxval 255.
    public static func decode(_ bytes: [UInt8]) throws -> (rgb: [UInt8], width: Int, height: Int) {
        var i = 0
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C }
        func token() throws -> String {
            while i < bytes.count {
                if isSpace(bytes[i]) { i += 1 } else if bytes[i] == UInt8(ascii: "#") {
                    while i < bytes.count, bytes[i] != 0x0A { i += 1 }
                } else { break }
            }
            let start = i
            while i < bytes.count, !isSpace(bytes[i]), bytes[i] != UInt8(ascii: "#") { i += 1 }
            guard i > start, i - start <= 10 else { throw RDFileError("not a PPM file: bad header") }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }
        guard try token() == "P6" else { throw RDFileError("not a binary PPM (P6) file") }
        guard let w = Int(try token()), let h = Int(try token()), let maxval = Int(try token()), w > 0, h > 0 else {
            throw RDFileError("not a PPM file: bad size")
        }
        guard maxval == 255 else { throw RDFileError("PPM maxval \(maxval) is not 255") }
        i += 1  // the single whitespace byte after maxval
        let (n, overflow) = w.multipliedReportingOverflow(by: h * 3)
        guard !overflow, i + n <= bytes.count else { throw RDFileError("PPM file is truncated") }
        return (Array(bytes[i..<i + n]), w, h)
    }
}
