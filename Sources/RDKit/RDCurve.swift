// Rate–distortion curves: the points a benchmark measures, the published curves it is drawn beside,
// and their files — CompressAI's result JSON (https://github.com/InterDigitalInc/CompressAI,
// results/image/kodak/*.json: `name`, `description`, `results` with `bpp`, `psnr-rgb`,
// `ms-ssim-rgb`, `encoding_time`, `decoding_time`) and the CSV files of ../shared/reference.

import Foundation
import Metrics

/// One setting of one codec (a quality or a rate level), averaged over the images.
public struct RDPoint: Sendable, Equatable {
    /// What produced it: "q=50", "level 4".
    public var setting: String
    public var bpp: Double
    /// Mean of the per-image RGB PSNR in dB.
    public var psnr: Double
    /// Mean of the per-image RGB MS-SSIM (NaN when unknown).
    public var msssim: Double
    /// Mean seconds per image (NaN when unknown).
    public var encodeSeconds: Double
    public var decodeSeconds: Double
    /// Further per-point figures, e.g. `bpp_fixed`, `bpp_entropy`.
    public var extra: [String: Double]

    public init(setting: String, bpp: Double, psnr: Double, msssim: Double = .nan, encodeSeconds: Double = .nan, decodeSeconds: Double = .nan, extra: [String: Double] = [:]) {
        self.setting = setting
        self.bpp = bpp
        self.psnr = psnr
        self.msssim = msssim
        self.encodeSeconds = encodeSeconds
        self.decodeSeconds = decodeSeconds
        self.extra = extra
    }

    /// MS-SSIM in dB, −10·log10(1 − MS-SSIM) (the mean MS-SSIM converted, as CompressAI plots it).
    public var msssimDB: Double { msssim.isNaN ? .nan : Metrics.decibels(msssim: msssim) }
}

/// A codec's curve.
public struct RDCurve: Sendable {
    /// Short label for plots and tables ("JPEG", "vqz rvqvae-…").
    public var name: String
    /// File stem of its outputs (`jpeg` → jpeg.json).
    public var key: String
    public var description: String
    /// Measured in this run (false: a published curve read from a file).
    public var measured: Bool
    public var points: [RDPoint]
    /// Per-codec figures (the Gaussian VAE's `kl_bpp`, …), averaged over images.
    public var figures: [String: Double]

    public init(name: String, key: String, description: String, measured: Bool, points: [RDPoint], figures: [String: Double] = [:]) {
        self.name = name
        self.key = key
        self.description = description
        self.measured = measured
        self.points = points
        self.figures = figures
    }

    public func rateQuality(_ metric: QualityMetric) -> [(rate: Double, quality: Double)] {
        points.compactMap { p in
            let q = metric == .psnr ? p.psnr : p.msssimDB
            return q.isFinite && p.bpp > 0 ? (p.bpp, q) : nil
        }
    }
}

public enum QualityMetric: String, Sendable, CaseIterable {
    case psnr = "PSNR"
    case msssimDB = "MS-SSIM dB"
}

// MARK: Files

