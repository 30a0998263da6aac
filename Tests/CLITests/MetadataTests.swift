// Colour and metadata survive (docs/FORMAT.md, "Metadata section"): an ICC-tagged PNG with EXIF,
// resolution and text comes back with the same chunks byte for byte; --metadata icc|none; trim
// keeps them; vqz info lists them; an oversized profile is one sentence.

import Container
import Foundation
import Imaging
import Testing

@Suite struct MetadataTests {
    /// A PNG chunk's bytes (length, type, data, CRC), with a wrong CRC when `damaged`.
    static func chunk(_ type: String, _ data: [UInt8], damaged: Bool = false) -> [UInt8] {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in Array(type.utf8) + data {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        crc ^= 0xFFFF_FFFF
        if damaged { crc ^= 1 }
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        return be(UInt32(data.count)) + Array(type.utf8) + data + be(crc)
    }

    /// The (type, data) of every chunk of a PNG file, in order.
    static func chunks(_ png: [UInt8]) -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        var i = 8
        while i + 12 <= png.count {
            let n = Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3])
            out.append((String(decoding: png[i + 4..<i + 8], as: UTF8.self), Array(png[i + 8..<i + 8 + n])))
            i += 12 + n
        }
        return out
    }

    static let profile: [UInt8] = Array("Display P3\u{0}\u{0}".utf8) + (0..<2900).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    static let kept: [(String, [UInt8])] = [
        ("iCCP", profile), ("cHRM", (0..<32).map { UInt8($0) }), ("pHYs", [0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1]),
        ("eXIf", Array("MM\u{0}*".utf8) + [0, 0, 0, 8, 0, 0]), ("tEXt", Array("Author\u{0}vqz test".utf8)),
        ("iTXt", Array("Title\u{0}\u{0}\u{0}\u{0}\u{0}Grüße".utf8)),
    ]

    /// A 24 × 16 RGB PNG with `kept` after IHDR, plus a private chunk and a damaged tEXt (both dropped).
    static func taggedPNG(in dir: URL, extra: [UInt8] = []) throws -> String {
        let plain = try FileIO.read(try Workspace.png(in: dir, name: "plain.png", width: 24, height: 16, format: .rgb))
        var png = Array(plain[0..<33])
        for (type, data) in kept { png += chunk(type, data) }
        png += chunk("prVt", [1, 2, 3]) + chunk("tEXt", Array("Bad\u{0}crc".utf8), damaged: true) + extra
        png += plain[33...]
        let path = dir.appendingPathComponent("tagged.png").path
        try Data(png).write(to: URL(fileURLWithPath: path))
        return path
    }

    func metadataChunks(_ path: String) throws -> [(String, [UInt8])] {
        Self.chunks(try FileIO.read(path)).filter { !["IHDR", "IDAT", "IEND"].contains($0.0) }
    }

    @Test func anICCTaggedPhotoComesBackWithItsChunksByteForByte() throws {
        let dir = try Workspace.make()
        let png = try Self.taggedPNG(in: dir)
        let vqzFile = dir.appendingPathComponent("t.vqz").path, out = dir.appendingPathComponent("out.png").path
        #expect(try Workspace.vqz(["encode", png, "-o", vqzFile, "-q", "2", "-s"]).status == 0)
        let d = try Workspace.vqz(["decode", vqzFile, "-o", out, "-v"])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(d.stderr.contains("metadata: iCCP (2912 bytes), cHRM (32 bytes), pHYs (9 bytes), eXIf (10 bytes), tEXt (15 bytes), iTXt (17 bytes)"), "\(d.stderr)")
        let back = try metadataChunks(out)
        #expect(back.map(\.0) == Self.kept.map(\.0))
        #expect(back.map(\.1) == Self.kept.map(\.1), "every chunk byte for byte")
        // libpng reads the result (the CRCs are right) and the pixels are the image's.
        let decoded = try PNGDecoder.decode(FileIO.read(out))
        #expect(decoded.image.width == 24 && decoded.source.colorChunks == ["iCCP", "cHRM"])
        // The file says so.
        let info = try Workspace.vqz(["info", vqzFile])
        let text = String(decoding: info.stdout, as: UTF8.self)
        #expect(info.status == 0 && text.contains("Version_Minor          1") && text.contains("Metadata section: ") && text.contains("iCCP (2912 bytes)"), "\(text)")
        // trim keeps it.
        let trimmed = dir.appendingPathComponent("t1.vqz").path, trimmedPNG = dir.appendingPathComponent("t1.png").path
        #expect(try Workspace.vqz(["trim", vqzFile, "-q", "1", "-o", trimmed, "-s"]).status == 0)
        #expect(try Workspace.vqz(["decode", trimmed, "-o", trimmedPNG, "-s"]).status == 0)
        #expect(try metadataChunks(trimmedPNG).map(\.1) == Self.kept.map(\.1))
    }

    @Test func theMetadataOptions() throws {
        let dir = try Workspace.make()
        let png = try Self.taggedPNG(in: dir)
        func encoded(_ policy: String) throws -> String {
            let path = dir.appendingPathComponent("\(policy).vqz").path
            #expect(try Workspace.vqz(["encode", png, "-o", path, "-q", "2", "-s", "--metadata", policy]).status == 0)
            return path
        }
        let none = try encoded("none"), icc = try encoded("icc"), all = try encoded("all")
        // No metadata: a version 1.0 file, 4 header bytes smaller than the same file as 1.1 would be.
        #expect(try BitstreamHeader.parse(FileIO.read(none)).versionMinor == 0)
        #expect(try BitstreamFile.parse(FileIO.read(icc)).content.metadata.map(\.type) == ["iCCP", "cHRM"])
        #expect(try BitstreamFile.parse(FileIO.read(none)).content.symbols == BitstreamFile.parse(FileIO.read(all)).content.symbols)
        // decode --metadata chooses what is written back.
        for (policy, types) in [("none", [String]()), ("icc", ["iCCP", "cHRM"]), ("all", Self.kept.map(\.0))] {
            let out = dir.appendingPathComponent("d-\(policy).png").path
            #expect(try Workspace.vqz(["decode", all, "-o", out, "-s", "--metadata", policy]).status == 0)
            #expect(try metadataChunks(out).map(\.0) == types, "\(policy)")
        }
    }

    @Test func anOversizedProfileIsOneSentence() throws {
        let dir = try Workspace.make()
        let png = try Self.taggedPNG(in: dir, extra: Self.chunk("iCCP", [UInt8](repeating: 7, count: 1 << 24)))
        let out = dir.appendingPathComponent("big.vqz").path
        let r = try Workspace.vqz(["encode", png, "-o", out])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("vqz: error: ") && r.stderr.contains("over the 16 MiB") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(try Workspace.vqz(["encode", png, "-o", out, "--metadata", "none", "-s"]).status == 0, "without the profile it fits")
    }
}
