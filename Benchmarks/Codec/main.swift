// CodecBench: how long `vqz encode` and `vqz decode` take on one 768×512 Kodak image with the default
// model, split into model loading, PNG reading, the codec (network + quantizer + container) and PNG
// writing; the process's peak RSS; and, with --large, the peak RSS of the real `vqz` binary encoding
// and decoding a large photo (tiled). Writes Benchmarks/Results/codec-speed.json.
// Run through `make bench-codec` (release build, OPENBLAS_CORETYPE unset).
//
//   CodecBench [--image PNG] [--model VQZM] [--level L] [--repeats N] [--large PNG --vqz BINARY] [--out JSON]

import ArgumentParser
import BenchSupport
import Codec
import COpenBLAS
import Container
import Foundation
import Imaging
import Metrics
import TensorCore

func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// CodecBench's options (ArgumentParser: an unknown option is an error, not silently ignored).
struct CodecBenchOptions: ParsableArguments {
    @Option(help: "The image to time.") var image = "../shared/data/kodak/kodim01.png"
    @Option(help: "The model (.vqzm); default: the default model in codecs/.") var model: String?
    @Option(help: "The rate level (default: the model's middle level).") var level: Int?
    @Option(help: "Timed repeats (after one warm-up).") var repeats = 10
    @Option(help: "A large PNG whose encode and decode peak RSS is measured with the vqz binary (--vqz).") var large: String?
    @Option(help: "The vqz binary for --large.") var vqz: String?
    @Option(help: "The JSON file to write.") var out = "Benchmarks/Results/codec-speed.json"

    func validate() throws {
        guard repeats > 0 else { throw ValidationError("--repeats must be positive.") }
        guard (large == nil) == (vqz == nil) else { throw ValidationError("--large and --vqz go together.") }
    }
}
let options = CodecBenchOptions.parseOrExit()

let registry = ModelRegistry(directories: ["codecs"])
let modelPath = options.model ?? registry.defaultEntry()?.path ?? "codecs/rvqvae-k256-d32-f8-v2.vqzm"
let imagePath = options.image
let repeats = options.repeats

let environment = ProcessInfo.processInfo.environment
let coreName = String(cString: openblas_get_corename())
print("OpenBLAS core: \(coreName); OPENBLAS_CORETYPE=\(environment["OPENBLAS_CORETYPE"] ?? "(unset)"); threads: \(ThreadPool.shared.threadCount)")

do {
    var model: LoadedModel!
    let modelBytes = try FileIO.read(modelPath)
    let load = try (0..<5).map { _ in try seconds { model = try LoadedModel(bytes: modelBytes, name: "m") } }.min()!
    let level = options.level ?? model.levels[(model.levels.count - 1) / 2]
    let pngBytes = try FileIO.read(imagePath)
    var image: PixelImage!
    var file: [UInt8] = []
    var decoded: PixelImage!
    var times: [String: [Double]] = [:]
    for _ in 0..<(repeats + 1) {  // the first round warms up and is dropped
        times["png_read", default: []].append(try seconds { image = try PNGDecoder.decode(pngBytes).image })
        times["encode", default: []].append(try seconds { file = try ImageCodec.encode(image, model: model, level: level) })
        times["decode", default: []].append(try seconds { decoded = try ImageCodec.decode(file, model: model) })
        times["png_write", default: []].append(try seconds { _ = try PNGEncoder.encode(decoded, threads: ThreadPool.shared.threadCount) })
    }
    func stats(_ key: String) -> (best: Double, median: Double) {
        let t = times[key]!.dropFirst().sorted()
        return (t.first!, t[t.count / 2])
    }
    let psnr = Metrics.cappedPSNR(decoded.rgb, image.rgb)
    let bpp = 8 * Double(file.count) / Double(image.width * image.height)
    var lines: [String] = []
    print(String(format: "%@ %d×%d, model %@ level %d: %d bytes, %.4f bpp, %.2f dB", imagePath, image.width, image.height,
                 (modelPath as NSString).lastPathComponent, level, file.count, bpp, psnr))
    print(String(format: "model load %.4f s", load))
    for key in ["png_read", "encode", "decode", "png_write"] {
        let s = stats(key)
        print(String(format: "%-10@ best %.4f s  median %.4f s", key, s.best, s.median))
        lines.append(String(format: "\"%@\": {\"best\": %.4f, \"median\": %.4f}", key, s.best, s.median))
    }
    let rss = peakRSSMiB()
    print(String(format: "peak RSS of this process: %.1f MiB", rss))

    var large = ""
    if let largePath = options.large, let vqz = options.vqz {
        let out = NSTemporaryDirectory() + "codecbench-\(getpid())"
        let enc = shell("env -u OPENBLAS_CORETYPE /usr/bin/time -f 'rss_kib %M wall %e' \(vqz) encode \(largePath) -o \(out).vqz -f --quiet", includeStderr: true)
        let dec = shell("env -u OPENBLAS_CORETYPE /usr/bin/time -f 'rss_kib %M wall %e' \(vqz) decode \(out).vqz -o \(out).png -f --quiet", includeStderr: true)
        func parse(_ s: String) -> (Double, Double) {
            let f = s.split(separator: "\n").last?.split(separator: " ") ?? []
            return (f.count == 4 ? (Double(f[1]) ?? -1) / 1024 : -1, f.count == 4 ? Double(f[3]) ?? -1 : -1)
        }
        let (er, ew) = parse(enc), (dr, dw) = parse(dec)
        let header = try BitstreamHeader.parse(FileIO.read(out + ".vqz"))
        try? FileManager.default.removeItem(atPath: out + ".vqz")
        try? FileManager.default.removeItem(atPath: out + ".png")
        print(String(format: "large %d×%d: encode peak RSS %.0f MiB (%.1f s), decode peak RSS %.0f MiB (%.1f s)",
                     header.imageWidth, header.imageHeight, er, ew, dr, dw))
        large = String(format: ", \"large\": {\"image\": \"%@\", \"width\": %d, \"height\": %d, \"encode_peak_rss_mib\": %.0f, \"encode_wall_s\": %.2f, \"decode_peak_rss_mib\": %.0f, \"decode_wall_s\": %.2f}",
                       largePath, header.imageWidth, header.imageHeight, er, ew, dr, dw)
    }
    let commit = SourceRevision.commit()
    let cpu = cpuModelName()
    let json = """
        {"commit": "\(commit)", "cpu": "\(cpu)", "openblas_core": "\(coreName)", "threads": \(ThreadPool.shared.threadCount), \
        "image": "\(imagePath)", "width": \(image.width), "height": \(image.height), "model": "\((modelPath as NSString).lastPathComponent)", \
        "level": \(level), "bytes": \(file.count), "bpp": \(String(format: "%.4f", bpp)), "psnr": \(String(format: "%.3f", psnr)), \
        "repeats": \(repeats), "model_load_s": \(String(format: "%.4f", load)), \(lines.joined(separator: ", ")), \
        "peak_rss_mib": \(String(format: "%.1f", rss))\(large)}

        """
    try FileIO.writeAtomically(Array(json.utf8), to: options.out, overwrite: true)
} catch {
    FileHandle.standardError.write(Data("CodecBench: \(error)\n".utf8))
    exit(1)
}
