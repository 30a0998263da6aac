// RDBench (`make rd`): the rate–distortion benchmark. Every vqz model found in codecs/ at every
// level, and JPEG and WebP at a sweep of qualities, on every image of a folder (Kodak by default),
// in one run; writes Benchmarks/Results/<set>/ (CompressAI-schema JSON per codec, rd.csv,
// per-image.csv, bd-rate.json, rd.svg) and regenerates Benchmarks/README.md.
//
//   RDBench [--images DIR] [--out DIR] [--models a,b] [--reference DIR] [--limit N]
//           [--jpeg-qualities 5,10,…] [--webp-qualities 0,10,…] [--readme PATH|none]
//           [--lambdas 0,0.05,…]  (extra curves per VQ model, every level encoded with that λ)

import ArgumentParser
import BenchSupport
import Codec
import COpenBLAS
import Container
import Foundation
import Imaging
import Metrics
import RDKit
import TensorCore

/// RDBench's options (ArgumentParser: an unknown option is an error, not silently ignored).
struct RDBenchOptions: ParsableArguments {
    @Option(help: "Folder of PNG images.") var images = "../shared/data/kodak"
    @Option(help: "Output folder (default Benchmarks/Results/<set>).") var out: String?
    @Option(help: "Folder of reference results (default ../shared/reference/<set>).") var reference: String?
    @Option(help: "Benchmarks/README.md to regenerate, or none.") var readme = "Benchmarks/README.md"
    @Option(help: "Only the first N images (0 = all).") var limit = 0
    @Option(help: "Comma-separated model names from codecs/ (default: all).") var models: String?
    @Option(help: "JPEG qualities, comma-separated.") var jpegQualities = "5,8,12,18,27,40,60,80"
    @Option(help: "WebP qualities, comma-separated.") var webpQualities = "0,5,12,22,35,50,68,85"
    @Option(help: "Extra token-choice λ curves per VQ model, comma-separated.") var lambdas = ""

    func validate() throws {
        guard limit >= 0 else { throw ValidationError("--limit must not be negative.") }
        for (name, list) in [("--jpeg-qualities", jpegQualities), ("--webp-qualities", webpQualities)]
        where !list.split(separator: ",").allSatisfy({ Int($0) != nil }) {
            throw ValidationError("\(name) must be integers separated by commas.")
        }
        guard lambdas.split(separator: ",").allSatisfy({ Float($0).map { $0 >= 0 } ?? false }) else {
            throw ValidationError("--lambdas must be non-negative numbers separated by commas.")
        }
    }
}
let options = RDBenchOptions.parseOrExit()

let imagesDir = options.images
let setName = URL(fileURLWithPath: imagesDir).standardizedFileURL.lastPathComponent
let outDir = options.out ?? "Benchmarks/Results/\(setName)"
let referenceDir = options.reference ?? "../shared/reference/\(setName)"
let readmePath = options.readme
let limit = options.limit
// JPEG, baseline, down to ~0.15 bpp on Kodak, twice: with cjpeg's default (standard) Huffman tables,
// as CompressAI's Pillow anchor and most encoders write it, and with -optimize (Huffman tables fitted
// to the image: 10–35 % smaller files at low rates, a stronger anchor). WebP from its lowest quality.
let jpegQualities = options.jpegQualities.split(separator: ",").compactMap { Int($0) }
let webpQualities = options.webpQualities.split(separator: ",").compactMap { Int($0) }
/// Extra token-choice trade-offs measured for every VQ model, each as its own curve (`--lambdas`).
let extraLambdas: [Float] = options.lambdas.split(separator: ",").compactMap { Float($0) }
/// The extra λ curves of a model: VQ only, and not λ = 0 for a model whose own setting is already 0.
func extraLambdas(for model: LoadedModel) -> [Float] {
    guard model.vq != nil else { return [] }
    return extraLambdas.filter { $0 != 0 || !model.config.lambdas.isEmpty }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("RDBench: \(message)\n".utf8))
    exit(1)
}

