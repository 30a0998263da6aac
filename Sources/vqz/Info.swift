// `vqz info FILE... [--json]`: the header of .vqz files, field by field, by the names of
// docs/FORMAT.md (like webpinfo and `zstd -l`).

import ArgumentParser
import Container
import Foundation

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the header of .vqz files, or what a model or token prior file holds.",
        discussion: """
            Prints every header field under its name in docs/FORMAT.md, then the sections. The whole \
            file is checked (both checksums, the zstd frames, every symbol) unless its tokens need \
            the model's zstd dictionary. A model (.vqzm) or token prior (.vqzp) file is checked by \
            every rule of docs/MODEL-FORMAT.md and shown as its id, its metadata and its arrays. \
            With --json, prints a JSON array with one object per file. Every file is reported; a bad \
            one is named on stderr and the exit status is then 1.

            Examples:
              vqz info photo.vqz
              vqz info --json out/*.vqz
              vqz info codecs/rvqvae-k256-d32-f8-v3z.vqzm
            """)

    @Argument(help: "The .vqz (or .vqzm, .vqzp) files to show.")
    var files: [String]

    @Flag(help: "Print JSON on stdout instead of text.")
    var json = false

    @Option(help: "Refuse images with more pixels than this.")
    var maxPixels: Int = BitstreamLimits.defaultMaxPixels

    func validate() throws {
        guard maxPixels > 0 else { throw ValidationError("--max-pixels must be positive.") }
    }

    func run() throws {
        try reportingErrors {
            // Every file is reported (like `zstd -l`); a bad one is a sentence on stderr and makes
            // the exit status 1 once all are done.
            var reports: [InfoJSON] = []
            var failed = 0
            var printed = 0
            for path in files {
                let text: String
                do {
                    let bytes = try FileIO.read(path)
                    if bytes.starts(with: ModelFile.signature) {
                        let report = try ModelInfoReport(path: path, bytes: bytes)
                        (text, reports) = (report.text, reports + [.model(report.json)])
                    } else {
                        let report = try InfoReport(path: path, bytes: bytes, limits: BitstreamLimits(maxPixels: maxPixels))
                        (text, reports) = (report.text, reports + [.image(report.json)])
                    }
                } catch {
                    printError("vqz: error: \(error)")
                    failed += 1
                    continue
                }
                if !json {
                    if files.count > 1 { try Streams.print("\(printed > 0 ? "\n" : "")\(path):") }
                    try Streams.print(text, terminator: "")
                    printed += 1
                }
            }
            if json { try JSONOutput.print(reports) }
            if failed > 0 { throw ExitCode(1) }
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
    /// The metadata entries (nil when the payload was not decoded).
    let metadata: [MetadataEntry]?
    /// A prior-coded file's `Prior_ID` and `Stream_Size` entries.
    var prior: (priorID: ModelID, codedLevel: Int, streamSizes: [Int])?

    init(path: String, bytes: [UInt8], limits: BitstreamLimits) throws {
        do {
            // Without the model's dictionary the tokens cannot be decompressed: check what can be.
            let header = try BitstreamHeader.parse(bytes, limits: limits)
            if header.flags.contains(.tokenDictionary) {
                try header.checkPayload(of: bytes)
                payloadChecked = false
                metadata = nil
            } else if header.flags.contains(.tokenPrior) {
                // The streams need the prior to decode; their layout is checked here.
                try header.checkPayload(of: bytes)
                prior = try BitstreamFile.priorSectionLayout(bytes[header.headerSize..<header.headerSize + header.tokenSectionSize], header: header)
                payloadChecked = false
                metadata = nil
            } else {
                metadata = try BitstreamFile.parse(bytes, limits: limits).content.metadata
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

    /// `Prior_ID` and `Stream_Size` of a prior-coded file (the start of its token section).
    var priorFields: [(String, String)] {
        guard let prior else { return [] }
        let sizes: [String] = prior.streamSizes.map { String($0) }
        return [("Prior_ID", prior.priorID.hex), ("Coded_Level", "\(prior.codedLevel)"), ("Stream_Size", sizes.joined(separator: " "))]
    }

    /// (name, text value) for each header field, in the spec's order.
    var fields: [(String, String)] {
        let h = header
        func hex8(_ v: UInt32) -> String { "0x" + String(format: "%08X", v) }
        let flagNames = [(BitstreamFlags.alphaPresent, "Alpha_Present"), (.gray, "Gray"), (.tokenDictionary, "Token_Dictionary"), (.tokenPrior, "Token_Prior")]
            .filter { h.flags.contains($0.0) }.map(\.1)
        return [
            ("Signature", BitstreamFormat.signature.map { String(format: "%02X", $0) }.joined(separator: " ")),
            ("Version_Major", "\(h.versionMajor)"),
            ("Version_Minor", "\(h.versionMinor)"),
            ("Header_Size", "\(h.headerSize)"),
            ("Payload_Kind", "\(h.payloadKind.rawValue) (\(h.payloadKind.name))"),
            ("Flags", "\(h.flags.rawValue) (\(flagNames.isEmpty ? "none" : flagNames.joined(separator: ", ")))"),
            ("Source_Bit_Depth", "\(h.sourceBitDepth)"),
            ("Downsample_Factor", "\(h.downsampleFactor)"),
            ("Image_Width", "\(h.imageWidth)"),
            ("Image_Height", "\(h.imageHeight)"),
            ("Grid_Width", "\(h.gridWidth)"),
            ("Grid_Height", "\(h.gridHeight)"),
            ("Level", "\(h.level)"),
            ("Plane_Count", "\(h.planeCount)"),
            ("Alphabet_Count", "\(h.alphabetCount)"),
            ("Symbol_Layout", "\(h.symbolLayout.rawValue) (\(h.symbolLayout == .interleaved ? "interleaved" : "byte planes"))"),
            ("Quant_Step", "\(h.quantStep)"),
            ("Model_ID", h.modelID.hex),
            ("Token_Section_Size", "\(h.tokenSectionSize)"),
            ("Alpha_Section_Size", "\(h.alphaSectionSize)"),
            ("Payload_CRC32", hex8(h.payloadCRC32)),
            ("Alphabet_Size", h.alphabetSizes.map(String.init).joined(separator: " ")),
        ] + (h.versionMinor >= 1 ? [("Metadata_Section_Size", "\(h.metadataSectionSize)")] : []) + [
            ("Header_CRC32", hex8(h.headerCRC32)),
        ] + priorFields
    }

    var text: String {
        let width = fields.map(\.0.count).max() ?? 0
        var out = fields.map { $0.0.padding(toLength: width + 1, withPad: " ", startingAt: 0) + " " + $0.1 }.joined(separator: "\n")
        out += "\n\nFile: \(fileSize) bytes, \(String(format: "%.4f", bitsPerPixel)) bpp"
        out += "\nToken section: \(header.tokenSectionSize) bytes -> \(header.tokenBytes) bytes (\(header.planeCount) planes of \(header.gridWidth)x\(header.gridHeight) symbols, \(header.symbolBytes) byte(s) each)"
        out += "\nAlpha section: " + (header.flags.contains(.alphaPresent) ? "\(header.alphaSectionSize) bytes -> \(header.imageWidth * header.imageHeight) bytes" : "absent")
        if header.metadataSectionSize > 0 {
            let entries = metadata.map { $0.map { "\($0.type) (\($0.data.count) bytes)" }.joined(separator: ", ") } ?? "not read"
            out += "\nMetadata section: \(header.metadataSectionSize) bytes: \(entries)"
        }
        out += "\nChecked: " + (payloadChecked ? "header, payload, zstd frames and symbols"
            : prior != nil ? "header, payload CRC and stream sizes (the tokens need the token prior \(prior!.priorID.hex))"
            : "header and payload CRC (the tokens need the model's zstd dictionary)")
        return out + "\n"
    }

    /// The `--json` object: every header field under its spec name, then the file's figures.
    struct JSON: Encodable {
        var signature: String
        var versionMajor, versionMinor: UInt8
        var headerSize, payloadKind, flags, sourceBitDepth, downsampleFactor: Int
        var imageWidth, imageHeight, gridWidth, gridHeight, level, planeCount, alphabetCount, symbolLayout: Int
        var quantStep: Float
        var modelID: String
        var tokenSectionSize, alphaSectionSize: Int
        var payloadCRC32: UInt32
        var alphabetSize: [Int]
        var metadataSectionSize: Int?
        var headerCRC32: UInt32
        var file: String
        var fileSize: Int
        var bpp: Double?
        var payloadChecked: Bool
        var metadata: [Entry]?
        var priorID: String?
        var codedLevel: Int?
        var streamSize: [Int]?

        struct Entry: Encodable {
            var type: String
            var bytes: Int
        }

        enum CodingKeys: String, CodingKey {
            case signature = "Signature", versionMajor = "Version_Major", versionMinor = "Version_Minor"
            case headerSize = "Header_Size", payloadKind = "Payload_Kind", flags = "Flags"
            case sourceBitDepth = "Source_Bit_Depth", downsampleFactor = "Downsample_Factor"
            case imageWidth = "Image_Width", imageHeight = "Image_Height", gridWidth = "Grid_Width", gridHeight = "Grid_Height"
            case level = "Level", planeCount = "Plane_Count", alphabetCount = "Alphabet_Count", symbolLayout = "Symbol_Layout"
            case quantStep = "Quant_Step", modelID = "Model_ID", tokenSectionSize = "Token_Section_Size"
            case alphaSectionSize = "Alpha_Section_Size", payloadCRC32 = "Payload_CRC32", alphabetSize = "Alphabet_Size"
            case metadataSectionSize = "Metadata_Section_Size", metadata, priorID = "Prior_ID", codedLevel = "Coded_Level", streamSize = "Stream_Size"
            case headerCRC32 = "Header_CRC32", file, fileSize = "file_size", bpp, payloadChecked = "payload_checked"
        }
    }

    var json: JSON {
        let h = header
        return JSON(
            signature: BitstreamFormat.signature.map { String(format: "%02x", $0) }.joined(),
            versionMajor: h.versionMajor, versionMinor: h.versionMinor, headerSize: h.headerSize,
            payloadKind: Int(h.payloadKind.rawValue), flags: Int(h.flags.rawValue), sourceBitDepth: h.sourceBitDepth,
            downsampleFactor: h.downsampleFactor, imageWidth: h.imageWidth, imageHeight: h.imageHeight,
            gridWidth: h.gridWidth, gridHeight: h.gridHeight, level: h.level, planeCount: h.planeCount,
            alphabetCount: h.alphabetCount, symbolLayout: Int(h.symbolLayout.rawValue), quantStep: h.quantStep,
            modelID: h.modelID.hex, tokenSectionSize: h.tokenSectionSize, alphaSectionSize: h.alphaSectionSize,
            payloadCRC32: h.payloadCRC32, alphabetSize: h.alphabetSizes,
            metadataSectionSize: h.versionMinor >= 1 ? h.metadataSectionSize : nil, headerCRC32: h.headerCRC32,
            file: path, fileSize: fileSize, bpp: jsonFigure(bitsPerPixel, 6), payloadChecked: payloadChecked,
            metadata: metadata.map { $0.map { JSON.Entry(type: $0.type, bytes: $0.data.count) } },
            priorID: prior?.priorID.hex, codedLevel: prior?.codedLevel, streamSize: prior?.streamSizes)
    }
}

/// One element of `vqz info --json`'s array.
enum InfoJSON: Encodable {
    case image(InfoReport.JSON)
    case model(ModelInfoReport.JSON)

    func encode(to encoder: Encoder) throws {
        switch self {
        case .image(let j): try j.encode(to: encoder)
        case .model(let j): try j.encode(to: encoder)
        }
    }
}

/// What `vqz info` says about a model (.vqzm) or token prior (.vqzp) file: the file is parsed by
/// every rule of docs/MODEL-FORMAT.md (checksum included), then shown as its id, its metadata entries
/// in file order and its arrays.
struct ModelInfoReport {
    let path: String
    let fileSize: Int
    let id: ModelID
    let file: ModelFile

    init(path: String, bytes: [UInt8]) throws {
        do { file = try ModelFile(bytes: bytes) } catch { throw RuntimeFailure("\(path): \(error)") }
        self.path = path
        fileSize = bytes.count
        id = ModelID(modelFile: bytes)
    }

    var kind: String { file.metadata.contains { $0.key.hasPrefix("prior.") } ? "token prior" : "model" }

    var elements: Int { file.arrays.reduce(0) { $0 + $1.count } }

    var text: String {
        var out = "Kind: \(kind) (.vqzm container, docs/MODEL-FORMAT.md)\nID: \(id.hex)\n"
        out += "File: \(fileSize) bytes; \(file.arrays.count) arrays, \(elements) values ("
        out += Dictionary(grouping: file.arrays, by: { "\($0.dtype)" }).sorted { $0.key < $1.key }
            .map { "\($0.key): \($0.value.reduce(0) { $0 + $1.count })" }.joined(separator: ", ") + ")\n"
        out += "Metadata (\(file.metadata.count) \(file.metadata.count == 1 ? "entry" : "entries")):\n"
        let width = file.metadata.map(\.key.count).max() ?? 0
        for entry in file.metadata {
            var value: String
            if case .string(let s) = entry.value { value = s } else { value = entry.value.description }
            if value.count > 200 { value = String(value.prefix(200)) + "… (\(value.count) characters)" }
            out += "  " + entry.key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value.replacingOccurrences(of: "\n", with: " ") + "\n"
        }
        out += "Checked: header, every rule of docs/MODEL-FORMAT.md, the checksum\n"
        return out
    }

    struct JSON: Encodable {
        var file: String
        var kind: String
        var id: String
        var fileSize: Int
        var arrays: Int
        var values: Int
        var metadata: [String: String]

        enum CodingKeys: String, CodingKey {
            case file, kind, id, fileSize = "file_size", arrays, values, metadata
        }
    }

    var json: JSON {
        var metadata: [String: String] = [:]
        for entry in file.metadata {
            if case .string(let s) = entry.value { metadata[entry.key] = s } else { metadata[entry.key] = entry.value.description }
        }
        return JSON(file: path, kind: kind, id: id.hex, fileSize: fileSize, arrays: file.arrays.count, values: elements, metadata: metadata)
    }
}