public struct RDFileError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension RDCurve {
    /// A published curve from a CSV file: `#` comment lines (a `# name: N | description: D` line names
    /// it), then a header naming at least `bpp` and `psnr` (`ms_ssim`, `encoding_time_s`,
    /// `decoding_time_s` are read when present; empty fields are unknown).
    public static func readReferenceCSV(_ text: String, key: String) throws -> RDCurve {
        var name = key, description = ""
        var header: [String]? = nil
        var points: [RDPoint] = []
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let body = line.dropFirst().trimmingCharacters(in: .whitespaces)
                if body.hasPrefix("name:") {
                    let parts = body.components(separatedBy: "|")
                    name = parts[0].dropFirst("name:".count).trimmingCharacters(in: .whitespaces)
                    if parts.count > 1 {
                        description = parts[1].trimmingCharacters(in: .whitespaces)
                        if description.hasPrefix("description:") { description = description.dropFirst("description:".count).trimmingCharacters(in: .whitespaces) }
                    }
                }
                continue
            }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard let columns = header else {
                guard fields.contains("bpp"), fields.contains("psnr") else { throw RDFileError("\(key): the header line must name bpp and psnr") }
                header = fields
                continue
            }
            func value(_ column: String) -> Double {
                guard let i = columns.firstIndex(of: column), i < fields.count, let v = Double(fields[i]) else { return .nan }
                return v
            }
            let bpp = value("bpp")
            guard bpp.isFinite else { throw RDFileError("\(key): a row has no bpp") }
            points.append(RDPoint(setting: "", bpp: bpp, psnr: value("psnr"), msssim: value("ms_ssim"), encodeSeconds: value("encoding_time_s"), decodeSeconds: value("decoding_time_s")))
        }
        guard !points.isEmpty else { throw RDFileError("\(key): no data rows") }
        return RDCurve(name: name, key: key, description: description, measured: false, points: points.sorted { $0.bpp < $1.bpp })
    }

    /// CompressAI's result schema, with our additions (`settings`, `ms-ssim-rgb-db`, per-point extras,
    /// per-codec `figures`). Unknown values are JSON null.
    public func compressAIJSON() throws -> [UInt8] {
        func number(_ v: Double) -> Any { v.isFinite ? (v * 1e6).rounded() / 1e6 : NSNull() }
        var results: [String: Any] = [
            "bpp": points.map { number($0.bpp) },
            "psnr-rgb": points.map { number($0.psnr) },
            "ms-ssim-rgb": points.map { number($0.msssim) },
            "ms-ssim-rgb-db": points.map { number($0.msssimDB) },
            "encoding_time": points.map { number($0.encodeSeconds) },
            "decoding_time": points.map { number($0.decodeSeconds) },
            "settings": points.map(\.setting),
        ]
        for key in Set(points.flatMap { $0.extra.keys }) {
            results[key] = points.map { number($0.extra[key] ?? .nan) }
        }
        var object: [String: Any] = ["name": name, "description": description, "results": results]
        if !figures.isEmpty { object["figures"] = figures.mapValues(number) }
        return Array(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) + [10]
    }
}

// MARK: Comparisons

extension RDCurve {
    /// `quality` at `bpp` by linear interpolation in log-rate between neighbouring points; nil outside
    /// the curve's rate range.
    public func quality(atBPP bpp: Double, metric: QualityMetric) -> Double? {
        let curve = rateQuality(metric).sorted { $0.rate < $1.rate }
        guard let first = curve.first, let last = curve.last, bpp >= first.rate, bpp <= last.rate else { return nil }
        if curve.count == 1 { return first.quality }
        for i in 1..<curve.count where bpp <= curve[i].rate {
            let a = curve[i - 1], b = curve[i]
            if b.rate == a.rate { return max(a.quality, b.quality) }
            let t = (log(bpp) - log(a.rate)) / (log(b.rate) - log(a.rate))
            return a.quality + t * (b.quality - a.quality)
        }
        return nil
    }

    /// The smallest quality lead of `self` over `anchor` at the rates in `range` both curves cover:
    /// checked at every point of either curve there (the other curve interpolated). Negative when
    /// `self` falls below the anchor somewhere; nil when there is no common rate in `range`.
    public func minimumMargin(over anchor: RDCurve, metric: QualityMetric, in range: ClosedRange<Double>) -> (margin: Double, bpp: Double)? {
        var worst: (margin: Double, bpp: Double)? = nil
        let rates = (rateQuality(metric) + anchor.rateQuality(metric)).map(\.rate).filter { range.contains($0) }
        for r in rates {
            guard let mine = quality(atBPP: r, metric: metric), let theirs = anchor.quality(atBPP: r, metric: metric) else { continue }
            if worst == nil || mine - theirs < worst!.margin { worst = (mine - theirs, r) }
        }
        return worst
    }
}

/// BD-rates of one curve against one anchor.
public struct BDRow: Sendable {
    public var test: String
    public var anchor: String
    /// Keyed by metric and method, in percent (nil: no overlap or too few points).
    public var values: [QualityMetric: [Metrics.BDMethod: Double?]]

    public init(test: RDCurve, anchor: RDCurve) {
        self.test = test.name
        self.anchor = anchor.name
        var values: [QualityMetric: [Metrics.BDMethod: Double?]] = [:]
        for metric in QualityMetric.allCases {
            for method in Metrics.BDMethod.allCases {
                values[metric, default: [:]][method] = Metrics.bdRate(anchor: anchor.rateQuality(metric), test: test.rateQuality(metric), method: method)
            }
        }
        self.values = values
    }

    public func value(_ metric: QualityMetric, _ method: Metrics.BDMethod) -> Double? { values[metric]?[method] ?? nil }
}
