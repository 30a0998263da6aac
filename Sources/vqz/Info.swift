// `vqz info FILE... [--json]`: the header of .vqz files, field by field, by the names of
// docs/FORMAT.md (like webpinfo and `zstd -l`).

import ArgumentParser
import Container
import Foundation

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the header of .vqz files.",
        discussion: """
            Prints every header field under its name in docs/FORMAT.md, then the sections. The whole \
            file is checked (both checksums, the zstd frames, every symbol) unless its tokens need \
            the model's zstd dictionary. With --json, prints one JSON object per file (a JSON array \
            when several files are given).
            """)

    @Argument(help: "The .vqz files to show.")
    var files: [String]

    @Flag(help: "Print JSON on stdout instead of text.")
    var json = false

    @Option(help: "Refuse images with more pixels than this (default \(BitstreamLimits.defaultMaxPixels)).")
    var maxPixels: Int = BitstreamLimits.defaultMaxPixels

    func validate() throws {
        guard maxPixels > 0 else { throw ValidationError("--max-pixels must be positive.") }
    }

    func run() throws {
        try reportingErrors {
            var objects: [String] = []
            for (i, path) in files.enumerated() {
                let report = try InfoReport(path: path, limits: BitstreamLimits(maxPixels: maxPixels))
                if json {
                    objects.append(report.json)
                } else {
                    if files.count > 1 { try Streams.print("\(i > 0 ? "\n" : "")\(path):") }
                    try Streams.print(report.text, terminator: "")
                }
            }
            if json { try Streams.print(objects.count == 1 ? objects[0] : "[" + objects.joined(separator: ",\n") + "]") }
        }
    }
}

/// What `vqz info` says about one file.
struct InfoReport {
    let path: String
    let fileSize: Int
    let header: BitstreamHeader
    /// Whether the payload was checked and decoded (false when it needs the model's dictionary).
    let payloadChecked: Bool

    init(path: String, limits: BitstreamLimits) throws {
        let bytes = try FileIO.read(path)
        do {
            // Without the model's dictionary the tokens cannot be decompressed: check what can be.
            let header = try BitstreamHeader.parse(bytes, limits: limits)
            if header.flags.contains(.tokenDictionary) {
                try header.checkPayload(of: bytes)
                payloadChecked = false
            } else {
                _ = try BitstreamFile.parse(bytes, limits: limits)
                payloadChecked = true
            }
            self.header = header
        } catch {
            throw RuntimeFailure("\(path): \(error)")
        }
        self.path = path
        self.fileSize = bytes.count
    }

    var bitsPerPixel: Double { 8 * Double(fileSize) / Double(header.imageWidth * header.imageHeight) }

    /// (name, text value, JSON value) for each header field, in the spec's order.
    var fields: [(String, String, String)] {
        let h = header
        func hex8(_ v: UInt32) -> String { "0x" + String(format: "%08X", v) }
        let flagNames = [(BitstreamFlags.alphaPresent, "Alpha_Present"), (.gray, "Gray"), (.tokenDictionary, "Token_Dictionary")]
            .filter { h.flags.contains($0.0) }.map(\.1)
        let signature = BitstreamFormat.signature.map { String(format: "%02X", $0) }.joined(separator: " ")
        return [
            ("Signature", signature, "\"\(signature.replacingOccurrences(of: " ", with: "").lowercased())\""),
            ("Version_Major", "\(h.versionMajor)", "\(h.versionMajor)"),
            ("Version_Minor", "\(h.versionMinor)", "\(h.versionMinor)"),
            ("Header_Size", "\(h.headerSize)", "\(h.headerSize)"),
            ("Payload_Kind", "\(h.payloadKind.rawValue) (\(h.payloadKind.name))", "\(h.payloadKind.rawValue)"),
            ("Flags", "\(h.flags.rawValue) (\(flagNames.isEmpty ? "none" : flagNames.joined(separator: ", ")))", "\(h.flags.rawValue)"),
            ("Source_Bit_Depth", "\(h.sourceBitDepth)", "\(h.sourceBitDepth)"),
            ("Downsample_Factor", "\(h.downsampleFactor)", "\(h.downsampleFactor)"),
            ("Image_Width", "\(h.imageWidth)", "\(h.imageWidth)"),
            ("Image_Height", "\(h.imageHeight)", "\(h.imageHeight)"),
            ("Grid_Width", "\(h.gridWidth)", "\(h.gridWidth)"),
            ("Grid_Height", "\(h.gridHeight)", "\(h.gridHeight)"),
            ("Level", "\(h.level)", "\(h.level)"),
            ("Plane_Count", "\(h.planeCount)", "\(h.planeCount)"),
            ("Alphabet_Count", "\(h.alphabetCount)", "\(h.alphabetCount)"),
            ("Symbol_Layout", "\(h.symbolLayout.rawValue) (\(h.symbolLayout == .interleaved ? "interleaved" : "byte planes"))", "\(h.symbolLayout.rawValue)"),
            ("Quant_Step", "\(h.quantStep)", "\(h.quantStep)"),
            ("Model_ID", h.modelID.hex, "\"\(h.modelID.hex)\""),
            ("Token_Section_Size", "\(h.tokenSectionSize)", "\(h.tokenSectionSize)"),
            ("Alpha_Section_Size", "\(h.alphaSectionSize)", "\(h.alphaSectionSize)"),
            ("Payload_CRC32", hex8(h.payloadCRC32), "\(h.payloadCRC32)"),
            ("Alphabet_Size", h.alphabetSizes.map(String.init).joined(separator: " "), "[" + h.alphabetSizes.map(String.init).joined(separator: ",") + "]"),
            ("Header_CRC32", hex8(h.headerCRC32), "\(h.headerCRC32)"),
        ]
    }

    var text: String {
        let width = fields.map(\.0.count).max() ?? 0
        var out = fields.map { $0.0.padding(toLength: width + 1, withPad: " ", startingAt: 0) + " " + $0.1 }.joined(separator: "\n")
        out += "\n\nFile: \(fileSize) bytes, \(String(format: "%.4f", bitsPerPixel)) bpp"
        out += "\nToken section: \(header.tokenSectionSize) bytes -> \(header.tokenBytes) bytes (\(header.planeCount) planes of \(header.gridWidth)x\(header.gridHeight) symbols, \(header.symbolBytes) byte(s) each)"
        out += "\nAlpha section: " + (header.flags.contains(.alphaPresent) ? "\(header.alphaSectionSize) bytes -> \(header.imageWidth * header.imageHeight) bytes" : "absent")
        out += "\nChecked: " + (payloadChecked ? "header, payload, zstd frames and symbols" : "header and payload CRC (the tokens need the model's zstd dictionary)")
        return out + "\n"
    }

    var json: String {
        var parts = fields.map { "\"\($0.0)\": \($0.2)" }
        parts.append("\"file\": \"\(jsonEscaped(path))\"")
        parts.append("\"file_size\": \(fileSize)")
        parts.append("\"bpp\": \(String(format: "%.6f", bitsPerPixel))")
        parts.append("\"payload_checked\": \(payloadChecked)")
        return "{" + parts.joined(separator: ", ") + "}"
    }
}

func jsonEscaped(_ s: String) -> String {
    var out = ""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}
