// `vqz trim`: a level-N VQ file cut to level L without the model decodes exactly as the first L
// planes of the original (the embedded residual-VQ ladder); Gaussian files and levels above the
// file's own are refused with one sentence.

import Container
import Foundation
import Imaging
import Testing

@Suite struct TrimTests {
    @Test func trimmedFileDecodesAsThePrefixOfTheOriginal() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "in.png", width: 37, height: 29, format: .rgba)
        let full = dir.appendingPathComponent("full.vqz").path
        let enc = try Workspace.vqz(["encode", png, "-m", "tiny-vq", "-q", "3", "-o", full, "--quiet"])
        #expect(enc.status == 0, "\(enc.stderr)")
        let original = try BitstreamFile.parse(FileIO.read(full)).content
        #expect(original.level == 3)
        for level in 1...3 {
            let cut = dir.appendingPathComponent("cut\(level).vqz").path
            let trim = try Workspace.vqz(["trim", full, "-q", "\(level)", "-o", cut, "--quiet"], environment: [:])  // no model folders
            #expect(trim.status == 0, "\(trim.stderr)")
            let trimmed = try BitstreamFile.parse(FileIO.read(cut)).content
            let n = original.gridWidth * original.gridHeight
            #expect(trimmed.level == level && trimmed.planeCount == level)
            #expect(trimmed.symbols == Array(original.symbols.prefix(level * n)), "level \(level): the first planes, unchanged")
            #expect(trimmed.alpha == original.alpha && trimmed.modelID == original.modelID)
            // Decoding the trimmed file equals decoding the original's first planes, written as a file by hand.
            var prefix = original
            prefix.level = level
            prefix.planeCount = level
            prefix.symbols = Array(original.symbols.prefix(level * n))
            let handMade = dir.appendingPathComponent("hand\(level).vqz").path
            try FileIO.writeAtomically(try prefix.serialized(), to: handMade, overwrite: true)
            let a = dir.appendingPathComponent("a\(level).png").path, b = dir.appendingPathComponent("b\(level).png").path
            #expect(try Workspace.vqz(["decode", cut, "-o", a, "--quiet"]).status == 0)
            #expect(try Workspace.vqz(["decode", handMade, "-o", b, "--quiet"]).status == 0)
            #expect(try PNGDecoder.decode(FileIO.read(a)).image == PNGDecoder.decode(FileIO.read(b)).image)
            if level < 3 { #expect(try FileIO.read(cut).count < FileIO.read(full).count) }
        }
    }

    @Test func badTrimsAreOneSentence() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "in.png", width: 16, height: 16, format: .rgb)
        let vq = dir.appendingPathComponent("vq.vqz").path, gauss = dir.appendingPathComponent("g.vqz").path
        #expect(try Workspace.vqz(["encode", png, "-m", "tiny-vq", "-q", "2", "-o", vq, "--quiet"]).status == 0)
        #expect(try Workspace.vqz(["encode", png, "-m", "tiny-gaussian", "-o", gauss, "--quiet"]).status == 0)
        let out = dir.appendingPathComponent("out.vqz").path
        for (args, needle) in [(["trim", vq, "-q", "3", "-o", out], "Level"), (["trim", gauss, "-q", "1", "-o", out], "Payload_Kind"),
                               (["trim", dir.appendingPathComponent("missing.vqz").path, "-q", "1", "-o", out], "missing")] {
            let r = try Workspace.vqz(args)
            #expect(r.status == 1, "\(args)")
            #expect(r.stderr.contains(needle) && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        #expect(try Workspace.vqz(["trim", vq, "-q", "0"]).status == 64)
    }
}
