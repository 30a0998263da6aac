// The RD plot as a self-contained SVG: bpp against PSNR and against MS-SSIM dB, side by side.
// Curves measured in the run are solid with markers; published curves are dashed.

import Foundation

public struct RDPlot {
    public var curves: [RDCurve]
    public var title: String
    public var maxBPP: Double

    public init(curves: [RDCurve], title: String, maxBPP: Double = 1.5) {
        self.curves = curves
        self.title = title
        self.maxBPP = maxBPP
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                          "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39"]

    struct Panel {
        var metric: QualityMetric
        var x0: Double, y0: Double, width: Double, height: Double
        var yMin: Double, yMax: Double, yStep: Double
    }

    /// The y range: every measured point below `maxBPP` and the published curves there, padded and
    /// rounded to whole steps.
    func range(_ metric: QualityMetric, step: Double) -> (Double, Double) {
        let values = curves.flatMap { c in c.rateQuality(metric).filter { $0.rate <= maxBPP }.map(\.quality) }
        guard let lo = values.min(), let hi = values.max() else { return (0, 1) }
        return ((lo / step).rounded(.down) * step, (hi / step).rounded(.up) * step)
    }

    public func svg() -> String {
        let panelW = 520.0, panelH = 400.0, left = 60.0, top = 50.0, gap = 90.0, legendW = 330.0
        let width = left + 2 * panelW + gap + 30 + legendW, height = top + panelH + 60
        let (pLo, pHi) = range(.psnr, step: 2), (mLo, mHi) = range(.msssimDB, step: 2)
        let panels = [
            Panel(metric: .psnr, x0: left, y0: top, width: panelW, height: panelH, yMin: pLo, yMax: pHi, yStep: 2),
            Panel(metric: .msssimDB, x0: left + panelW + gap, y0: top, width: panelW, height: panelH, yMin: mLo, yMax: mHi, yStep: 2),
        ]
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Int(width / 2))" y="24" text-anchor="middle" font-size="16">\(escape(title))</text>

            """
        for (pi, p) in panels.enumerated() {
            func x(_ bpp: Double) -> Double { p.x0 + bpp / maxBPP * p.width }
            func y(_ q: Double) -> Double { p.y0 + p.height - (q - p.yMin) / (p.yMax - p.yMin) * p.height }
            s += "<clipPath id=\"clip\(pi)\"><rect x=\"\(f(p.x0))\" y=\"\(f(p.y0))\" width=\"\(f(p.width))\" height=\"\(f(p.height))\"/></clipPath>\n"
            // grid and axes
            var t = 0.0
            while t <= maxBPP + 1e-9 {
                s += "<line x1=\"\(f(x(t)))\" y1=\"\(f(p.y0))\" x2=\"\(f(x(t)))\" y2=\"\(f(p.y0 + p.height))\" stroke=\"#e5e5e5\"/>"
                s += "<text x=\"\(f(x(t)))\" y=\"\(f(p.y0 + p.height + 16))\" text-anchor=\"middle\">\(String(format: "%.2f", t))</text>\n"
                t += 0.25
            }
            var q = p.yMin
            while q <= p.yMax + 1e-9 {
                s += "<line x1=\"\(f(p.x0))\" y1=\"\(f(y(q)))\" x2=\"\(f(p.x0 + p.width))\" y2=\"\(f(y(q)))\" stroke=\"#e5e5e5\"/>"
                s += "<text x=\"\(f(p.x0 - 6))\" y=\"\(f(y(q) + 4))\" text-anchor=\"end\">\(Int(q))</text>\n"
                q += p.yStep
            }
            s += "<rect x=\"\(f(p.x0))\" y=\"\(f(p.y0))\" width=\"\(f(p.width))\" height=\"\(f(p.height))\" fill=\"none\" stroke=\"black\"/>\n"
            s += "<text x=\"\(f(p.x0 + p.width / 2))\" y=\"\(f(p.y0 + p.height + 36))\" text-anchor=\"middle\">bits per pixel</text>\n"
            s += "<text transform=\"translate(\(f(p.x0 - 42)),\(f(p.y0 + p.height / 2))) rotate(-90)\" text-anchor=\"middle\">\(p.metric == .psnr ? "PSNR (dB, RGB)" : "MS-SSIM (dB, RGB)")</text>\n"
            s += "<g clip-path=\"url(#clip\(pi))\">\n"
            for (ci, c) in curves.enumerated() {
                let pts = c.rateQuality(p.metric).sorted { $0.rate < $1.rate }
                guard !pts.isEmpty else { continue }
                let colour = Self.palette[ci % Self.palette.count]
                let path = pts.map { "\(f(x($0.rate))),\(f(y($0.quality)))" }.joined(separator: " ")
                if c.measured {
                    s += "<polyline class=\"measured\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
                    for pt in pts { s += "<circle cx=\"\(f(x(pt.rate)))\" cy=\"\(f(y(pt.quality)))\" r=\"3\" fill=\"\(colour)\"/>" }
                    s += "\n"
                } else {
                    s += "<polyline class=\"reference\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.3\" stroke-dasharray=\"6,4\" points=\"\(path)\"/>\n"
                }
            }
            s += "</g>\n"
        }
        // legend
        let lx = left + 2 * panelW + gap + 30
        for (ci, c) in curves.enumerated() {
            let ly = top + 8 + Double(ci) * 20
            let colour = Self.palette[ci % Self.palette.count]
            s += "<line x1=\"\(f(lx))\" y1=\"\(f(ly))\" x2=\"\(f(lx + 28))\" y2=\"\(f(ly))\" stroke=\"\(colour)\" stroke-width=\"\(c.measured ? 2 : 1.3)\"\(c.measured ? "" : " stroke-dasharray=\"6,4\"")/>"
            s += "<text x=\"\(f(lx + 36))\" y=\"\(f(ly + 4))\">\(escape(c.name))\(c.measured ? "" : " (published)")</text>\n"
        }
        s += "</svg>\n"
        return s
    }

    func f(_ v: Double) -> String { String(format: "%.1f", v) }

    func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
