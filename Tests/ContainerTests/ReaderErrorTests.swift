// Every way to damage the golden file is rejected with one specific error (docs/FORMAT.md,
// "What each kind of damage produces"), and the committed must-fail files are rejected as named.

import Container
import Foundation
import Testing

@Suite struct ReaderErrorTests {
    /// What the reader must say about `file` truncated to `length` bytes.
    static func expectedTruncationError(length: Int, file: [UInt8], headerSize: Int) -> ContainerError {
        switch length {
        case 0..<8: return .truncated(field: "Signature", needed: 8, available: length)
        case 8: return .truncated(field: "Version_Major", needed: 1, available: 0)
        case 9: return .truncated(field: "Version_Minor", needed: 1, available: 0)
        case 10, 11: return .truncated(field: "Header_Size", needed: 2, available: length - 10)
        case 12..<headerSize: return .truncated(field: "header", needed: headerSize, available: length)
        default: return .fileSizeMismatch(declared: file.count, actual: length)
        }
    }

    @Test(arguments: Golden.files.map(\.name))
    func everyTruncationIsRejected(name: String) throws {
        let file = try Golden.bytes(name)
        let headerSize = try BitstreamHeader.parse(file).headerSize
        for length in 0..<file.count {
            let expected = Self.expectedTruncationError(length: length, file: file, headerSize: headerSize)
            #expect(throws: expected, "truncated to \(length)") { try BitstreamFile.parse(Array(file[0..<length])) }
        }
    }

