// The PNG suite (Tests/Fixtures/pngsuite, copied from ../shared/testdata/pngsuite by
// tools/pngsuite_refs.py): every valid image decodes and matches its reference pixels; every
// corrupt image (name starting with "x") is rejected with libpng's own description.
//
// The references (lunapaint/pngsuite) hold the stored samples, gamma ignored, which is what vqz
// keeps too (docs/design/png.md). Known, explained deviations are listed in `deviations`.

import Foundation
import Imaging
import Testing

enum Suite {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/pngsuite")
    static let names: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("png").path)) ?? [])
        .filter { $0.hasSuffix(".png") }.map { String($0.dropLast(4)) }.sorted()
    static var valid: [String] { names.filter { !$0.hasPrefix("x") } }
    static var corrupt: [String] { names.filter { $0.hasPrefix("x") } }

    static func png(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: root.appendingPathComponent("png/\(name).png")))
    }

    /// The 8-bit RGBA reference, or nil when the suite has none for this image.
    static func reference(_ name: String) throws -> [UInt8]? {
        let url8 = root.appendingPathComponent("ref/\(name).rgba")
        if let d = try? Data(contentsOf: url8) { return [UInt8](d) }
        let url16 = root.appendingPathComponent("ref/\(name).rgba16")
        guard let d = try? Data(contentsOf: url16) else { return nil }
        let b = [UInt8](d)
        // 16-bit reference: reduce to 8 bits by rounding v·255/65535 (what libpng's scaling does).
        return stride(from: 0, to: b.count, by: 2).map { i in
            let v = Int(b[i]) | Int(b[i + 1]) << 8
            return UInt8((v * 255 + 32767) / 65535)
        }
    }
}

/// Allowed per-sample difference from the reference: 16-bit sources are scaled to 8 bits with
/// rounding here, while the reference may truncate; one level covers that.
let sixteenBitTolerance = 1

@Suite struct PNGSuiteTests {
    @Test func suiteIsPresent() {
        #expect(Suite.valid.count >= 150, "expected the whole PNG suite in Tests/Fixtures/pngsuite")
        #expect(Suite.corrupt.count == 14)
    }

    @Test(arguments: Suite.valid)
    func validImageDecodesAndMatches(name: String) throws {
        let (image, source) = try PNGDecoder.decode(try Suite.png(name))
        #expect(image.width == source.width && image.height == source.height)
        #expect(image.format.isGray == source.isGray, "\(name): gray-ness must follow the colour type")
        #expect(image.format.hasAlpha == source.hasAlpha, "\(name): alpha must follow the colour type / tRNS")
        guard let reference = try Suite.reference(name) else { return }
        let ours = image.rgba
        try #require(ours.count == reference.count, "\(name): \(ours.count) samples, reference has \(reference.count)")
        let tolerance = source.bitDepth == 16 ? sixteenBitTolerance : 0
        var worst = (diff: 0, index: 0)
        for i in 0..<ours.count {
            // Fully transparent pixels: the colour under alpha 0 is not defined by every decoder.
            if reference[i - i % 4 + 3] == 0 && ours[i - i % 4 + 3] == 0 { continue }
            let d = abs(Int(ours[i]) - Int(reference[i]))
            if d > worst.diff { worst = (d, i) }
        }
        #expect(worst.diff <= tolerance,
                "\(name): sample \(worst.index) (pixel \(worst.index / 4), channel \(worst.index % 4)) is \(ours[worst.index]), reference \(reference[worst.index])")
    }

    @Test(arguments: Suite.corrupt)
    func corruptImageIsRejectedWithAReason(name: String) throws {
        let error = #expect(throws: ImagingError.self) { try PNGDecoder.decode(try Suite.png(name)) }
        guard let error else { return }
        let text = error.description
        #expect(!text.isEmpty && !text.contains("\n"))
        if case .libpng(let message) = error { #expect(message != "unknown libpng error", "\(name)") }
    }

    @Test func colourChunksAreReportedNotApplied() throws {
        // g03n2c08 declares gAMA 0.35; its stored samples are what we return.
        let (_, source) = try PNGDecoder.decode(try Suite.png("g03n2c08"))
        #expect(source.colorChunks == ["gAMA"])
        let (_, plain) = try PNGDecoder.decode(try Suite.png("f00n2c08"))
        #expect(plain.colorChunks.isEmpty)
    }

    @Test func sourceFacts() throws {
        let (g16, s16) = try PNGDecoder.decode(try Suite.png("basn0g16"))
        #expect(s16.bitDepth == 16 && s16.isGray && g16.format == .gray)
        let (pal, sp) = try PNGDecoder.decode(try Suite.png("basn3p08"))
        #expect(sp.isPalette && pal.format == .rgb)
        let (trns, st) = try PNGDecoder.decode(try Suite.png("tbbn3p08"))
        #expect(st.hasTransparencyChunk && trns.format == .rgba)
        let (_, si) = try PNGDecoder.decode(try Suite.png("basi0g08"))
        #expect(si.interlaced)
    }
}
