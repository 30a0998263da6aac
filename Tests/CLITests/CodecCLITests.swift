// `vqz encode`, `decode`, `models` and `eval` through the real binary, with the tiny committed test
// models of Tests/Fixtures/models/codecs (VQZ_CODECS points there; never the shipped models): odd
// sizes, gray, alpha, 16-bit, stdin/stdout, overwrite refusal, wrong-model and corrupted-file errors,
// --target-bpp and determinism.

import Container
import Foundation
import Imaging
import Models
import NN
import TensorCore
import Testing
import Training

enum Workspace {
    static let codecs = CLI.fixtures.appendingPathComponent("models/codecs").path
    static let environment = ["VQZ_CODECS": codecs]

    /// A fresh empty folder.
    static func make() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqz-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes a deterministic test image as PNG and returns its path.
    static func png(in dir: URL, name: String, width: Int, height: Int, format: PixelFormat) throws -> String {
        var state: UInt32 = 12345
        let samples = (0..<(width * height * format.channels)).map { i -> UInt8 in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: (i / format.channels) * 3 + Int(state >> 28))
        }
        let path = dir.appendingPathComponent(name).path
        try Data(PNGEncoder.encode(PixelImage(width: width, height: height, format: format, samples: samples))).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func vqz(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = Workspace.environment) throws -> (status: Int32, stdout: Data, stderr: String) {
        try CLI.runBinary(arguments, stdin: stdin, environment: environment)
    }
}

