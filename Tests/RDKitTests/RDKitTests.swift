import Foundation
import Metrics
import Testing

@testable import RDKit

@Suite struct ReferenceCSVTests {
    static let text = """
        # source: somewhere
        # name: JPEG | description: JPEG. Pillow version 7.1.2
        bpp,psnr,ms_ssim,ms_ssim_db,encoding_time_s,decoding_time_s
        0.5,29.0,0.94,12.2,0.01,0.005
        0.25,24.0,,,,

        """

    @Test func readsNameDescriptionAndRowsWithUnknownFields() throws {
        let c = try RDCurve.readReferenceCSV(Self.text, key: "jpeg")
        #expect(c.name == "JPEG")
        #expect(c.description == "JPEG. Pillow version 7.1.2")
        #expect(!c.measured)
        #expect(c.points.map(\.bpp) == [0.25, 0.5])  // sorted by rate
        #expect(c.points[0].msssim.isNaN && c.points[0].encodeSeconds.isNaN)
        #expect(c.points[1].msssim == 0.94 && c.points[1].decodeSeconds == 0.005)
        // unknown MS-SSIM is left out of the MS-SSIM curve, not read as zero
        #expect(c.rateQuality(.msssimDB).count == 1)
        #expect(c.rateQuality(.psnr).count == 2)
    }

    @Test func rejectsAFileWithoutTheColumns() {
        #expect(throws: RDFileError.self) { try RDCurve.readReferenceCSV("rate,quality\n1,2\n", key: "x") }
        #expect(throws: RDFileError.self) { try RDCurve.readReferenceCSV("# only comments\nbpp,psnr\n", key: "x") }
    }
}

@Suite struct CompressAIJSONTests {
    @Test func hasTheSchemaKeysAndNullForUnknown() throws {
        let c = RDCurve(name: "vqz m", key: "vqz-m", description: "d", measured: true, points: [
            RDPoint(setting: "level 1", bpp: 0.1, psnr: 24, msssim: 0.9, encodeSeconds: 0.2, decodeSeconds: 0.3, extra: ["bpp_fixed": 0.125]),
            RDPoint(setting: "level 2", bpp: 0.2, psnr: 26),
        ], figures: ["kl_bpp": 0.7])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(c.compressAIJSON())) as? [String: Any])
        #expect(object["name"] as? String == "vqz m")
        #expect(object["description"] as? String == "d")
        let results = try #require(object["results"] as? [String: Any])
        for key in ["bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time", "ms-ssim-rgb-db", "settings", "bpp_fixed"] {
            #expect((results[key] as? [Any])?.count == 2, "\(key)")
        }
        #expect((results["psnr-rgb"] as? [Double]) == [24, 26])
        #expect((results["ms-ssim-rgb"] as? [Any])?[1] is NSNull)
        let db = try #require((results["ms-ssim-rgb-db"] as? [Any])?[0] as? Double)
        #expect(abs(db - 10) < 1e-6)
        #expect((object["figures"] as? [String: Double])?["kl_bpp"] == 0.7)
    }
}

@Suite struct CurveComparisonTests {
    static func curve(_ points: [(Double, Double)], name: String = "c") -> RDCurve {
        RDCurve(name: name, key: name, description: "", measured: true, points: points.map { RDPoint(setting: "", bpp: $0.0, psnr: $0.1) })
    }

    @Test func interpolatesInLogRate() throws {
        let c = Self.curve([(0.1, 20), (0.4, 30)])
        #expect(try #require(c.quality(atBPP: 0.2, metric: .psnr)) == 25)  // log 0.2 is halfway between log 0.1 and log 0.4
        #expect(c.quality(atBPP: 0.05, metric: .psnr) == nil)
        #expect(c.quality(atBPP: 0.5, metric: .psnr) == nil)
    }

