// PNG writing: write → read is the identity for every 8-bit format; size limits act before allocation.

import Foundation
import Imaging
import Testing

@Suite struct PNGRoundTripTests {
    @Test(arguments: PixelFormat.allCases)
    func writeThenReadIsIdentity(format: PixelFormat) throws {
        var state: UInt64 = 0x1234_5678 &* UInt64(format.rawValue)
        for (w, h) in [(1, 1), (17, 31), (33, 65), (256, 3)] {
            let samples = (0..<(w * h * format.channels)).map { _ -> UInt8 in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(truncatingIfNeeded: state >> 56)
            }
            let image = PixelImage(width: w, height: h, format: format, samples: samples)
            let (back, source) = try PNGDecoder.decode(try PNGEncoder.encode(image))
            #expect(back == image, "\(format) \(w)×\(h)")
            #expect(source.bitDepth == 8)
        }
    }

    @Test(arguments: PNGFilter.allCases)
    func everyFilterAndLevelRoundTrips(filter: PNGFilter) throws {
        // A smooth gradient with noise: compressible, so the zlib level shows in the size.
        var state: UInt64 = 99
        let (w, h) = (97, 41)
        for format in PixelFormat.allCases {
            let samples = (0..<(w * h * format.channels)).map { i -> UInt8 in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(truncatingIfNeeded: (i / format.channels) % w + Int(state >> 61))
            }
            let image = PixelImage(width: w, height: h, format: format, samples: samples)
            var sizes: [Int] = []
            for level in [0, 1, 6, 9] {
                let png = try PNGEncoder.encode(image, level: level, filter: filter)
                #expect(try PNGDecoder.decode(png).image == image, "\(format) \(filter) level \(level)")
                sizes.append(png.count)
            }
            // Level 0 stores the rows; every other level compresses them (levels 1…9 may tie or swap by a few bytes).
            #expect(sizes[0] > sizes.dropFirst().max()!, "\(format) \(filter): sizes by level \(sizes)")
        }
    }

    @Test func partsOnSeveralThreadsGiveTheSameBytes() throws {
        // 640 × 480 RGB: 480 rows of 1 + 1920 bytes = 922,080 filtered bytes, so 3 parts of at least
        // 256 KiB (one IDAT each).
        var state: UInt64 = 7
        let samples = (0..<(640 * 480 * 3)).map { i -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: (i / 3) % 640 / 3 + Int(state >> 60))
        }
        let image = PixelImage(width: 640, height: 480, format: .rgb, samples: samples)
        for filter in PNGFilter.allCases where filter != .adaptive {
            let one = try PNGEncoder.encode(image, filter: filter, threads: 1)
            for threads in [2, 3, 16] { #expect(try PNGEncoder.encode(image, filter: filter, threads: threads) == one, "\(filter) \(threads) threads") }
            #expect(try PNGDecoder.decode(one).image == image, "\(filter)")
            var idats = 0, at = 8
            while at + 8 <= one.count {
                let length = Int(one[at]) << 24 | Int(one[at + 1]) << 16 | Int(one[at + 2]) << 8 | Int(one[at + 3])
                if Array(one[at + 4..<at + 8]) == Array("IDAT".utf8) { idats += 1 }
                at += 12 + length
            }
            #expect(idats == 3, "\(filter): \(idats) IDAT chunks")
        }
    }

    @Test func badLevelIsAnError() {
        let image = PixelImage(width: 2, height: 2, format: .gray, samples: [1, 2, 3, 4])
        #expect(throws: ImagingError.self) { try PNGEncoder.encode(image, level: 10) }
        #expect(throws: ImagingError.self) { try PNGEncoder.encode(image, level: -1) }
    }

    @Test func pixelLimitIsCheckedBeforeDecoding() throws {
        let image = PixelImage(width: 40, height: 30, format: .rgb, samples: [UInt8](repeating: 7, count: 3600))
        let png = try PNGEncoder.encode(image)
        #expect(throws: ImagingError.tooLarge(width: 40, height: 30, limit: 1000)) {
            try PNGDecoder.decode(png, maxPixels: 1000)
        }
        // A header claiming 100000 × 100000 pixels with no data behind it: refused by the limit,
        // long before libpng would try to inflate anything.
        var huge = png
        for (offset, value) in [(16, 100_000), (20, 100_000)] {
            for i in 0..<4 { huge[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * (3 - i))) }
        }
        #expect(throws: ImagingError.tooLarge(width: 100_000, height: 100_000, limit: PNGDecoder.defaultMaxPixels)) {
            try PNGDecoder.decode(huge)
        }
    }

    @Test func notAPNG() {
        #expect(throws: ImagingError.notPNG) { try PNGDecoder.decode(Array("hello, world".utf8)) }
        #expect(throws: ImagingError.notPNG) { try PNGDecoder.decode([]) }
    }

    @Test func everyTruncationOfAPNGIsRejected() throws {
        let image = PixelImage(width: 9, height: 7, format: .rgba, samples: (0..<252).map { UInt8($0) })
        let png = try PNGEncoder.encode(image)
        for length in 0..<png.count - 12 {  // up to IEND: every cut loses image data or IEND's start
            #expect(throws: ImagingError.self, "cut at \(length)") { try PNGDecoder.decode(Array(png[0..<length])) }
        }
    }

    @Test func conversions() {
        let ga = PixelImage(width: 2, height: 1, format: .grayAlpha, samples: [10, 200, 30, 40])
        #expect(ga.rgb == [10, 10, 10, 30, 30, 30])
        #expect(ga.alpha == [200, 40])
        #expect(ga.rgba == [10, 10, 10, 200, 30, 30, 30, 40])
        let rgb = PixelImage(width: 1, height: 1, format: .rgb, samples: [1, 2, 3])
        #expect(rgb.alpha == nil && rgb.rgba == [1, 2, 3, 255])
    }
}