@Suite struct CodecCLITests {
    func json(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test(arguments: [(1, 1, PixelFormat.rgb), (17, 31, .rgb), (33, 65, .rgb), (20, 9, .gray), (13, 7, .rgba), (9, 12, .grayAlpha)])
    func roundTripKeepsSizeAndFormat(width: Int, height: Int, format: PixelFormat) throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "in.png", width: width, height: height, format: format)
        let enc = try Workspace.vqz(["encode", png, "--quiet"])
        #expect(enc.status == 0, "\(enc.stderr)")
        #expect(enc.stderr.isEmpty && enc.stdout.isEmpty)
        let vqzPath = dir.appendingPathComponent("in.vqz").path
        let out = dir.appendingPathComponent("out.png").path
        let dec = try Workspace.vqz(["decode", vqzPath, "-o", out])
        #expect(dec.status == 0, "\(dec.stderr)")
        let (original, _) = try PNGDecoder.decode(FileIO.read(png))
        let (decoded, _) = try PNGDecoder.decode(FileIO.read(out))
        #expect(decoded.width == width && decoded.height == height && decoded.format == format)
        #expect(decoded.alpha == original.alpha, "alpha must come back exactly")
    }

    /// `VQZ_PROFILE=1` adds the phase table to stderr and changes no byte of the outputs.
    @Test func profileListsThePhasesAndChangesNothing() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "in.png", width: 40, height: 24, format: .rgb)
        let path = { (name: String) in dir.appendingPathComponent(name).path }
        let profiled = Workspace.environment.merging(["VQZ_PROFILE": "1"]) { $1 }
        #expect(try Workspace.vqz(["encode", png, "-o", path("plain.vqz"), "-s"]).status == 0)
        let enc = try Workspace.vqz(["encode", png, "-o", path("profiled.vqz"), "-s"], environment: profiled)
        #expect(enc.status == 0, "\(enc.stderr)")
        for phase in ["PNG read", "model load", "encoder: 0 Conv2d", "encoder network", "token choice", "entropy coding (zstd)", "file write"] {
            #expect(enc.stderr.contains(phase), "encode profile lacks \(phase): \(enc.stderr)")
        }
        #expect(try FileIO.read(path("plain.vqz")) == (try FileIO.read(path("profiled.vqz"))))
        #expect(try Workspace.vqz(["decode", path("plain.vqz"), "-o", path("plain.png"), "-s"]).status == 0)
        let dec = try Workspace.vqz(["decode", path("plain.vqz"), "-o", path("profiled.png"), "-s"], environment: profiled)
        #expect(dec.status == 0, "\(dec.stderr)")
        for phase in ["file read", "model load", "entropy decoding (zstd)", "decode: dequantize", "decoder: 0 Conv2d", "decode: pixels out",
                      "PNG write", "process age"] {
            #expect(dec.stderr.contains(phase), "decode profile lacks \(phase): \(dec.stderr)")
        }
        #expect(try FileIO.read(path("plain.png")) == (try FileIO.read(path("profiled.png"))))
        // Off: nothing on stderr with -s.
        #expect(try Workspace.vqz(["decode", path("plain.vqz"), "-o", path("again.png"), "-s"]).stderr.isEmpty)
    }

    @Test func summaryAndJSON() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "photo.png", width: 40, height: 24, format: .rgb)
        let r = try Workspace.vqz(["encode", png, "-o", dir.appendingPathComponent("a.vqz").path, "-q", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try json(r.stdout)
        #expect(o["width"] as? Int == 40 && o["height"] as? Int == 24 && o["level"] as? Int == 2)
        #expect(o["model"] as? String == "tiny-vq" && o["family"] as? String == "vq")
        let bytes = try #require(o["bytes"] as? Int)
        #expect(bytes == (try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("a.vqz").path)[.size] as? Int))
        #expect(abs((o["bpp"] as? Double ?? 0) - 8 * Double(bytes) / 960) < 1e-4)
        #expect(o["psnr"] is Double)
        // The default summary goes to stderr, in the cwebp manner.
        let text = try Workspace.vqz(["encode", png, "-o", dir.appendingPathComponent("b.vqz").path])
        #expect(text.status == 0 && text.stdout.isEmpty)
        #expect(text.stderr.contains("40 × 24 RGB, model tiny-vq (vq), level 2 of 1–3"), "default is a middle level: \(text.stderr)")
        #expect(text.stderr.contains(" bpp"))
    }

    @Test func stdinToStdoutAndBack() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "s.png", width: 19, height: 11, format: .rgb)
        let enc = try Workspace.vqz(["encode", "-", "-o", "-"], stdin: Data(try FileIO.read(png)))
        #expect(enc.status == 0, "\(enc.stderr)")
        let header = try BitstreamHeader.parse([UInt8](enc.stdout))
        #expect(header.imageWidth == 19 && header.imageHeight == 11)
        let fileEnc = try Workspace.vqz(["encode", png, "-o", dir.appendingPathComponent("s.vqz").path])
        #expect(try FileIO.read(dir.appendingPathComponent("s.vqz").path) == [UInt8](enc.stdout), "stdin and file give the same bytes")
        #expect(fileEnc.status == 0)
        let dec = try Workspace.vqz(["decode", "-"], stdin: enc.stdout)
        #expect(dec.status == 0, "\(dec.stderr)")
        #expect(try PNGDecoder.decode([UInt8](dec.stdout)).image.width == 19)
    }

    @Test func existingOutputIsKeptWithoutForce() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "k.png", width: 16, height: 16, format: .rgb)
        let target = dir.appendingPathComponent("k.vqz").path
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: target))
        let r = try Workspace.vqz(["encode", png])
        #expect(r.status == 1)
        #expect(r.stderr == "vqz: error: \(target): already exists (use -f to overwrite it)\n")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep me")
        #expect(try Workspace.vqz(["encode", png, "-f", "--quiet"]).status == 0)
        #expect(try BitstreamHeader.parse(FileIO.read(target)).imageWidth == 16)
        // The input is never the output.
        let same = try Workspace.vqz(["decode", target, "-o", target, "-f"])
        #expect(same.status == 1 && same.stderr.contains("would overwrite the input"))
    }

    @Test func fileOfAMissingModelNamesIt() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "m.png", width: 16, height: 8, format: .rgb)
        #expect(try Workspace.vqz(["encode", png, "-m", "tiny-gaussian", "--quiet"]).status == 0)
        let file = dir.appendingPathComponent("m.vqz").path
        let id = try BitstreamHeader.parse(FileIO.read(file)).modelID.hex
        let empty = try Workspace.make()
        let target = dir.appendingPathComponent("never.png").path
        let r = try Workspace.vqz(["decode", file, "-o", target], environment: ["VQZ_CODECS": empty.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("needs model \(id)"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: target))
        // With -m naming the model file it decodes.
        let ok = try Workspace.vqz(["decode", file, "-o", dir.appendingPathComponent("back.png").path, "-m", Workspace.codecs + "/tiny-gaussian.vqzm"],
                                   environment: ["VQZ_CODECS": empty.path])
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    @Test func corruptedFileIsOneSentenceAndNoOutput() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "c.png", width: 24, height: 24, format: .rgba)
        #expect(try Workspace.vqz(["encode", png, "--quiet"]).status == 0)
        let file = dir.appendingPathComponent("c.vqz").path
        var bytes = try FileIO.read(file)
        for offset in [10, bytes.count / 2, bytes.count - 1] {
            var damaged = bytes
            damaged[offset] ^= 0x10
            try Data(damaged).write(to: URL(fileURLWithPath: file))
            let out = dir.appendingPathComponent("c-out.png").path
            let r = try Workspace.vqz(["decode", file, "-o", out])
            #expect(r.status == 1, "flip at \(offset) must be refused")
            #expect(r.stderr.hasPrefix("vqz: error: ") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        bytes.removeLast(5)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        #expect(try Workspace.vqz(["decode", file, "-o", dir.appendingPathComponent("t.png").path]).status == 1)
        // Not a PNG at all.
        let r = try Workspace.vqz(["encode", file, "-o", dir.appendingPathComponent("x.vqz").path])
        #expect(r.status == 1 && r.stderr.contains("not a readable PNG image"))
    }

    @Test func sixteenBitIsReducedWithANotice() throws {
        let png = CLI.fixtures.appendingPathComponent("pngsuite/png/basn2c16.png").path
        let dir = try Workspace.make()
        let out = dir.appendingPathComponent("16.vqz").path
        let r = try Workspace.vqz(["encode", png, "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("16 bits per sample"))
        #expect(try BitstreamHeader.parse(FileIO.read(out)).sourceBitDepth == 16)
        #expect(try Workspace.vqz(["decode", out, "--quiet"]).status == 0)
        #expect(try PNGDecoder.decode(FileIO.read(dir.appendingPathComponent("16.png").path)).source.bitDepth == 8)
    }

    @Test func targetBppPicksTheLargestLevelThatFits() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "t.png", width: 64, height: 48, format: .rgb)
        var bpp: [Double] = []
        for level in 1...3 {
            let r = try Workspace.vqz(["encode", png, "-o", dir.appendingPathComponent("l\(level).vqz").path, "-q", "\(level)", "--json"])
            bpp.append(try #require(try json(r.stdout)["bpp"] as? Double))
        }
        #expect(bpp[0] < bpp[1] && bpp[1] < bpp[2])
        for (target, expected) in [((bpp[1] + bpp[2]) / 2, 2), (bpp[2] + 0.01, 3), (bpp[0] + 1e-6, 1)] {
            let r = try Workspace.vqz(["encode", png, "-o", dir.appendingPathComponent("x\(expected).vqz").path, "--target-bpp", "\(target)", "--json"])
            #expect(try json(r.stdout)["level"] as? Int == expected)
        }
        let usage = try Workspace.vqz(["encode", png, "-q", "1", "--target-bpp", "1"])
        #expect(usage.status == 64)
        let noLevel = try Workspace.vqz(["encode", png, "-q", "9", "-o", dir.appendingPathComponent("n.vqz").path])
        #expect(noLevel.status == 1 && noLevel.stderr.contains("level 9 does not exist"))
    }

    @Test func sameInputGivesSameBytesAndPixelsAtAnyThreadCount() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "d.png", width: 50, height: 30, format: .rgb)
        var files: [[UInt8]] = [], images: [[UInt8]] = []
        for threads in ["1", "2", "3"] {
            var env = Workspace.environment
            env["VQZ_THREADS"] = threads
            let out = dir.appendingPathComponent("d\(threads).vqz").path
            #expect(try Workspace.vqz(["encode", png, "-o", out, "--quiet"], environment: env).status == 0)
            files.append(try FileIO.read(out))
            let decoded = try Workspace.vqz(["decode", dir.appendingPathComponent("d1.vqz").path, "-o", "-"], environment: env)
            images.append([UInt8](decoded.stdout))
        }
        #expect(files[0] == files[1] && files[1] == files[2])
        #expect(images[0] == images[1] && images[1] == images[2])
    }

    @Test func modelsListsFamilyLevelsDefaultAndFigures() throws {
        let r = try Workspace.vqz(["models", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let list = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]])
        #expect(list.map { $0["name"] as? String } == ["tiny-gaussian", "tiny-vq"])
        #expect(list.map { $0["family"] as? String } == ["gaussian", "vq"])
        #expect(list.map { $0["default"] as? Bool } == [false, true])
        #expect(list[1]["levels"] as? [Int] == [1, 2, 3] && list[1]["default_level"] as? Int == 2, "the middle level, as the model names none")
        #expect((list[1]["figures"] as? [[String: Any]])?.count == 3, "figures from the card")
        let none = try Workspace.vqz(["models"], environment: ["VQZ_CODECS": try Workspace.make().path])
        #expect(none.status == 0 && String(decoding: none.stdout, as: UTF8.self).hasPrefix("no models"))
        let encodeWithout = try Workspace.vqz(["encode", CLI.fixtures.appendingPathComponent("pngsuite/png/basn2c08.png").path, "-o", "-"],
                                              environment: ["VQZ_CODECS": try Workspace.make().path])
        #expect(encodeWithout.status == 1 && encodeWithout.stderr.contains("no model found"))
    }

    @Test func modelsListsTheReadableModelsAndNamesABadOne() throws {
        let dir = try Workspace.make()
        for name in ["tiny-gaussian", "tiny-vq"] {
            try FileManager.default.copyItem(atPath: Workspace.codecs + "/\(name).vqzm", toPath: dir.appendingPathComponent("\(name).vqzm").path)
        }
        let bad = dir.appendingPathComponent("broken.vqzm").path
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: bad))
        for arguments in [["models"], ["models", "--json"]] {
            let r = try Workspace.vqz(arguments, environment: ["VQZ_CODECS": dir.path])
            #expect(r.status == 1, "\(r.stderr)")
            #expect(r.stderr.hasPrefix("vqz: error: \(bad): ") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            let out = String(decoding: r.stdout, as: UTF8.self)
            #expect(out.contains("tiny-gaussian") && out.contains("tiny-vq"), "\(out)")
            if arguments.count == 2 {
                let list = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]])
                #expect(list.map { $0["name"] as? String } == ["tiny-gaussian", "tiny-vq"])
            }
        }
    }

    /// Without -q the encoder uses the model's `codec.default_level` (tiny-vq with level 1 named;
    /// its middle level is 2 without it); -q still wins.
    @Test func encodeUsesTheModelsDefaultLevel() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "a.png", width: 24, height: 16, format: .rgb)
        var file = try ModelFile(bytes: FileIO.read(Workspace.codecs + "/tiny-vq.vqzm"))
        #expect(!file.metadata.contains { $0.key == "codec.default_level" })
        file.metadata.append(ModelFile.MetadataEntry("codec.default_level", .string("1")))
        let model = dir.appendingPathComponent("tiny-vq-l1.vqzm").path
        try FileIO.writeAtomically(try file.serialized(), to: model, overwrite: false)
        for (extra, level) in [([String](), 1), (["-q", "3"], 3)] {
            let r = try Workspace.vqz(["encode", png, "-m", model, "-o", dir.appendingPathComponent("l\(level).vqz").path, "--json"] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try json(r.stdout)["level"] as? Int == level)
        }
        file.metadata[file.metadata.count - 1] = ModelFile.MetadataEntry("codec.default_level", .string("4"))
        let bad = dir.appendingPathComponent("tiny-vq-l4.vqzm").path
        try FileIO.writeAtomically(try file.serialized(), to: bad, overwrite: false)
        let refused = try Workspace.vqz(["encode", png, "-m", bad, "-o", dir.appendingPathComponent("x.vqz").path])
        #expect(refused.status == 1 && refused.stderr.contains("codec.default_level"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.vqz").path))
    }

    /// A figure that is not finite (here the ELBO of a model recorded with a data variance of 0)
    /// leaves valid JSON: the key is left out, never `nan`.
    @Test func evalJSONStaysValidWithNonFiniteFigures() throws {
        let dir = try Workspace.make()
        _ = try Workspace.png(in: dir, name: "a.png", width: 16, height: 16, format: .rgb)
        var file = try ModelFile(bytes: FileIO.read(Workspace.codecs + "/tiny-gaussian.vqzm"))
        let i = try #require(file.metadata.firstIndex { $0.key == "train.data_variance" })
        file.metadata[i] = ModelFile.MetadataEntry("train.data_variance", .string("0"))
        let model = dir.appendingPathComponent("zero-variance.vqzm").path
        try FileIO.writeAtomically(try file.serialized(), to: model, overwrite: false)
        let r = try Workspace.vqz(["eval", "-m", model, "--images", dir.path, "--json", "--iwae-samples", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try json(r.stdout)
        #expect(o["neg_elbo_bits_per_dim"] == nil && o["iwae_bits_per_dim"] == nil, "\(o)")
        #expect(o["kl_bpp"] is Double && (o["levels"] as? [[String: Any]])?.count == 2)
    }

    /// tiny-gaussian with latent channel `c` switched off: μ = 0 and log σ² = 0 (the prior), so
    /// its KL is exactly 0.
    static func gaussianWithDeadChannel(_ c: Int, in dir: URL) throws -> String {
        var file = try ModelFile(bytes: FileIO.read(Workspace.codecs + "/tiny-gaussian.vqzm"))
        for name in ["enc.conv3.weight", "enc.conv3.bias"] {
            let i = try #require(file.arrays.firstIndex { $0.name == name })
            let a = file.arrays[i]
            var floats = try #require(a.floats)
            let outputs = a.shape[0], per = floats.count / outputs
            for o in [c, c + outputs / 2] { for j in 0..<per { floats[o * per + j] = 0 } }
            file.arrays[i] = ModelFile.NamedArray(name: name, shape: a.shape, floats: floats, dtype: a.dtype)
        }
        let path = dir.appendingPathComponent("dead-channel.vqzm").path
        try FileIO.writeAtomically(try file.serialized(), to: path, overwrite: false)
        return path
    }

    @Test func evalReportsTheVAEFigures() throws {
        let dir = try Workspace.make(), images = try Workspace.make()
        _ = try Workspace.png(in: images, name: "a.png", width: 24, height: 16, format: .rgb)
        _ = try Workspace.png(in: images, name: "b.png", width: 17, height: 9, format: .gray)
        func eval(_ model: String, samples: Int) throws -> [String: Any] {
            let r = try Workspace.vqz(["eval", "-m", model, "--images", images.path, "--json", "--iwae-samples", "\(samples)"])
            #expect(r.status == 0, "\(r.stderr)")
            return try json(r.stdout)
        }
        let tiny = Workspace.codecs + "/tiny-gaussian.vqzm"
        let g = try eval(tiny, samples: 8)
        #expect(g["images"] as? Int == 2 && g["family"] as? String == "gaussian")
        #expect((g["levels"] as? [[String: Any]])?.count == 2)
        for key in ["kl_bpp", "kl_psnr", "neg_elbo_bits_per_dim"] { #expect((g["\(key)"] as? Double ?? -1) > 0, "\(key)") }
        let iwae = try #require(g["iwae_bits_per_dim"] as? [String: Double])
        #expect(Set(iwae.keys) == ["1", "8"] && iwae.values.allSatisfy { $0 > 0 })
        // With the same samples, log-mean-exp is at least the mean (Jensen): IWAE-8 is below
        // IWAE-1, the sampled negative ELBO, which differs from the reported one (closed-form KL)
        // only by the Monte Carlo KL (measured 0.002 bits/dim).
        #expect(iwae["8"]! < iwae["1"]!)
        #expect(abs(iwae["1"]! - (g["neg_elbo_bits_per_dim"] as? Double ?? 1)) < 0.05, "\(g)")
        // Every channel of the tiny model carries information; one switched off is counted out.
        #expect(g["active_channels"] as? Int == 4)
        #expect(try eval(Self.gaussianWithDeadChannel(1, in: dir), samples: 1)["active_channels"] as? Int == 3)

        // VQ: per level, the mean PSNR equals that of `vqz encode -v` on each image.
        let vqModel = Workspace.codecs + "/tiny-vq.vqzm"
        let v = try Workspace.vqz(["eval", "-m", vqModel, "--images", images.path, "--json"])
        let levels = try #require(try json(v.stdout)["levels"] as? [[String: Any]])
        #expect(levels.map { $0["level"] as? Int } == [1, 2, 3])
        for entry in levels {
            let level = try #require(entry["level"] as? Int)
            var sum = 0.0
            for name in ["a.png", "b.png"] {
                let e = try Workspace.vqz(["encode", images.appendingPathComponent(name).path, "-m", vqModel, "-q", "\(level)", "--json",
                                           "-o", dir.appendingPathComponent("\(level)-\(name).vqz").path])
                sum += try #require(try json(e.stdout)["psnr"] as? Double)
            }
            #expect(abs((entry["psnr"] as? Double ?? 0) - sum / 2) < 0.002, "level \(level): \(entry) vs \(sum / 2)")
            #expect((entry["bpp_fixed"] as? Double ?? 0) > 0)
        }
    }
}

/// A round trip that must look like the input: a Gaussian model built by hand to be the identity
/// (the encoder's strided convolutions are space-to-depth, the decoder's depth-to-space undoes
/// them, GDN with γ = 0 and β = 1 passes values through), so only the quantization step
/// (Δ = 1/256) separates the decoded image from the input.
@Suite struct FaithfulRoundTripTests {
    /// The identity Gaussian VAE (f = 8, N = 48 hidden channels, C = 192 latents) as a model file.
    static func identityModel() throws -> [UInt8] {
        let step: Float = 1.0 / 256
        let config = ModelConfig(family: .gaussian, channels: 48, latentChannels: 192, quantSteps: [step])
        var options = TrainingOptions()
        options.steps = 2
        options.warmupSteps = 1
        let trainer = Trainer(config: config, options: options, dataVariance: 0.05)
        for p in trainer.parameters {
            var v = Tensor(shape: p.shape)
            let name = p.name
            if name.hasSuffix(".beta_p") {
                v = Tensor(shape: p.shape, repeating: GDN.betaParametrizer.stored(forEffective: 1))
            } else if name.hasSuffix(".gamma_p") {
                v = Tensor(shape: p.shape, repeating: GDN.gammaParametrizer.stored(forEffective: 0))
            } else if name.hasSuffix(".weight") {
                let (o, i, k) = (p.shape[0], p.shape[1], p.shape[2])
                func set(_ out: Int, _ input: Int, _ ky: Int, _ kx: Int) { v.scalars[((out * i + input) * k + ky) * k + kx] = 1 }
                if name.hasPrefix("enc.") {
                    // 5×5, stride 2, padding 2: input channel c, offset (dy, dx) → channel 4c + 2dy + dx
                    let used = name == "enc.conv1.weight" ? 3 : (name == "enc.conv2.weight" ? 12 : 48)
                    for c in 0..<used { for dy in 0..<2 { for dx in 0..<2 where 4 * c + 2 * dy + dx < o { set(4 * c + 2 * dy + dx, c, 2 + dy, 2 + dx) } } }
                } else {
                    // 3×3 centre taps: channel c → c (the depth-to-space after it does the rest)
                    for c in 0..<min(o, i) { set(c, c, 1, 1) }
                }
            }
            p.value = v  // biases stay 0; log σ² channels of enc.conv3 stay 0
        }
        return try trainer.modelFile(checkpoint: false).serialized()
    }

    @Test func aRoundTripThroughTheCLIIsFaithful() throws {
        let dir = try Workspace.make()
        let model = dir.appendingPathComponent("identity.vqzm").path
        try FileIO.writeAtomically(try Self.identityModel(), to: model, overwrite: false)
        for (name, width, height, format) in [("rgb.png", 37, 21, PixelFormat.rgb), ("gray.png", 16, 9, .gray)] {
            let png = try Workspace.png(in: dir, name: name, width: width, height: height, format: format)
            let file = dir.appendingPathComponent(name + ".vqz").path, back = dir.appendingPathComponent("back-" + name).path
            let e = try Workspace.vqz(["encode", png, "-m", model, "-o", file, "--quiet"])
            #expect(e.status == 0, "\(e.stderr)")
            let d = try Workspace.vqz(["decode", file, "-m", model, "-o", back, "--quiet"])
            #expect(d.status == 0, "\(d.stderr)")
            let original = try PNGDecoder.decode(FileIO.read(png)).image, decoded = try PNGDecoder.decode(FileIO.read(back)).image
            #expect(decoded.width == width && decoded.height == height && decoded.format == format)
            var squared = 0.0
            for (a, b) in zip(original.samples, decoded.samples) {
                let d = Double(a) - Double(b)
                squared += d * d
            }
            let mse = squared / Double(original.samples.count)
            let psnr = mse == 0 ? 99 : 10 * log10(255 * 255 / mse)
            #expect(psnr > 30, "\(name): \(psnr) dB")
        }
    }
}
