// `vqz bench [--images DIR] [--models a,b|all] [--against jpeg,webp] [-o DIR]`: rate and distortion
// on your own images — every model and level, JPEG and WebP measured in the same run — written as
// CSV, CompressAI-schema JSON, an SVG plot and an HTML report with crops at equal bpp.
// `make rd` is this command on Kodak (plus --markdown for Benchmarks/README.md).

import ArgumentParser
import Codec
import COpenBLAS
import Container
import Foundation
import Imaging
import RDKit
import TensorCore

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure rate and distortion of vqz models, JPEG and WebP on a folder of PNGs.",
        discussion: """
            Every image is encoded by every model at every level (the real file size, decoded and \
            compared on 8-bit RGB: PSNR and MS-SSIM), and by JPEG (cjpeg/djpeg) and WebP \
            (cwebp/dwebp) at a sweep of qualities when those tools are installed. Writes into -o DIR: \
            report.html (the plots, the BD-rate table, crops at equal bpp), rd.svg, rd.csv, \
            per-image.csv, bd-rate.json and one CompressAI-schema JSON per codec.

            Examples:
              vqz bench --images photos/ -o bench/            (the default model against JPEG and WebP)
              vqz bench --images photos/ --models all --limit 5
              vqz bench --images kodak/ --against webp --crops 0
            """)

    @Option(help: "Folder of PNG images (default: $VQZ_BENCH_IMAGES, else ../shared/data/kodak).") var images: String?
    @Option(help: "Comma-separated model names or .vqzm paths, or all (default: the default model).") var models: String?
    @Option(help: "Anchors to measure: jpeg, webp, both comma-separated, or none.") var against = "jpeg,webp"
    @Option(name: .shortAndLong, help: "The folder to write the results into (created).") var output = "vqz-bench"
    @Option(help: "Only the first N images (0 = all).") var limit = 0
    @Option(help: "Images shown as crops at equal bpp in the report.") var crops = 3
    @Option(help: "Side of the crops in pixels.") var cropSize = 192
    @Option(help: "The bpp the crops compare at (default: the default level of the default model, or of the first model when the default is not measured).") var cropBpp: Double?
    @Option(help: "JPEG qualities, comma-separated.") var jpegQualities = Anchor.defaultJPEGQualities.map(String.init).joined(separator: ",")
    @Option(help: "WebP qualities, comma-separated.") var webpQualities = Anchor.defaultWebPQualities.map(String.init).joined(separator: ",")
    @Option(help: "Extra token-choice λ curves per VQ model, comma-separated.") var lambdas = ""
    @Option(help: "VQ models: the encoder's token refinement sweeps (vqz encode --refine).")
    var refine: Int = ImageCodec.defaultRefine
    @Option(help: "VQ models: the token search's beam width (vqz encode --beam).")
    var beam: Int = ImageCodec.defaultBeam
    @Option(help: "A folder of published curves (CSV: bpp,psnr[,ms_ssim]) drawn dashed beside the measured ones.") var reference: String?
    @Option(help: "Also write the results as a Markdown page here (make rd: Benchmarks/README.md).") var markdown: String?
    @Option(help: "Token priors: auto (a curve for each VQ model with a NAME.vqzp beside it, --entropy prior) or none.") var priors = "auto"
    @Flag(name: [.customShort("s"), .long], help: "Print nothing but errors.") var quiet = false

    func integers(_ list: String, _ name: String) throws -> [Int] {
        let values = list.split(separator: ",").map { Int($0) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil && (0...100).contains($0!) }) else {
            throw ValidationError("\(name) must be qualities 0…100 separated by commas.")
        }
        return values.map { $0! }
    }

    var anchorList: [Anchor] {
        against == "none" ? [] : against.split(separator: ",").compactMap { Anchor(rawValue: String($0)) }
    }

    func validate() throws {
        if limit < 0 { throw ValidationError("--limit must not be negative.") }
        if crops < 0 { throw ValidationError("--crops must not be negative.") }
        if cropSize < 16 { throw ValidationError("--crop-size must be at least 16.") }
        if against != "none", !against.split(separator: ",").allSatisfy({ Anchor(rawValue: String($0)) != nil }) {
            throw ValidationError("--against takes jpeg, webp (comma-separated) or none.")
        }
        _ = try integers(jpegQualities, "--jpeg-qualities")
        _ = try integers(webpQualities, "--webp-qualities")
        guard lambdas.split(separator: ",").allSatisfy({ Float($0).map { $0 >= 0 && $0.isFinite } ?? false }) else {
            throw ValidationError("--lambdas must be non-negative numbers separated by commas.")
        }
        if !(0...8).contains(refine) { throw ValidationError("--refine must be between 0 and 8.") }
        if !(1...64).contains(beam) { throw ValidationError("--beam must be between 1 and 64.") }
        if let cropBpp, !(cropBpp > 0 && cropBpp.isFinite) { throw ValidationError("--crop-bpp must be a positive number.") }
        guard ["auto", "none"].contains(priors) else { throw ValidationError("--priors takes auto or none, not \(priors).") }
    }

    func run() throws {
        try reportingErrors {
            let folder = images ?? ProcessInfo.processInfo.environment["VQZ_BENCH_IMAGES"] ?? "../shared/data/kodak"
            var names = try PNGFolder.names(in: folder)
            if limit > 0 { names = Array(names.prefix(limit)) }
            guard !names.isEmpty else { throw RuntimeFailure("\(folder): no PNG images") }
            let paths = names.map { (folder as NSString).appendingPathComponent($0) }

            let registry = ModelRegistry.standard()
            let entries: [ModelEntry]
            switch models {
            case nil: entries = [try registry.resolveOrDefault(nil)]
            case "all": entries = registry.entries()
            case let list?: entries = try list.split(separator: ",").map { try registry.resolve(String($0)) }
            }
            guard !entries.isEmpty else { throw RuntimeFailure("no models in \(registry.searchDescription)") }
            let loaded = try entries.map { try LoadedModel(path: $0.path) }
            var priorFiles: [ModelID: LoadedPrior] = [:]
            if priors == "auto" {
                for (entry, model) in zip(entries, loaded) where model.vq != nil {
                    let path = LoadedPrior.path(forModel: entry.path)
                    guard FileManager.default.fileExists(atPath: path) else { continue }
                    priorFiles[model.id] = try LoadedPrior(path: path, model: model)
                }
            }

            var anchors: [Anchor] = []
            for anchor in anchorList {
                if anchor.isInstalled { anchors.append(anchor) } else if !quiet {
                    printError("vqz: note: \(anchor.tools.joined(separator: "/")) not installed (apt install \(anchor.package)): \(anchor == .jpeg ? "JPEG" : "WebP") is left out")
                }
            }
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let setName = URL(fileURLWithPath: folder).standardizedFileURL.lastPathComponent
            let threads = ThreadPool.shared.threadCount
            if !quiet {
                printError("vqz bench: \(paths.count) images of \(folder); models \(loaded.map(\.name).joined(separator: ", ")); anchors \(anchors.isEmpty ? "none" : anchors.map(\.rawValue).joined(separator: ", ")); \(threads) threads, OpenBLAS \(String(cString: openblas_get_corename()))")
            }
            let start = DispatchTime.now()
            let showProgress = !quiet && isatty(STDERR_FILENO) != 0
            let result = try RDRun.run(
                images: paths, models: loaded, anchors: anchors, jpegQualities: try integers(jpegQualities, ""),
                webpQualities: try integers(webpQualities, ""), extraLambdas: lambdas.split(separator: ",").compactMap { Float($0) },
                priors: priorFiles, refine: refine, beam: beam
            ) { done, total, name in
                guard !quiet else { return }
                let elapsed = seconds(since: start)
                let eta = elapsed / Double(done) * Double(total - done)
                let line = String(format: "  %d/%d images (%@) · %.1f s/image · ETA %@", done, total, name, elapsed / Double(done), BatchDriver.duration(eta))
                if showProgress { printErrorInline(line) } else { printError(line) }
            }
            if showProgress { printErrorInline("") }

            var published: [RDCurve] = []
            if let reference {
                for file in ((try? FileManager.default.contentsOfDirectory(atPath: reference)) ?? []).filter({ $0.hasSuffix(".csv") }).sorted() {
                    let path = (reference as NSString).appendingPathComponent(file)
                    do {
                        published.append(try RDCurve.readReferenceCSV(String(decoding: try FileIO.read(path), as: UTF8.self), key: String(file.dropLast(4))))
                    } catch { throw RuntimeFailure("\(path): \(error)") }
                }
            }
            var cropSets: [CropSet] = []
            // The crops show the default model when it was measured, else the first one.
            let defaultPath = registry.defaultEntry()?.path
            if let shown = zip(entries, loaded).first(where: { $0.0.path == defaultPath })?.1 ?? loaded.first {
                for path in paths.prefix(crops) {
                    cropSets.append(try Crops.make(imagePath: path, result: result, model: shown, anchors: anchors, targetBPP: cropBpp,
                                                   size: cropSize, directory: output))
                }
            }
            let info = RunInfo(
                commit: SourceRevision.commit(), date: ISO8601DateFormatter().string(from: Date()), cpu: RDRun.cpuModelName(), threads: threads,
                openBLASCore: String(cString: openblas_get_corename()), images: setName, imageCount: paths.count,
                tools: anchors.map(\.version), command: "vqz " + CommandLine.arguments.dropFirst().joined(separator: " "))
            let measured = result.measured
            func write(_ bytes: [UInt8], _ name: String) throws {
                try FileIO.writeAtomically(bytes, to: (output as NSString).appendingPathComponent(name), overwrite: true)
            }
            for c in measured { try write(try c.compressAIJSON(), "\(c.key).json") }
            try write(Array(Report.csv(measured).utf8), "rd.csv")
            try write(Array(result.perImageCSV.utf8), "per-image.csv")
            let anchorCurves = measured.filter { ["jpeg", "jpeg-optimized", "webp"].contains($0.key) }
            try write(try Report.bdJSON(tests: measured + published, anchors: anchorCurves), "bd-rate.json")
            let plot = RDPlot(curves: measured + published, title: "\(setName) (\(paths.count) images): measured in one run\(published.isEmpty ? "" : "; published curves dashed")").svg()
            try write(Array(plot.utf8), "rd.svg")
            try write(Array(HTMLReport.page(info: info, measured: measured, published: published, plotSVG: plot, crops: cropSets).utf8), "report.html")
            if let markdown {
                let base = URL(fileURLWithPath: markdown).deletingLastPathComponent().standardizedFileURL.path
                let relative = URL(fileURLWithPath: output).standardizedFileURL.path.replacingOccurrences(of: base + "/", with: "")
                let page = Report.markdown(info: info, measured: measured, published: published, vqKeys: result.vqKeys,
                                           resultsPath: relative, plotPath: "\(relative)/rd.svg")
                try FileIO.writeAtomically(Array(page.utf8), to: markdown, overwrite: true)
            }
            guard !quiet else { return }
            for c in measured {
                try Streams.print("\n\(c.name)")
                for p in c.points {
                    try Streams.print("  " + p.setting.padding(toLength: 10, withPad: " ", startingAt: 0)
                        + String(format: "%7.4f bpp  %6.2f dB  MS-SSIM %.4f (%5.2f dB)  enc %.3f s  dec %.3f s", p.bpp, p.psnr, p.msssim, p.msssimDB, p.encodeSeconds, p.decodeSeconds))
                }
            }
            for c in measured where result.vqKeys.contains(c.key) || c.key.hasPrefix("vqz-") {
                let rows = anchorCurves.filter { $0.key != "jpeg-optimized" }.map { a in
                    let r = BDRow(test: c, anchor: a)
                    func pct(_ v: Double?) -> String { v.flatMap { $0.isFinite ? String(format: "%+.1f %%", $0) : nil } ?? "– (too few points)" }
                    return "\(pct(r.value(.psnr, .cubic))) vs \(a.key == "jpeg" ? "JPEG" : "WebP") (PSNR), \(pct(r.value(.msssimDB, .cubic))) (MS-SSIM)"
                }
                if !rows.isEmpty { try Streams.print("\n\(c.name): BD-rate " + rows.joined(separator: "; ")) }
            }
            try Streams.print("\nwrote \(output)/report.html, rd.svg, rd.csv, per-image.csv, bd-rate.json\(markdown.map { " and \($0)" } ?? "")")
        }
    }
}