/// Runs a tool; its wall-clock seconds, or a failure naming the tool and its stderr.
func run(_ tool: String, _ arguments: [String]) -> Double {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [tool] + arguments
    let errors = Pipe()
    p.standardError = errors
    p.standardOutput = FileHandle.nullDevice
    let start = DispatchTime.now().uptimeNanoseconds
    do { try p.run() } catch { fail("cannot start \(tool): \(error)") }
    let stderr = errors.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    guard p.terminationStatus == 0 else {
        fail("\(tool) \(arguments.joined(separator: " ")) failed: \(String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
    }
    return elapsed
}

for tool in ["cjpeg", "djpeg", "cwebp", "dwebp"] where ["", "unknown"].contains(shell("command -v \(tool)")) {
    fail("\(tool) is not installed: `make deps` installs libjpeg-turbo-progs and webp")
}

// MARK: Inputs

var names = (try? PNGFolder.names(in: imagesDir)) ?? []
if limit > 0 { names = Array(names.prefix(limit)) }
guard !names.isEmpty else { fail("\(imagesDir): no PNG files") }

let registry = ModelRegistry(directories: ["codecs"])
var entries = registry.entries()
if let wanted = options.models {
    entries = wanted.split(separator: ",").map { (try? registry.resolve(String($0))) ?? ModelEntry(path: String($0)) }
}
guard !entries.isEmpty else { fail("no models in codecs/") }
let models: [LoadedModel] = entries.map { e in
    do { return try LoadedModel(path: e.path) } catch { fail("\(e.path): \(error)") }
}

let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("vqz-rd-\(ProcessInfo.processInfo.processIdentifier)").path
try? FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: tmp) }

let coreName = String(cString: openblas_get_corename())
print("RDBench: \(names.count) images of \(imagesDir); \(models.count) models; JPEG q \(jpegQualities); WebP q \(webpQualities)")
print("OpenBLAS core: \(coreName); OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)"); threads: \(ThreadPool.shared.threadCount)")

// MARK: Measuring

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

var sums: [String: Sums] = [:]
var perImage = "image,codec,setting,bytes,bpp,psnr,ms_ssim,encoding_time_s,decoding_time_s\n"

func measure(_ key: String, _ i: Int, setting: String, image name: String, original: [UInt8], decoded: [UInt8],
             width: Int, height: Int, bytes: Int, enc: Double, dec: Double, extra: [String: Double] = [:]) {
    let pixels = Double(width * height)
    let bpp = 8 * Double(bytes) / pixels
    let psnr = Metrics.cappedPSNR(original, decoded)
    let msssim = Metrics.msssim(original, decoded, width: width, height: height).msssim
    sums[key, default: Sums()].add(i, setting: setting, bpp: bpp, psnr: psnr, msssim: msssim, enc: enc, dec: dec, extra: extra)
    perImage += "\(name),\(key),\(setting),\(bytes),\(String(format: "%.6f,%.4f,%.6f,%.4f,%.4f", bpp, psnr, msssim, enc, dec))\n"
}

func modelKey(_ m: LoadedModel) -> String { "vqz-\(m.name)" }