    @Test(arguments: Golden.files.map(\.name))
    func everyByteFlipIsRejected(name: String) throws {
        let file = try Golden.bytes(name)
        let headerSize = try BitstreamHeader.parse(file).headerSize
        for offset in 0..<file.count {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = file
                damaged[offset] ^= mask
                let thrown = #expect(throws: ContainerError.self, "byte \(offset) ^ \(mask)") {
                    try BitstreamFile.parse(damaged)
                }
                guard let thrown else { continue }
                let ok: Bool
                switch (offset, thrown) {
                case (0..<8, .badSignature): ok = true
                case (8, .unsupportedVersion): ok = true
                case (10...11, .badHeaderSize), (10...11, .truncated(field: "header", _, _)): ok = true
                case (9..<headerSize, .headerChecksumMismatch): ok = true
                case (headerSize..., .payloadChecksumMismatch): ok = true
                default: ok = false
                }
                #expect(ok, "byte \(offset) ^ \(mask): unexpected error \(thrown)")
            }
        }
    }

    /// Deliberate, consistently checksummed mistakes: what a buggy writer could produce.
    static let writerBugs: [(name: String, mutate: @Sendable ([UInt8]) -> [UInt8], expected: ContainerError)] = [
        ("payload-kind", { f in var f = f; f[12] = 2; return Golden.resealed(f) },
         .invalidField(field: "Payload_Kind", value: "2", allowed: "0 (VQ token indices) or 1 (Gaussian latents)")),
        ("reserved-flag", { f in var f = f; f[13] |= 0x10; return Golden.resealed(f) },
         .reservedBitsSet(field: "Flags", value: 16)),
        ("bit-depth", { f in var f = f; f[14] = 3; return Golden.resealed(f) },
         .invalidField(field: "Source_Bit_Depth", value: "3", allowed: "1, 2, 4, 8 or 16")),
        ("factor-zero", { f in var f = f; f[15] = 0; return Golden.resealed(f) },
         .invalidField(field: "Downsample_Factor", value: "0", allowed: "1…64")),
        ("width-zero", { f in var f = f; Golden.setU32(&f, at: 16, 0); return Golden.resealed(f) },
         .invalidField(field: "Image_Width", value: "0", allowed: "1…1048576")),
        ("grid-width", { f in var f = f; Golden.setU32(&f, at: 24, 4); return Golden.resealed(f) },
         .invalidField(field: "Grid_Width", value: "4", allowed: "3 (⌈Image_Width/Downsample_Factor⌉)")),
        ("level", { f in var f = f; f[32] = 1; return Golden.resealed(f) },
         .invalidField(field: "Level", value: "1", allowed: "2 (= Plane_Count for VQ tokens)")),
        ("alphabet-count", { f in var f = f; f[34] = 3; return Golden.resealed(f) },
         .invalidField(field: "Alphabet_Count", value: "3", allowed: "1 or 2 (Plane_Count)")),
        ("symbol-layout", { f in var f = f; f[35] = 2; return Golden.resealed(f) },
         .invalidField(field: "Symbol_Layout", value: "2", allowed: "0 (interleaved) or 1 (byte planes)")),
        ("byte-planes-with-bytes", { f in var f = f; f[35] = 1; return Golden.resealed(f) },
         .invalidField(field: "Symbol_Layout", value: "1", allowed: "0 when every Alphabet_Size ≤ 256")),
        ("quant-step-vq", { f in var f = f; Golden.setU32(&f, at: 36, Float(1).bitPattern); return Golden.resealed(f) },
         .invalidField(field: "Quant_Step", value: "1.0", allowed: "0.0 for VQ tokens")),
        ("alphabet-one", { f in var f = f; Golden.setU32(&f, at: 68, 1); return Golden.resealed(f) },
         .invalidField(field: "Alphabet_Size[0]", value: "1", allowed: "2…65536")),
        ("alpha-size-without-flag", { f in var f = f; Golden.setU32(&f, at: 60, 5); return Golden.resealed(f) },
         .invalidField(field: "Alpha_Section_Size", value: "5", allowed: "0 when Alpha_Present is 0")),
        ("trailing-byte", { f in Golden.resealed(f + [0]) }, .fileSizeMismatch(declared: 101, actual: 102)),
        ("symbol-out-of-range", { f in var f = f; Golden.setU32(&f, at: 68, 100); return Golden.resealed(f) },
         .symbolOutOfRange(plane: 1, position: 0, value: 250, alphabetSize: 100)),
        ("version-2", { f in var f = f; f[8] = 2; return Golden.resealed(f) }, .unsupportedVersion(major: 2, minor: 0)),
        ("minor-0-long-header", { f in Golden.resealed(Self.grownHeader(f, minor: 0)) },
         .badHeaderSize(declared: 80, minimum: 76, maximum: 76)),
        ("frame-size", { f in Self.replacingTokenFrame(f, with: try! Zstd.compress([UInt8](repeating: 1, count: 13))) },
         .contentSizeMismatch(section: "token", declared: 13, expected: 12)),
        ("frame-no-checksum", { f in Self.replacingTokenFrame(f, with: try! Zstd.compress(Array(f[0..<12]), checksum: false)) },
         .badFrame(section: "token", reason: "the content checksum flag is not set")),
    ]

    /// The golden file with `extra` header bytes before the CRC, as a later minor version writes.
    static func grownHeader(_ f: [UInt8], minor: UInt8, extra: [UInt8] = [0xAA, 0xBB, 0xCC, 0xDD]) -> [UInt8] {
        var g = Array(f[0..<72]) + extra + Array(f[72...])
        g[9] = minor
        g[10] = UInt8(76 + extra.count)
        return g
    }

    /// Rules of the metadata section (version 1.1), each a damaged v1.1-metadata.vqz.
    static let metadataBugs: [(name: String, mutate: @Sendable ([UInt8]) -> [UInt8], expected: ContainerError)] = [
        ("metadata-critical-type", { f in Self.replacingMetadata(f, with: Array("IDAT".utf8) + [1, 0, 0, 0, 0]) },
         .badMetadata(entry: 0, reason: "the type IDAT is a critical chunk (first letter upper case)")),
        ("metadata-reserved-bit", { f in Self.replacingMetadata(f, with: Array("gAmA".utf8) + [1, 0, 0, 0, 0]) },
         .badMetadata(entry: 0, reason: "the type gAmA has PNG's reserved bit set (third letter lower case)")),
        ("metadata-length-overrun", { f in Self.replacingMetadata(f, with: Array("gAMA".utf8) + [4, 0, 0, 0, 0, 0, 0xB1, 0x8F] + Array("tEXt".utf8) + [14, 0, 0, 0] + Array("Comment\u{0}hello".utf8)) },
         .badMetadata(entry: 1, reason: "Entry_Length is 14 but 13 bytes remain")),
        ("metadata-short", { f in Self.replacingMetadata(f, with: Array("gAMA".utf8)) },
         .badMetadata(entry: 0, reason: "the section holds 4 bytes, less than one entry's 8-byte head")),
        ("metadata-size-bound", { f in var f = f; Golden.setU32(&f, at: 72, 0x0200_0000); return Golden.resealed(f) },
         .invalidField(field: "Metadata_Section_Size", value: "33554432", allowed: "0…\(BitstreamFormat.sectionBound(BitstreamFormat.maxMetadataBytes))")),
        ("minor-1-short-header", { f in var f = Array(f[0..<72]) + Array(f[76...]); f[9] = 1; f[10] = 76; return Golden.resealed(f) },
         .badHeaderSize(declared: 76, minimum: 80, maximum: 80)),
    ]

    /// v1.1-metadata.vqz with its metadata frame replaced by one holding `content`.
    static func replacingMetadata(_ f: [UInt8], with content: [UInt8]) -> [UInt8] {
        let metadataStart = 80 + 25  // header, then the 25-byte token frame
        let frame = try! Zstd.compress(content)
        var g = Array(f[0..<metadataStart]) + frame
        Golden.setU32(&g, at: 72, UInt32(frame.count))
        return Golden.resealed(g)
    }

    static func replacingTokenFrame(_ f: [UInt8], with frame: [UInt8]) -> [UInt8] {
        var g = Array(f[0..<76]) + frame
        Golden.setU32(&g, at: 56, UInt32(frame.count))
        return Golden.resealed(g)
    }

    @Test(arguments: metadataBugs.indices)
    func metadataBugIsRejected(index: Int) throws {
        let bug = Self.metadataBugs[index]
        let damaged = bug.mutate(try Golden.bytes("v1.1-metadata.vqz"))
        #expect(throws: bug.expected, "\(bug.name)") { try BitstreamFile.parse(damaged) }
    }

    @Test(arguments: writerBugs.indices)
    func writerBugIsRejected(index: Int) throws {
        let bug = Self.writerBugs[index]
        let damaged = bug.mutate(try Golden.bytes("v1-minimal.vqz"))
        #expect(throws: bug.expected, "\(bug.name)") { try BitstreamFile.parse(damaged) }
    }

    /// The committed must-fail folder: each file is rejected with its case's error.
    @Test func mustFailFolder() throws {
        let folder = Golden.fixtures.appendingPathComponent("must-fail")
        let regenerate = ProcessInfo.processInfo.environment["VQZ_REGENERATE_GOLDEN"] == "1"
        let golden = try Golden.bytes("v1-minimal.vqz")
        for bug in Self.writerBugs {
            let url = folder.appendingPathComponent(bug.name + ".vqz")
            if regenerate { try Data(bug.mutate(golden)).write(to: url) }
            let bytes = [UInt8](try Data(contentsOf: url))
            #expect(throws: bug.expected, "\(bug.name).vqz") { try BitstreamFile.parse(bytes) }
        }
        let withMetadata = try Golden.bytes("v1.1-metadata.vqz")
        for bug in Self.metadataBugs {
            let url = folder.appendingPathComponent(bug.name + ".vqz")
            if regenerate { try Data(bug.mutate(withMetadata)).write(to: url) }
            let bytes = [UInt8](try Data(contentsOf: url))
            #expect(throws: bug.expected, "\(bug.name).vqz") { try BitstreamFile.parse(bytes) }
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".vqz") }
        #expect(files.count == Self.writerBugs.count + Self.metadataBugs.count, "must-fail holds files without a case: \(files.sorted())")
    }

    @Test func laterMinorVersionIsAccepted() throws {
        let golden = try Golden.bytes("v1-minimal.vqz")
        // A minor version after 1.1: Metadata_Section_Size (0 here), then 4 bytes this reader skips.
        let grown = Golden.resealed(Self.grownHeader(golden, minor: 2, extra: [0, 0, 0, 0, 0xAA, 0xBB, 0xCC, 0xDD]))
        let (header, content) = try BitstreamFile.parse(grown)
        #expect(header.versionMinor == 2)
        #expect(header.headerSize == 84)
        #expect(content == Golden.minimal)
    }

    @Test func limitsAreCheckedBeforeAllocating() throws {
        let golden = try Golden.bytes("v1-minimal.vqz")
        #expect(throws: ContainerError.limitExceeded(field: "Image_Width·Image_Height", value: 240, limit: 100)) {
            try BitstreamFile.parse(golden, limits: BitstreamLimits(maxPixels: 100))
        }
        #expect(throws: ContainerError.limitExceeded(field: "token section (decompressed)", value: 12, limit: 10)) {
            try BitstreamFile.parse(golden, limits: BitstreamLimits(maxTokenBytes: 10))
        }
        // A header declaring a 1048576² image is refused by the pixel limit, not by an allocation.
        var huge = golden
        Golden.setU32(&huge, at: 16, 1 << 20)
        Golden.setU32(&huge, at: 20, 1 << 20)
        Golden.setU32(&huge, at: 24, 1 << 17)
        Golden.setU32(&huge, at: 28, 1 << 17)
        #expect(throws: ContainerError.limitExceeded(field: "Image_Width·Image_Height", value: 1 << 40, limit: 1 << 28)) {
            try BitstreamFile.parse(Golden.resealed(huge))
        }
    }

    @Test func errorsReadAsOneSentence() throws {
        for bug in Self.writerBugs {
            let text = bug.expected.description
            #expect(!text.isEmpty && !text.contains("\n"), "\(bug.name): \(text)")
        }
    }
}
