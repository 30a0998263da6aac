// The shipped default model's token prior on the 24 Kodak images, end to end through the binary
// (the prior issue's bit-exactness check): files encoded with the default thread count and OpenBLAS
// kernel, decoded with one thread and OPENBLAS_CORETYPE=Haswell. The prior-coded files must decode
// to exactly the pixels of the zstd-coded files of the same tokens decoded the same way — so the
// prior gave back every token. (Pixels across kernels are not compared: the synthesis network's
// float GEMM may round a few samples differently under another kernel, for zstd files alike.)

import Container
import Foundation
import Imaging
import Testing

@Suite struct PriorKodakTests {
    static let kodak = CLI.repository.deletingLastPathComponent().appendingPathComponent("shared/data/kodak")
    static let codecs = CLI.repository.appendingPathComponent("codecs").path

    @Test func priorFilesDecodeToTheZstdPixelsUnderAnotherKernelAndThreadCount() throws {
        let images = ((try? FileManager.default.contentsOfDirectory(atPath: Self.kodak.path)) ?? []).filter { $0.hasSuffix(".png") }.sorted()
        try #require(images.count == 24, "the Kodak set is expected at \(Self.kodak.path)")
        let dir = try Workspace.make()
        defer { try? FileManager.default.removeItem(at: dir) }
        let paths = images.map { Self.kodak.appendingPathComponent($0).path }
        let env = ["VQZ_CODECS": Self.codecs]
        var decoded: [String: [String: [UInt8]]] = [:]
        for entropy in ["zstd", "prior"] {
            let coded = dir.appendingPathComponent(entropy).path, pngs = dir.appendingPathComponent(entropy + "-png").path
            let enc = try CLI.runBinary(["encode"] + paths + ["-o", coded, "-q", "12", "--entropy", entropy, "--quiet"], environment: env)
            try #require(enc.status == 0, "\(enc.stderr)")
            let files = images.map { coded + "/" + $0.replacingOccurrences(of: ".png", with: ".vqz") }
            let dec = try CLI.runBinary(["decode"] + files + ["-o", pngs, "--quiet"],
                                        environment: env.merging(["VQZ_THREADS": "1", "OPENBLAS_CORETYPE": "Haswell"]) { $1 })
            try #require(dec.status == 0, "\(dec.stderr)")
            for name in images {
                decoded[entropy, default: [:]][name] = try PNGDecoder.decode(FileIO.read(pngs + "/" + name)).image.samples
            }
        }
        for name in images { #expect(decoded["prior"]?[name] == decoded["zstd"]?[name], "\(name)") }
    }

    /// `--entropy auto` (the default): the shipped default model's files are prior-coded (Flags bit 3,
    /// `Token_Prior`), `--entropy zstd` files are not, and a model without a prior (the Gaussian
    /// baseline) codes with zstd; each file decodes.
    @Test func theDefaultEntropyIsThePriorWhereTheModelHasOne() throws {
        let dir = try Workspace.make()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = Self.kodak.appendingPathComponent("kodim23.png").path
        try #require(FileManager.default.fileExists(atPath: image), "the Kodak set is expected at \(Self.kodak.path)")
        let env = ["VQZ_CODECS": Self.codecs]
        for (name, extra, prior) in [("default", [String](), true), ("zstd", ["--entropy", "zstd"], false),
                                     ("gaussian", ["-m", "gaussian-c32-f8-v3"], false)] {
            let out = dir.appendingPathComponent(name + ".vqz").path
            let enc = try CLI.runBinary(["encode", image, "-o", out, "-q", "2", "--quiet"] + extra, environment: env)
            try #require(enc.status == 0, "\(enc.stderr)")
            let bytes = try FileIO.read(out)
            #expect((bytes[13] & 8 != 0) == prior, "\(name): Flags \(bytes[13])")
            let dec = try CLI.runBinary(["decode", out, "-o", dir.appendingPathComponent(name + ".png").path, "--quiet"], environment: env)
            #expect(dec.status == 0, "\(name): \(dec.stderr)")
        }
    }
}