let started = Date()
for (n, name) in names.enumerated() {
    let path = (imagesDir as NSString).appendingPathComponent(name)
    let image: PixelImage
    do { image = try PNGDecoder.decode(try FileIO.read(path)).image } catch { fail("\(path): \(error)") }
    let original = image.rgb, w = image.width, h = image.height
    let pixels = Double(w * h)

    // vqz: each level encoded on its own, as `vqz encode -q L` does.
    for model in models {
      for lambda in [nil] + extraLambdas(for: model).map({ Optional($0) }) {
        let key = lambda.map { modelKey(model) + "-lambda\($0)" } ?? modelKey(model)
        for (i, level) in model.levels.enumerated() {
            var bytes: [UInt8] = []
            var decoded: PixelImage!
            var parsed: (header: BitstreamHeader, content: BitstreamFile)!
            do {
                let enc = try seconds { bytes = try ImageCodec.encode(image, model: model, level: level, lambda: lambda) }
                let dec = try seconds {
                    parsed = try BitstreamFile.parse(bytes)
                    decoded = try ImageCodec.decode(header: parsed.header, content: parsed.content, model: model)
                }
                let back = try PNGDecoder.decode(try PNGEncoder.encode(decoded)).image
                let (header, content) = parsed!
                let rates = ImageCodec.tokenRates(header: header, content: content)
                measure(key, i, setting: "level \(level)", image: name, original: original, decoded: back.rgb,
                        width: w, height: h, bytes: bytes.count, enc: enc, dec: dec,
                        extra: ["bpp_fixed": rates.fixedBits / pixels, "bpp_entropy": rates.entropyBits / pixels])
            } catch { fail("\(model.name) level \(level) on \(name): \(error)") }
        }
      }
        if let stats = GaussianStatistics.measure(model, image: image, samples: 1) {
            sums[modelKey(model), default: Sums()].figures["kl_bpp", default: 0] += stats.klBitsPerPixel
            sums[modelKey(model), default: Sums()].figures["neg_elbo_bits_per_dim", default: 0] += stats.negativeELBOBitsPerDim
        }
    }

    // JPEG and WebP through their command-line tools.
    let ppm = "\(tmp)/in.ppm", out = "\(tmp)/out.ppm"
    do { try FileIO.writeAtomically(PPM.encode(rgb: original, width: w, height: h), to: ppm, overwrite: true) } catch { fail("\(ppm): \(error)") }
    let rgbPNG = "\(tmp)/in.png"
    do { try FileIO.writeAtomically(try PNGEncoder.encode(PixelImage(width: w, height: h, format: .rgb, samples: original)), to: rgbPNG, overwrite: true) } catch { fail("\(rgbPNG): \(error)") }
    /// One setting of a command-line codec: encode, decode to PPM, measure.
    func anchor(_ key: String, _ i: Int, quality q: Int, file: String, encode: [String], decode: [String]) {
        let enc = run(encode[0], Array(encode.dropFirst()))
        let dec = run(decode[0], Array(decode.dropFirst()))
        do {
            let back = try PPM.decode(try FileIO.read(out))
            measure(key, i, setting: "q=\(q)", image: name, original: original, decoded: back.rgb, width: w, height: h,
                    bytes: try FileIO.read(file).count, enc: enc, dec: dec)
        } catch { fail("\(key) q \(q) on \(name): \(error)") }
    }
    let jpg = "\(tmp)/x.jpg", webp = "\(tmp)/x.webp"
    for (key, flags) in [("jpeg", ["-baseline"]), ("jpeg-optimized", ["-baseline", "-optimize"])] {
        for (i, q) in jpegQualities.enumerated() {
            anchor(key, i, quality: q, file: jpg, encode: ["cjpeg", "-quality", "\(q)", "-sample", "2x2"] + flags + ["-outfile", jpg, ppm],
                   decode: ["djpeg", "-ppm", "-outfile", out, jpg])
        }
    }
    for (i, q) in webpQualities.enumerated() {
        anchor("webp", i, quality: q, file: webp, encode: ["cwebp", "-quiet", "-q", "\(q)", "-m", "6", rgbPNG, "-o", webp],
               decode: ["dwebp", "-quiet", webp, "-ppm", "-o", out])
    }
    print("[\(n + 1)/\(names.count)] \(name)  (\(Int(Date().timeIntervalSince(started))) s)")
}

// MARK: Results

let jpegVersion = shell("cjpeg -version", includeStderr: true).split(separator: "\n").first.map(String.init) ?? "unknown"
let webpVersion = shell("cwebp -version")
var measured: [RDCurve] = []
var vqKeys: Set<String> = []
for model in models {
    let key = modelKey(model)
    guard let s = sums[key] else { continue }
    if model.vq != nil { vqKeys.insert(key) }
    let description = "vqz \(model.config.family.rawValue) model \(model.name) (id \(model.id.hex)), \(model.metadata["arch.name"] ?? "")"
    measured.append(RDCurve(name: "vqz \(model.name)", key: key, description: description, measured: true,
                            points: s.points(images: names.count), figures: s.figures.mapValues { $0 / Double(names.count) }))
    for lambda in extraLambdas(for: model) {
        let k = key + "-lambda\(lambda)"
        guard let s = sums[k] else { continue }
        vqKeys.insert(k)
        measured.append(RDCurve(name: "vqz \(model.name) λ=\(lambda)", key: k, description: description + ", tokens chosen with λ = \(lambda)", measured: true,
                                points: s.points(images: names.count)))
    }
}
measured.append(RDCurve(name: "JPEG (measured)", key: "jpeg", description: "libjpeg-turbo: \(jpegVersion); cjpeg -quality Q -sample 2x2 -baseline, djpeg -ppm", measured: true, points: sums["jpeg"]!.points(images: names.count)))
measured.append(RDCurve(name: "JPEG -optimize (measured)", key: "jpeg-optimized", description: "libjpeg-turbo: \(jpegVersion); cjpeg -quality Q -sample 2x2 -baseline -optimize (Huffman tables fitted to each image), djpeg -ppm", measured: true, points: sums["jpeg-optimized"]!.points(images: names.count)))
measured.append(RDCurve(name: "WebP (measured)", key: "webp", description: "libwebp cwebp \(webpVersion) -q Q -m 6, dwebp -ppm", measured: true, points: sums["webp"]!.points(images: names.count)))

