// `vqz bench`'s HTML report: one self-contained page (the plot inline, crops as PNG files beside
// it) that shows a run instead of describing it — the RD plots, the BD-rate table, and for a few
// images the same detailed region at equal bpp from the original, vqz, JPEG and WebP.

import Codec
import Container
import Foundation
import Imaging
import Metrics

/// One image's side-by-side crops.
public struct CropSet: Sendable {
    public struct Tile: Sendable {
        public var label: String
        /// The PNG file, relative to the report.
        public var file: String
        /// Whole-image figures of this codec at this setting (nil for the original).
        public var bpp: Double?
        public var psnr: Double?
    }
    public var image: String
    public var x, y, size: Int
    public var tiles: [Tile]
}

public enum Crops {
    /// The top-left corner of the `size`×`size` window with the most detail (sum of absolute
    /// horizontal and vertical differences of the green channel, on a grid of 16-pixel steps).
    public static func window(rgb: [UInt8], width: Int, height: Int, size: Int) -> (x: Int, y: Int) {
        guard width > size, height > size else { return (0, 0) }
        var best = (x: 0, y: 0, energy: -1)
        for y in stride(from: 0, through: height - size, by: 16) {
            for x in stride(from: 0, through: width - size, by: 16) {
                var e = 0
                for r in stride(from: y, to: y + size - 1, by: 2) {
                    for c in stride(from: x, to: x + size - 1, by: 2) {
                        let g = Int(rgb[(r * width + c) * 3 + 1])
                        e += abs(g - Int(rgb[(r * width + c + 1) * 3 + 1])) + abs(g - Int(rgb[((r + 1) * width + c) * 3 + 1]))
                    }
                }
                if e > best.energy { best = (x, y, e) }
            }
        }
        return (best.x, best.y)
    }

    /// The window of an RGB image as its own RGB image.
    public static func cut(_ rgb: [UInt8], width: Int, x: Int, y: Int, size: Int, height: Int) -> PixelImage {
        let w = min(size, width - x), h = min(size, height - y)
        var out = [UInt8]()
        out.reserveCapacity(w * h * 3)
        for r in y..<y + h { out += rgb[((r * width + x) * 3)..<((r * width + x + w) * 3)] }
        return PixelImage(width: w, height: h, format: .rgb, samples: out)
    }

    /// Crops of one image at equal bpp: `model` at the level whose bpp on this image is closest to
    /// `targetBPP` (default: its default level, `ModelConfig.encodeLevel`), each anchor at the quality whose bpp on this image
    /// is closest to that; the PNGs are written to `directory/crops/`.
    public static func make(imagePath: String, result: RDRunResult, model: LoadedModel, anchors: [Anchor], targetBPP: Double?,
                            size: Int, directory: String) throws -> CropSet {
        let name = (imagePath as NSString).lastPathComponent
        let image = try PNGDecoder.decode(try FileIO.read(imagePath)).image
        let rgb = image.rgb
        let points = result.perImage.filter { $0.image == name }
        let ours = points.filter { $0.key == RDRun.key(model) }
        guard !ours.isEmpty else { throw RDRunError("\(name): no measurement of \(model.name) to pick a level from") }
        let chosen = targetBPP.map { t in ours.min { abs($0.bpp - t) < abs($1.bpp - t) }! } ?? ours.first { $0.setting == RDRun.setting(level: model.config.encodeLevel) } ?? ours[(ours.count - 1) / 2]
        let level = Int(chosen.setting.split(separator: " ").last!)!
        let (x, y) = window(rgb: rgb, width: image.width, height: image.height, size: size)
        let stem = (name as NSString).deletingPathExtension
        try FileManager.default.createDirectory(atPath: (directory as NSString).appendingPathComponent("crops"), withIntermediateDirectories: true)
        func write(_ pixels: [UInt8], _ tag: String) throws -> String {
            let file = "crops/\(stem)-\(tag).png"
            try FileIO.writeAtomically(try PNGEncoder.encode(cut(pixels, width: image.width, x: x, y: y, size: size, height: image.height)),
                                       to: (directory as NSString).appendingPathComponent(file), overwrite: true)
            return file
        }
        var tiles = [CropSet.Tile(label: "original", file: try write(rgb, "original"), bpp: nil, psnr: nil)]
        let decoded = try RDRun.decodedRGB(image, model: model, level: level)
        tiles.append(.init(label: "vqz \(model.name), level \(level)", file: try write(decoded.rgb, "vqz"), bpp: chosen.bpp, psnr: chosen.psnr))
        for anchor in anchors {
            let key = anchor == .jpeg ? "jpeg" : "webp"
            guard let match = points.filter({ $0.key == key }).min(by: { abs($0.bpp - chosen.bpp) < abs($1.bpp - chosen.bpp) }),
                  let q = Int(match.setting.dropFirst(2)) else { continue }
            let d = try RDRun.decodedRGB(image, anchorKey: key, quality: q)
            tiles.append(.init(label: "\(anchor == .jpeg ? "JPEG" : "WebP") q=\(q)", file: try write(d.rgb, key), bpp: match.bpp, psnr: match.psnr))
        }
        return CropSet(image: name, x: x, y: y, size: size, tiles: tiles)
    }
}

