// `vqz tokens` and `vqz decode X.npy`: the grid is exactly the encoder's tokens, NumPy reads it
// (tools/npy_tokens_check.py under the system python3 with numpy, as `make deps` installs), and a
// grid decodes to the same pixels as the .vqz file with those tokens. Plus the .npy reader's refusals.

import Container
import Foundation
import Imaging
import Testing

@Suite struct TokensTests {
    @Test func tokensAreTheEncodersAndDecodeBack() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "in.png", width: 40, height: 24, format: .rgb)  // grid 3 × 5
        let npy = dir.appendingPathComponent("in.npy").path, vqzFile = dir.appendingPathComponent("in.vqz").path
        let t = try Workspace.vqz(["tokens", png, "-m", "tiny-vq", "-q", "2", "-o", npy, "--quiet"])
        #expect(t.status == 0, "\(t.stderr)")
        #expect(try Workspace.vqz(["encode", png, "-m", "tiny-vq", "-q", "2", "-o", vqzFile, "--quiet"]).status == 0)
        let grid = try NPY.decodeIntegers(FileIO.read(npy), maxElements: 1000)
        let content = try BitstreamFile.parse(FileIO.read(vqzFile)).content
        #expect(grid.shape == [2, 3, 5])
        #expect(grid.values == content.symbols.map(Int.init))

        // NumPy reads it as uint16 [2, 3, 5] and writes it back as int64.
        let back = dir.appendingPathComponent("back.npy").path
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        python.arguments = [CLI.repository.appendingPathComponent("tools/npy_tokens_check.py").path, npy, "2", "3", "5", back]
        let pipe = Pipe()
        python.standardOutput = pipe
        try python.run()
        python.waitUntilExit()
        let said = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(python.terminationStatus == 0 && said.hasPrefix("ok"), "numpy check: \(said)")

        // Both grids decode to the .vqz file's pixels (the grid's image is the padded 40 × 24).
        let fromVQZ = dir.appendingPathComponent("a.png").path
        #expect(try Workspace.vqz(["decode", vqzFile, "-o", fromVQZ, "--quiet"]).status == 0)
        let reference = try PNGDecoder.decode(FileIO.read(fromVQZ)).image
        for (i, grid) in [npy, back].enumerated() {
            let out = dir.appendingPathComponent("g\(i).png").path
            let d = try Workspace.vqz(["decode", grid, "-m", "tiny-vq", "-o", out, "--quiet"])
            #expect(d.status == 0, "\(d.stderr)")
            #expect(try PNGDecoder.decode(FileIO.read(out)).image == reference)
        }
        // Without -m, or with a Gaussian model: one sentence, exit 1.
        for args in [["decode", npy, "-o", dir.appendingPathComponent("x.png").path],
                     ["decode", npy, "-m", "tiny-gaussian", "-o", dir.appendingPathComponent("x.png").path],
                     ["tokens", png, "-m", "tiny-gaussian", "-o", dir.appendingPathComponent("x.npy").path]] {
            let r = try Workspace.vqz(args)
            #expect(r.status == 1 && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
    }

    @Test func theReaderRefusesWhatItCannotUse() throws {
        let good = NPY.encode([1, 2, 3, 4, 5, 6], shape: [2, 3])
        #expect(try NPY.decodeIntegers(good, maxElements: 6) == ([2, 3], [1, 2, 3, 4, 5, 6]))
        #expect(throws: NPYError.self) { try NPY.decodeIntegers(good, maxElements: 5) }
        #expect(throws: NPYError.self) { try NPY.decodeIntegers(Array(good.dropLast()), maxElements: 6) }
        #expect(throws: NPYError.self) { try NPY.decodeIntegers(Array("hello".utf8), maxElements: 6) }
        // The same bytes with one header field changed (the header is ASCII after the 10-byte prefix).
        let header = String(decoding: good[10..<good.count - 12], as: UTF8.self)
        for (from, to) in [("'<u2'", "'<f4'"), ("False", "True "), ("(2, 3)", "(2, x)")] {
            let bad = Array(good[0..<10]) + Array(header.replacingOccurrences(of: from, with: to).utf8) + Array(good.suffix(12))
            #expect(bad.count == good.count)
            #expect(throws: NPYError.self, "\(to)") { try NPY.decodeIntegers(bad, maxElements: 6) }
        }
        // Signed little-endian int16, a negative value included, is read as integers.
        let signed = Array(good[0..<10]) + Array(header.replacingOccurrences(of: "'<u2'", with: "'<i2'").utf8) + [0xFF, 0xFF] + Array(good.suffix(10))
        #expect(try NPY.decodeIntegers(signed, maxElements: 6).values == [-1, 2, 3, 4, 5, 6])
    }
}