    @Test func marginFindsTheWorstPointOfEitherCurve() throws {
        let anchor = Self.curve([(0.1, 22), (0.3, 26), (1.0, 32)], name: "a")
        let above = Self.curve([(0.08, 23), (0.2, 26), (0.6, 31), (1.2, 34)])
        let m = try #require(above.minimumMargin(over: anchor, metric: .psnr, in: 0.1...1))
        #expect(m.margin > 0)
        // a curve that crosses below the anchor at high rates
        let crossing = Self.curve([(0.08, 23), (0.2, 26), (0.6, 29), (0.9, 30)])
        let c = try #require(crossing.minimumMargin(over: anchor, metric: .psnr, in: 0.1...1))
        #expect(c.margin < 0)
        #expect(c.bpp > 0.5)
        // no common rate in the range
        #expect(Self.curve([(1.5, 30), (2, 32)]).minimumMargin(over: anchor, metric: .psnr, in: 0.1...1) == nil)
    }

    @Test func barFollowsTheBDRatesAndTheMargin() {
        // JPEG-like and WebP-like anchors, and a curve needing half JPEG's rate everywhere
        let jpeg = Self.curve([(0.2, 24), (0.3, 26.5), (0.45, 28.5), (0.6, 30), (0.8, 31.5), (1.0, 32.5)], name: "jpeg")
        let webp = Self.curve(jpeg.points.map { ($0.bpp * 0.62, $0.psnr) }, name: "webp")
        let half = Self.curve(jpeg.points.map { ($0.bpp * 0.5, $0.psnr) }, name: "half")
        let bar = QualityBar(curve: half, jpeg: jpeg, webp: webp)
        #expect(abs(bar.bdJPEG! - -50) < 0.5)
        #expect(abs(bar.bdWebP! - (0.5 / 0.62 - 1) * 100) < 0.5)
        #expect(bar.holds)
        let worse = Self.curve(jpeg.points.map { ($0.bpp * 0.7, $0.psnr) }, name: "worse")
        #expect(!QualityBar(curve: worse, jpeg: jpeg, webp: webp).holds)  // −30 % vs JPEG is not enough
    }
}

@Suite struct PlotTests {
    @Test func measuredCurvesAreSolidAndPublishedDashed() {
        let measured = CurveComparisonTests.curve([(0.1, 24), (0.5, 30), (3.0, 40)], name: "ours")
        var published = CurveComparisonTests.curve([(0.2, 25), (0.8, 31)], name: "theirs")
        published.measured = false
        let svg = RDPlot(curves: [measured, published], title: "t & <u>").svg()
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.components(separatedBy: "class=\"measured\"").count - 1 == 1)  // PSNR panel only: no MS-SSIM
        #expect(svg.components(separatedBy: "class=\"reference\"").count - 1 == 1)
        #expect(svg.contains("t &amp; &lt;u&gt;"))
        #expect(svg.contains("theirs (published)"))
        #expect(svg.contains("clip-path"))
    }
}

@Suite struct PPMTests {
    @Test func roundTrips() throws {
        let rgb: [UInt8] = (0..<(5 * 3 * 3)).map { UInt8($0 * 5 % 256) }
        let back = try PPM.decode(PPM.encode(rgb: rgb, width: 5, height: 3))
        #expect(back.width == 5 && back.height == 3 && back.rgb == rgb)
    }

    @Test func readsCommentsAndRejectsBadFiles() throws {
        let withComment = Array("P6\n# made by djpeg\n2 1\n255\n".utf8) + [1, 2, 3, 4, 5, 6]
        #expect(try PPM.decode(withComment).rgb == [1, 2, 3, 4, 5, 6])
        #expect(throws: RDFileError.self) { try PPM.decode(Array("P5\n2 1\n255\n".utf8) + [1, 2]) }
        #expect(throws: RDFileError.self) { try PPM.decode(Array("P6\n2 1\n65535\n".utf8)) }
        #expect(throws: RDFileError.self) { try PPM.decode(Array("P6\n2 1\n255\n".utf8) + [1, 2, 3]) }
        #expect(throws: RDFileError.self) { try PPM.decode(Array("P6\n99999999999 99999999999\n255\n".utf8)) }
        #expect(throws: RDFileError.self) { try PPM.decode([]) }
    }
}
