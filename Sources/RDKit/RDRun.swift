// One rate–distortion run (`vqz bench`, `make rd`): every model at every level, and JPEG and WebP
// at a sweep of qualities through their command-line tools, on every image of a list. Each vqz
// point goes through the code path of `vqz encode`/`vqz decode` (real file sizes, the decoded image
// written to PNG and read back); each anchor through cjpeg/djpeg and cwebp/dwebp, one process
// each. Per image: the bytes, bpp, PSNR and MS-SSIM; per codec and setting: their means.

import BenchSupport
import Codec
import Container
import Foundation
import Imaging
import Metrics

/// Why a run stopped (one sentence).
public struct RDRunError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The anchors: JPEG (libjpeg-turbo's cjpeg/djpeg, twice: standard and -optimize Huffman tables)
/// and WebP (cwebp/dwebp), each usable when its two tools are installed.
public enum Anchor: String, CaseIterable, Sendable {
    case jpeg, webp

    public var tools: [String] { self == .jpeg ? ["cjpeg", "djpeg"] : ["cwebp", "dwebp"] }
    /// The Debian package that installs the tools.
    public var package: String { self == .jpeg ? "libjpeg-turbo-progs" : "webp" }

    /// Whether both tools are on the PATH.
    public var isInstalled: Bool { tools.allSatisfy { RDRun.which($0) != nil } }

    /// The tools' version line.
    public var version: String {
        self == .jpeg
            ? RDRun.shell("cjpeg -version", includeStderr: true).split(separator: "\n").first.map(String.init) ?? "unknown"
            : "cwebp " + RDRun.shell("cwebp -version")
    }

    public static let defaultJPEGQualities = [5, 8, 12, 18, 27, 40, 60, 80]
    public static let defaultWebPQualities = [0, 5, 12, 22, 35, 50, 68, 85]
}

/// One image's result at one setting.
public struct RDImagePoint: Sendable {
    public var image: String
    public var key: String
    public var setting: String
    public var bytes: Int
    public var bpp, psnr, msssim, encodeSeconds, decodeSeconds: Double
}

/// What a run measured.
public struct RDRunResult: Sendable {
    /// One curve per vqz model (and extra λ), then JPEG, JPEG -optimize and WebP when measured.
    public var measured: [RDCurve]
    /// The keys of the VQ curves.
    public var vqKeys: Set<String>
    public var perImage: [RDImagePoint]

    /// `per-image.csv`.
    public var perImageCSV: String {
        var s = "image,codec,setting,bytes,bpp,psnr,ms_ssim,encoding_time_s,decoding_time_s\n"
        for p in perImage {
            s += "\(p.image),\(p.key),\(p.setting),\(p.bytes),\(String(format: "%.6f,%.4f,%.6f,%.4f,%.4f", p.bpp, p.psnr, p.msssim, p.encodeSeconds, p.decodeSeconds))\n"
        }
        return s
    }
}

public enum RDRun {
    /// How a level is named in a curve's `setting` column (`level 12`); `Crops` looks a level up by it.
    public static func setting(level: Int) -> String { "level \(level)" }

    /// The curve key of a model.
    public static func key(_ model: LoadedModel) -> String { "vqz-\(model.name)" }

    /// Measures every model at every level (and every extra λ for VQ models), and each anchor at
    /// its qualities, on every image. `progress(done, total, image)` is called after each image.
    public static func run(images: [String], models: [LoadedModel], anchors: [Anchor], jpegQualities: [Int] = Anchor.defaultJPEGQualities,
                           webpQualities: [Int] = Anchor.defaultWebPQualities, extraLambdas: [Float] = [],
                           priors: [ModelID: LoadedPrior] = [:], refine: Int = ImageCodec.defaultRefine, beam: Int = ImageCodec.defaultBeam,
                           progress: (Int, Int, String) -> Void = { _, _, _ in }) throws -> RDRunResult {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("vqz-rd-\(getpid())-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        func lambdas(for model: LoadedModel) -> [Float] {
            guard model.vq != nil else { return [] }
            return extraLambdas.filter { $0 != 0 || !model.config.lambdas.isEmpty }
        }

        var sums: [String: Sums] = [:]
        var perImage: [RDImagePoint] = []
        func measure(_ key: String, _ i: Int, setting: String, image name: String, original: [UInt8], decoded: [UInt8],
                     width: Int, height: Int, bytes: Int, enc: Double, dec: Double, extra: [String: Double] = [:]) {
            let bpp = 8 * Double(bytes) / Double(width * height)
            let psnr = Metrics.cappedPSNR(original, decoded)
            // MS-SSIM needs 161 pixels a side (five scales of an 11-tap window): NaN below that.
            let msssim = min(width, height) >= Metrics.msssimMinimumSide ? Metrics.msssim(original, decoded, width: width, height: height).msssim : .nan
            sums[key, default: Sums()].add(i, setting: setting, bpp: bpp, psnr: psnr, msssim: msssim, enc: enc, dec: dec, extra: extra)
            perImage.append(RDImagePoint(image: name, key: key, setting: setting, bytes: bytes, bpp: bpp, psnr: psnr, msssim: msssim,
                                         encodeSeconds: enc, decodeSeconds: dec))
        }

        for (n, path) in images.enumerated() {
            let name = (path as NSString).lastPathComponent
            let image: PixelImage
            do { image = try PNGDecoder.decode(try FileIO.read(path)).image } catch { throw RDRunError("\(path): \(error)") }
            let original = image.rgb, w = image.width, h = image.height
            let pixels = Double(w * h)
            for model in models {
                var zstdPixels: [Int: [UInt8]] = [:]
                for lambda in [nil] + lambdas(for: model).map({ Optional($0) }) {
                    let curve = lambda.map { key(model) + "-lambda\($0)" } ?? key(model)
                    for (i, level) in model.levels.enumerated() {
                        do {
                            let (bytes, decoded, enc, dec, header, content) = try vqzRoundTrip(image, model: model, level: level, lambda: lambda, refine: refine, beam: beam)
                            let rates = ImageCodec.tokenRates(header: header, content: content)
                            measure(curve, i, setting: setting(level: level), image: name, original: original, decoded: decoded.rgb,
                                    width: w, height: h, bytes: bytes.count, enc: enc, dec: dec,
                                    extra: ["bpp_fixed": rates.fixedBits / pixels, "bpp_entropy": rates.entropyBits / pixels])
                            if lambda == nil { zstdPixels[level] = decoded.rgb }
                        } catch { throw RDRunError("\(model.name) level \(level) on \(name): \(error)") }
                    }
                }
                // The token prior: the same tokens, coded by the prior; the pixels must not change.
                if let prior = priors[model.id] {
                    for (i, level) in model.levels.enumerated() where level <= prior.stages {
                        do {
                            let (bytes, decoded, enc, dec, _, _) = try vqzRoundTrip(image, model: model, level: level, lambda: nil, refine: refine, beam: beam, prior: prior)
                            guard decoded.rgb == zstdPixels[level] else {
                                throw RDRunError("the prior-coded file decodes to other pixels than the zstd one")
                            }
                            measure(key(model) + "-prior", i, setting: setting(level: level), image: name, original: original, decoded: decoded.rgb,
                                    width: w, height: h, bytes: bytes.count, enc: enc, dec: dec)
                        } catch { throw RDRunError("\(model.name) level \(level) with its token prior on \(name): \(error)") }
                    }
                }
                if let stats = GaussianStatistics.measure(model, image: image, samples: 1) {
                    sums[key(model), default: Sums()].figures["kl_bpp", default: 0] += stats.klBitsPerPixel
                    sums[key(model), default: Sums()].figures["neg_elbo_bits_per_dim", default: 0] += stats.negativeELBOBitsPerDim
                    sums[key(model), default: Sums()].figures["kl_psnr", default: 0] += stats.samplePSNR
                }
            }
            let files = anchors.isEmpty ? nil : try AnchorFiles(tmp: tmp, original: original, width: w, height: h)
            for anchor in anchors {
                guard let files else { break }
                for (key, qualities) in anchor == .jpeg ? [("jpeg", jpegQualities), ("jpeg-optimized", jpegQualities)] : [("webp", webpQualities)] {
                    for (i, q) in qualities.enumerated() {
                        let r = try files.roundTrip(key, quality: q)
                        measure(key, i, setting: "q=\(q)", image: name, original: original, decoded: r.decoded, width: w, height: h,
                                bytes: r.bytes, enc: r.enc, dec: r.dec)
                    }
                }
            }
            progress(n + 1, images.count, name)
        }

        var measured: [RDCurve] = []
        var vqKeys: Set<String> = []
        for model in models {
            let k = key(model)
            guard let s = sums[k] else { continue }
            if model.vq != nil { vqKeys.insert(k) }
            let description = "vqz \(model.config.family.rawValue) model \(model.name) (id \(model.id.hex)), \(model.metadata["arch.name"] ?? "")"
            measured.append(RDCurve(name: "vqz \(model.name)", key: k, description: description, measured: true,
                                    points: s.points(images: images.count), figures: s.figures.mapValues { $0 / Double(images.count) }))
            if let prior = priors[model.id], let s = sums[k + "-prior"] {
                vqKeys.insert(k + "-prior")
                measured.append(RDCurve(name: "vqz \(model.name) + prior", key: k + "-prior",
                                        description: description + ", tokens coded by its learned token prior (--entropy prior, prior id \(prior.priorID.hex))",
                                        measured: true, points: s.points(images: images.count)))
            }
            for lambda in lambdas(for: model) {
                let lk = k + "-lambda\(lambda)"
                guard let s = sums[lk] else { continue }
                vqKeys.insert(lk)
                measured.append(RDCurve(name: "vqz \(model.name) λ=\(lambda)", key: lk, description: description + ", tokens chosen with λ = \(lambda)",
                                        measured: true, points: s.points(images: images.count)))
            }
        }
        // The Gaussian VAEs' own rate–distortion points: KL rate and the PSNR of posterior samples,
        // one point per model (a β-ladder draws a curve), beside what their quantized files cost.
        let gaussian = models.filter { $0.gaussian != nil }.compactMap { m -> RDPoint? in
            guard let f = sums[key(m)]?.figures, let kl = f["kl_bpp"], let p = f["kl_psnr"] else { return nil }
            let n = Double(images.count)
            return RDPoint(setting: "\(m.name) (β = \(m.config.klWeight))", bpp: kl / n, psnr: p / n)
        }.sorted { $0.bpp < $1.bpp }
        if !gaussian.isEmpty {
            measured.append(RDCurve(name: "Gaussian VAE KL rate (ideal, no file)", key: "vqz-gaussian-kl-rate",
                                    description: "each Gaussian model's KL(q(z|x) ‖ N(0, I)) in bits per pixel against the PSNR of images decoded from posterior samples z ~ q(z|x): the β-VAE's own rate–distortion point, not a coded file",
                                    measured: true, points: gaussian))
        }
        if anchors.contains(.jpeg) {
            let v = Anchor.jpeg.version
            measured.append(RDCurve(name: "JPEG (measured)", key: "jpeg", description: "libjpeg-turbo: \(v); cjpeg -quality Q -sample 2x2 -baseline, djpeg -ppm",
                                    measured: true, points: sums["jpeg"]!.points(images: images.count)))
            measured.append(RDCurve(name: "JPEG -optimize (measured)", key: "jpeg-optimized",
                                    description: "libjpeg-turbo: \(v); cjpeg -quality Q -sample 2x2 -baseline -optimize (Huffman tables fitted to each image), djpeg -ppm",
                                    measured: true, points: sums["jpeg-optimized"]!.points(images: images.count)))
        }
        if anchors.contains(.webp) {
            measured.append(RDCurve(name: "WebP (measured)", key: "webp", description: "libwebp \(Anchor.webp.version) -q Q -m 6, dwebp -ppm",
                                    measured: true, points: sums["webp"]!.points(images: images.count)))
        }
        return RDRunResult(measured: measured, vqKeys: vqKeys, perImage: perImage)
    }

    /// `vqz encode -q level` then `vqz decode` of one image, the decoded image through PNG and back.
    static func vqzRoundTrip(_ image: PixelImage, model: LoadedModel, level: Int, lambda: Float?, refine: Int = ImageCodec.defaultRefine,
                             beam: Int = ImageCodec.defaultBeam, prior: LoadedPrior? = nil) throws
        -> (bytes: [UInt8], decoded: PixelImage, enc: Double, dec: Double, header: BitstreamHeader, content: BitstreamFile) {
        var bytes: [UInt8] = []
        var parsed: (header: BitstreamHeader, content: BitstreamFile)!
        var decoded: PixelImage!
        let enc = try seconds { bytes = try ImageCodec.encode(image, model: model, level: level, lambda: lambda, refine: refine, beam: beam, prior: prior) }
        let dec = try seconds {
            parsed = try BitstreamFile.parse(bytes, prior: prior)
            decoded = try ImageCodec.decode(header: parsed.header, content: parsed.content, model: model)
        }
        let back = try PNGDecoder.decode(try PNGEncoder.encode(decoded)).image
        return (bytes, back, enc, dec, parsed.header, parsed.content)
    }

    /// The decoded RGB of one image at one setting, for side-by-side crops: a vqz model at a level,
    /// or an anchor key (`jpeg`, `webp`) at a quality.
    public static func decodedRGB(_ image: PixelImage, model: LoadedModel, level: Int) throws -> (rgb: [UInt8], bytes: Int) {
        let r = try vqzRoundTrip(image, model: model, level: level, lambda: nil)
        return (r.decoded.rgb, r.bytes.count)
    }

    public static func decodedRGB(_ image: PixelImage, anchorKey: String, quality: Int) throws -> (rgb: [UInt8], bytes: Int) {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("vqz-rd-\(getpid())-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let r = try AnchorFiles(tmp: tmp, original: image.rgb, width: image.width, height: image.height).roundTrip(anchorKey, quality: quality)
        return (r.decoded, r.bytes)
    }

    /// The path of `tool` on the PATH, or nil.
    public static func which(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The trimmed output of `/bin/sh -c command` (BenchSupport's), or "unknown".
    public static func shell(_ command: String, includeStderr: Bool = false) -> String {
        BenchSupport.shell(command, includeStderr: includeStderr)
    }

    /// The CPU model name from /proc/cpuinfo (BenchSupport's).
    public static func cpuModelName() -> String { BenchSupport.cpuModelName() }
}

/// Sums over images, per codec and setting.
struct Sums {
    var settings: [String] = []
    var bpp: [Double] = [], psnr: [Double] = [], msssim: [Double] = [], enc: [Double] = [], dec: [Double] = []
    var extra: [[String: Double]] = []
    var figures: [String: Double] = [:]

    mutating func add(_ i: Int, setting: String, bpp b: Double, psnr p: Double, msssim m: Double, enc e: Double, dec d: Double, extra x: [String: Double] = [:]) {
        while settings.count <= i {
            settings.append(""); bpp.append(0); psnr.append(0); msssim.append(0); enc.append(0); dec.append(0); extra.append([:])
        }
        settings[i] = setting
        bpp[i] += b; psnr[i] += p; msssim[i] += m; enc[i] += e; dec[i] += d
        for (k, v) in x { extra[i][k, default: 0] += v }
    }

    func points(images n: Int) -> [RDPoint] {
        let d = Double(n)
        return settings.indices.map {
            RDPoint(setting: settings[$0], bpp: bpp[$0] / d, psnr: psnr[$0] / d, msssim: msssim[$0] / d,
                    encodeSeconds: enc[$0] / d, decodeSeconds: dec[$0] / d, extra: extra[$0].mapValues { $0 / d })
        }
    }
}

/// One image prepared for the anchors: a PPM for cjpeg, an RGB PNG for cwebp.
struct AnchorFiles {
    let tmp: String
    let ppm, png, out: String

    init(tmp: String, original: [UInt8], width: Int, height: Int) throws {
        self.tmp = tmp
        ppm = "\(tmp)/in.ppm"
        png = "\(tmp)/in.png"
        out = "\(tmp)/out.ppm"
        do {
            try FileIO.writeAtomically(PPM.encode(rgb: original, width: width, height: height), to: ppm, overwrite: true)
            try FileIO.writeAtomically(try PNGEncoder.encode(PixelImage(width: width, height: height, format: .rgb, samples: original)), to: png, overwrite: true)
        } catch { throw RDRunError("cannot write the anchors' input in \(tmp): \(error)") }
    }

    /// Encode and decode at quality `q`: the file's bytes, the decoded RGB, seconds for each.
    func roundTrip(_ key: String, quality q: Int) throws -> (bytes: Int, decoded: [UInt8], enc: Double, dec: Double) {
        let jpg = "\(tmp)/x.jpg", webp = "\(tmp)/x.webp"
        let (file, encode, decode): (String, [String], [String])
        switch key {
        case "jpeg", "jpeg-optimized":
            let flags = key == "jpeg" ? ["-baseline"] : ["-baseline", "-optimize"]
            (file, encode, decode) = (jpg, ["cjpeg", "-quality", "\(q)", "-sample", "2x2"] + flags + ["-outfile", jpg, ppm], ["djpeg", "-ppm", "-outfile", out, jpg])
        case "webp":
            (file, encode, decode) = (webp, ["cwebp", "-quiet", "-q", "\(q)", "-m", "6", png, "-o", webp], ["dwebp", "-quiet", webp, "-ppm", "-o", out])
        default:
            throw RDRunError("no anchor \(key)")
        }
        let enc = try Self.run(encode), dec = try Self.run(decode)
        do {
            let back = try PPM.decode(try FileIO.read(out))
            return (try FileIO.read(file).count, back.rgb, enc, dec)
        } catch { throw RDRunError("\(key) q \(q): \(error)") }
    }

    /// Runs a tool; its wall-clock seconds, or an error naming the tool and its stderr.
    static func run(_ arguments: [String]) throws -> Double {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        let errors = Pipe()
        p.standardError = errors
        p.standardOutput = FileHandle.nullDevice
        let start = DispatchTime.now().uptimeNanoseconds
        do { try p.run() } catch { throw RDRunError("cannot start \(arguments[0]): \(error)") }
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        guard p.terminationStatus == 0 else {
            throw RDRunError("\(arguments.joined(separator: " ")) failed: \(String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return elapsed
    }
}