public enum HTMLReport {
    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func pct(_ v: Double?) -> String { v.map { String(format: "%+.1f %%", $0) } ?? "–" }

    /// The page. `plotSVG` is embedded as is.
    public static func page(info: RunInfo, measured: [RDCurve], published: [RDCurve], plotSVG: String, crops: [CropSet]) -> String {
        let anchors = measured.filter { ["jpeg", "webp"].contains($0.key) }
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>vqz bench: \(esc(info.images))</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
            table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
            th:first-child, td:first-child { text-align: left; } .crops { display: flex; gap: 12px; flex-wrap: wrap; }
            figure { margin: 0; } figcaption { font-size: 0.85em; } img.crop { image-rendering: pixelated; width: 384px; height: 384px; object-fit: contain; border: 1px solid #999; }
            .plot svg { max-width: 100%; height: auto; }
            </style></head>
            <body>
            <h1>Rate and distortion on \(esc(info.images)) (\(info.imageCount) image\(info.imageCount == 1 ? "" : "s"))</h1>
            <p>Every image coded by each codec at each setting; real file sizes (bpp = 8 · bytes / pixels); PSNR and MS-SSIM
            on 8-bit RGB, averaged over the images. \(esc(info.cpu)), \(info.threads) threads, OpenBLAS \(esc(info.openBLASCore)); commit \(esc(info.commit)); \(esc(info.date)).<br>
            \(info.tools.map(esc).joined(separator: "; "))<br><code>\(esc(info.command))</code></p>
            <h2>Rate–distortion</h2>
            <div class="plot" id="plot">\(plotSVG)</div>

            """
        if !anchors.isEmpty {
            h += "<h2>BD-rate</h2>\n<p>Average rate difference at equal quality (Bjøntegaard, cubic); negative: fewer bytes than the anchor.</p>\n<table id=\"bd\"><tr><th>Codec</th>"
            for a in anchors { h += "<th>vs \(esc(a.name)), PSNR</th><th>vs \(esc(a.name)), MS-SSIM</th>" }
            h += "</tr>\n"
            for c in measured.filter({ !["jpeg", "webp"].contains($0.key) }) + published {
                h += "<tr><td>\(esc(c.name))\(c.measured ? "" : " (published)")</td>"
                for a in anchors {
                    let r = BDRow(test: c, anchor: a)
                    h += "<td>\(pct(r.value(.psnr, .cubic)))</td><td>\(pct(r.value(.msssimDB, .cubic)))</td>"
                }
                h += "</tr>\n"
            }
            h += "</table>\n"
        }
        if !crops.isEmpty {
            h += "<h2>At equal bpp</h2>\n<p>The most detailed \(crops[0].size)×\(crops[0].size) region of each image, shown at 2×; each codec at the setting whose size on this image is closest to vqz's. Figures are the whole image's.</p>\n"
            for set in crops {
                h += "<h3>\(esc(set.image)) <small>(region at \(set.x), \(set.y))</small></h3>\n<div class=\"crops\">\n"
                for t in set.tiles {
                    let figures = t.bpp.map { String(format: "%.3f bpp, %.2f dB", $0, t.psnr ?? .nan) } ?? "reference"
                    h += "<figure><img class=\"crop\" src=\"\(esc(t.file))\" alt=\"\(esc(t.label))\"><figcaption>\(esc(t.label)): \(figures)</figcaption></figure>\n"
                }
                h += "</div>\n"
            }
        }
        h += "<h2>Measured points</h2>\n"
        for c in measured {
            h += "<h3>\(esc(c.name))</h3>\n<p>\(esc(c.description))</p>\n<table><tr><th>Setting</th><th>bpp</th><th>PSNR (dB)</th><th>MS-SSIM</th><th>MS-SSIM (dB)</th><th>Encode (s)</th><th>Decode (s)</th></tr>\n"
            for p in c.points {
                h += "<tr><td>\(esc(p.setting))</td>" + [(p.bpp, "%.4f"), (p.psnr, "%.2f"), (p.msssim, "%.4f"), (p.msssimDB, "%.2f"), (p.encodeSeconds, "%.3f"), (p.decodeSeconds, "%.3f")]
                    .map { "<td>\($0.0.isFinite ? String(format: $0.1, $0.0) : "–")</td>" }.joined() + "</tr>\n"
            }
            h += "</table>\n"
        }
        // For headless checks (make bench-html-check): how many images and plots actually rendered.
        h += """
            <script>
            window.addEventListener('load', () => {
              const imgs = Array.from(document.images);
              document.body.dataset.images = imgs.length;
              document.body.dataset.imagesLoaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
              document.body.dataset.plots = document.querySelectorAll('#plot svg').length;
              document.body.dataset.plotCurves = document.querySelectorAll('#plot svg polyline, #plot svg path').length;
            });
            </script>
            </body></html>

            """
        return h
    }
}