var published: [RDCurve] = []
for file in ((try? FileManager.default.contentsOfDirectory(atPath: referenceDir)) ?? []).filter({ $0.hasSuffix(".csv") }).sorted() {
    let path = (referenceDir as NSString).appendingPathComponent(file)
    do {
        published.append(try RDCurve.readReferenceCSV(String(decoding: try FileIO.read(path), as: UTF8.self), key: String(file.dropLast(4))))
    } catch { fail("\(path): \(error)") }
}
if published.isEmpty { print("no published curves in \(referenceDir): the plot shows this run only") }

let commit = SourceRevision.commit()
let dirty = shell("git status --porcelain --untracked-files=no").isEmpty ? "" : " (with uncommitted changes)"
let formatter = ISO8601DateFormatter()
let info = RunInfo(
    commit: commit + dirty, date: formatter.string(from: started), cpu: cpuModelName(), threads: ThreadPool.shared.threadCount,
    openBLASCore: coreName, images: setName, imageCount: names.count,
    tools: [jpegVersion, "cwebp \(webpVersion)"],
    command: "make rd  # RDBench --images \(imagesDir)\(limit > 0 ? " --limit \(limit)" : "")")

do {
    try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
    for c in measured { try FileIO.writeAtomically(try c.compressAIJSON(), to: "\(outDir)/\(c.key).json", overwrite: true) }
    try FileIO.writeAtomically(Array(Report.csv(measured).utf8), to: "\(outDir)/rd.csv", overwrite: true)
    try FileIO.writeAtomically(Array(perImage.utf8), to: "\(outDir)/per-image.csv", overwrite: true)
    let anchors = measured.filter { $0.key == "jpeg" || $0.key == "jpeg-optimized" || $0.key == "webp" }
    try FileIO.writeAtomically(try Report.bdJSON(tests: measured + published, anchors: anchors), to: "\(outDir)/bd-rate.json", overwrite: true)
    let plot = RDPlot(curves: measured + published, title: "Kodak (\(names.count) images): vqz, JPEG and WebP measured in one run; published curves dashed")
    try FileIO.writeAtomically(Array(plot.svg().utf8), to: "\(outDir)/rd.svg", overwrite: true)
    if readmePath != "none" {
        let base = URL(fileURLWithPath: readmePath).deletingLastPathComponent().standardizedFileURL.path
        let relative = URL(fileURLWithPath: outDir).standardizedFileURL.path.replacingOccurrences(of: base + "/", with: "")
        let markdown = Report.markdown(info: info, measured: measured, published: published, vqKeys: vqKeys,
                                       resultsPath: relative, plotPath: "\(relative)/rd.svg")
        try FileIO.writeAtomically(Array(markdown.utf8), to: readmePath, overwrite: true)
    }
} catch { fail("writing the results: \(error)") }

for c in measured {
    print("\n\(c.name)")
    for p in c.points { print("  " + p.setting.padding(toLength: 10, withPad: " ", startingAt: 0) + String(format: "%7.4f bpp  %6.2f dB  MS-SSIM %.4f (%5.2f dB)  enc %.3f s  dec %.3f s", p.bpp, p.psnr, p.msssim, p.msssimDB, p.encodeSeconds, p.decodeSeconds)) }
}
if let jpeg = measured.first(where: { $0.key == "jpeg" }), let webp = measured.first(where: { $0.key == "webp" }) {
    for c in measured where vqKeys.contains(c.key) {
        let bar = QualityBar(curve: c, jpeg: jpeg, webp: webp)
        print("\n\(c.name): " + String(format: "BD-rate %+.1f %% vs JPEG, %+.1f %% vs WebP (PSNR, cubic); smallest lead over JPEG in 0.1–1 bpp %+.2f dB",
                     bar.bdJPEG ?? .nan, bar.bdWebP ?? .nan, bar.margin?.margin ?? .nan) + " — bar \(bar.holds ? "holds" : "not met")")
    }
}
print("\nwrote \(outDir)/ and \(readmePath)")
