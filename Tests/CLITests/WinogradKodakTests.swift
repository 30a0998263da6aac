// The speed issue's rule for a kernel change that moves floating-point results: files encoded
// before it still decode to within 0.01 dB. Kodak images (every third) encoded with the im2col
// convolutions (`VQZ_WINOGRAD=0`, the encoder and decoder before Winograd), decoded both ways by
// the shipped default model: the PSNR against the original may move by less than 0.01 dB per
// image, and no sample by more than 2 levels.

import Container
import Foundation
import Imaging
import Testing

@Suite struct WinogradKodakTests {
    static func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
        var se = 0.0
        for (x, y) in zip(a, b) { let d = Double(x) - Double(y); se += d * d }
        return 10 * log10(255 * 255 / max(se / Double(a.count), 1e-12))
    }

    @Test func filesEncodedBeforeWinogradDecodeWithinAHundredthOfADecibel() throws {
        let kodak = PriorKodakTests.kodak
        let images = ((try? FileManager.default.contentsOfDirectory(atPath: kodak.path)) ?? []).filter { $0.hasSuffix(".png") }.sorted()
        try #require(images.count == 24, "the Kodak set is expected at \(kodak.path)")
        let chosen = stride(from: 0, to: 24, by: 3).map { images[$0] }
        let dir = try Workspace.make()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["VQZ_CODECS": PriorKodakTests.codecs]
        let coded = dir.appendingPathComponent("coded").path
        let enc = try CLI.runBinary(["encode"] + chosen.map { kodak.appendingPathComponent($0).path } + ["-o", coded, "-q", "18", "--quiet"],
                                    environment: env.merging(["VQZ_WINOGRAD": "0"]) { $1 })
        try #require(enc.status == 0, "\(enc.stderr)")
        let files = chosen.map { coded + "/" + $0.replacingOccurrences(of: ".png", with: ".vqz") }
        var decoded: [String: [String: [UInt8]]] = [:]
        for winograd in ["0", "1"] {
            let pngs = dir.appendingPathComponent("png" + winograd).path
            let dec = try CLI.runBinary(["decode"] + files + ["-o", pngs, "--quiet"], environment: env.merging(["VQZ_WINOGRAD": winograd]) { $1 })
            try #require(dec.status == 0, "\(dec.stderr)")
            for name in chosen { decoded[winograd, default: [:]][name] = try PNGDecoder.decode(FileIO.read(pngs + "/" + name)).image.samples }
        }
        for name in chosen {
            let original = try PNGDecoder.decode(FileIO.read(kodak.appendingPathComponent(name).path)).image.samples
            let before = try #require(decoded["0"]?[name]), after = try #require(decoded["1"]?[name])
            let moved = abs(Self.psnr(original, after) - Self.psnr(original, before))
            #expect(moved < 0.01, "\(name): PSNR moved by \(moved) dB")
            let largest = zip(before, after).map { abs(Int($0) - Int($1)) }.max() ?? 0
            #expect(largest <= 2, "\(name): a sample moved by \(largest)")
        }
    }
}
