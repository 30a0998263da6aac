// PSNR, MS-SSIM and BD-rate against the independent NumPy reference of
// tools/make_metric_fixtures.py (written from the definitions, not from this code).

import Foundation
import Metrics
import Testing

enum MetricFixture {
    static let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/reference/metrics.json")
    static var json: [String: Any] {
        get throws { try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]) }
    }

    /// The fixture's base and distorted images (see the generator's docstring).
    static func images(h: Int, w: Int, a: Int, b: Int, seed: UInt32) -> (base: [UInt8], distorted: [UInt8]) {
        var base = [UInt8](repeating: 0, count: h * w * 3), distorted = base
        var state = seed
        for y in 0..<h {
            for x in 0..<w {
                for c in 0..<3 {
                    let v = (a * x + b * y + 40 * c + ((x * y) % 7) * 4) % 256
                    state = state &* 1_664_525 &+ 1_013_904_223
                    let noise = Int((state >> 24) % 21) - 10
                    base[(y * w + x) * 3 + c] = UInt8(v)
                    distorted[(y * w + x) * 3 + c] = UInt8(max(0, min(255, v + noise)))
                }
            }
        }
        return (base, distorted)
    }
}

@Suite struct MetricsTests {
    @Test func msssimAndPSNRMatchNumPy() throws {
        let pairs = try #require(try MetricFixture.json["pairs"] as? [[String: Any]])
        #expect(pairs.count == 4)
        for pair in pairs {
            let name = pair["name"] as! String
            let (h, w) = (pair["H"] as! Int, pair["W"] as! Int)
            let (ref, distorted) = MetricFixture.images(h: h, w: w, a: pair["a"] as! Int, b: pair["b"] as! Int, seed: UInt32(pair["seed"] as! Int))
            let test = name == "same" ? ref : distorted
            #expect(Array(test.prefix(8)).map(Int.init) == pair["first_distorted"] as? [Int], "\(name): the same test image")
            let (ms, ssim) = Metrics.msssim(ref, test, width: w, height: h)
            #expect(abs(ms - (pair["msssim"] as! Double)) < 1e-7, "\(name) MS-SSIM \(ms)")
            #expect(abs(ssim - (pair["ssim"] as! Double)) < 1e-7, "\(name) SSIM \(ssim)")
            if let db = pair["msssim_db"] as? Double {
                #expect(abs(Metrics.decibels(msssim: ms) - db) < 1e-4)
                #expect(abs(Metrics.psnr(ref, test) - (pair["psnr"] as! Double)) < 1e-9)
            } else {
                #expect(Metrics.psnr(ref, test) == .infinity && Metrics.decibels(msssim: ms) == .infinity)
            }
        }
    }

    @Test func bdRateMatchesNumPy() throws {
        let cases = try #require(try MetricFixture.json["bdrate"] as? [[String: Any]])
        #expect(cases.count == 3)
        func curve(_ o: Any?) -> [(rate: Double, quality: Double)] {
            let d = o as! [String: [Double]]
            return zip(d["rate"]!, d["psnr"]!).map { ($0, $1) }
        }
        for c in cases {
            for method in Metrics.BDMethod.allCases {
                let value = try #require(Metrics.bdRate(anchor: curve(c["anchor"]), test: curve(c["test"]), method: method))
                #expect(abs(value - (c[method.rawValue] as! Double)) < 1e-6, "\(c["name"]!) \(method): \(value)")
            }
        }
    }

    @Test func bdRateOfACurveAgainstItselfIsZeroAndDisjointRangesHaveNone() {
        let curve = [(0.1, 25.0), (0.2, 27.0), (0.4, 29.5), (0.8, 32.0)].map { (rate: $0.0, quality: $0.1) }
        for method in Metrics.BDMethod.allCases {
            #expect(abs(Metrics.bdRate(anchor: curve, test: curve, method: method)!) < 1e-9)
            // Half the rate everywhere is −50%.
            #expect(abs(Metrics.bdRate(anchor: curve, test: curve.map { ($0.rate / 2, $0.quality) }, method: method)! + 50) < 1e-9)
        }
        let far = curve.map { (rate: $0.rate, quality: $0.quality + 20) }
        #expect(Metrics.bdRate(anchor: curve, test: far) == nil)
    }
}
