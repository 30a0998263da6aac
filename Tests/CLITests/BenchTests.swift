// `vqz bench --images DIR`: on 3 small images, every output file, the HTML report's plot and crops,
// JPEG and WebP measured when their tools are installed and named as missing when not.

import Foundation
import Testing

@Suite struct BenchTests {
    func images() throws -> URL {
        let dir = try Workspace.make()
        let folder = dir.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (i, (w, h)) in [(64, 48), (48, 64), (72, 40)].enumerated() {
            _ = try Workspace.png(in: folder, name: "p\(i).png", width: w, height: h, format: .rgb)
        }
        return dir
    }

    @Test func threeImagesGiveEveryOutputFile() throws {
        let dir = try images()
        let out = dir.appendingPathComponent("bench")
        let r = try Workspace.vqz(["bench", "--images", dir.appendingPathComponent("photos").path, "-o", out.path, "--models", "tiny-vq",
                                   "--crops", "2", "--crop-size", "32", "--jpeg-qualities", "20,50,80", "--webp-qualities", "20,50,80"])
        #expect(r.status == 0, "\(r.stderr)")
        let files = Set((try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? [])
        for name in ["report.html", "rd.svg", "rd.csv", "per-image.csv", "bd-rate.json", "vqz-tiny-vq.json", "jpeg.json", "jpeg-optimized.json", "webp.json", "crops"] {
            #expect(files.contains(name), "\(name) missing: \(files.sorted())")
        }
        // Per image: tiny-vq's levels, 2 × 3 JPEG and 3 WebP points.
        let perImage = try String(contentsOf: out.appendingPathComponent("per-image.csv"), encoding: .utf8).split(separator: "\n")
        let levels = perImage.filter { $0.hasPrefix("p0.png,vqz-tiny-vq,") }.count
        #expect(levels >= 2 && perImage.count == 1 + 3 * (levels + 9), "\(perImage.count) rows")
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("<polyline"), "the plot is inline")
        #expect(html.components(separatedBy: "<img class=\"crop\"").count - 1 == 2 * 4, "original, vqz, JPEG, WebP for 2 images")
        #expect(html.contains("vs JPEG (measured), PSNR") && html.contains("vs WebP (measured), PSNR"))
        for tag in ["original", "vqz", "jpeg", "webp"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("crops/p0-\(tag).png").path))
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("vqz-tiny-vq.json"))) as? [String: Any])
        let results = try #require(json["results"] as? [String: Any])
        #expect((results["bpp"] as? [Double])?.count == levels && (results["psnr-rgb"] as? [Double])?.count == levels)
    }

    @Test func missingAnchorsAreNamedAndLeftOut() throws {
        let dir = try images()
        let out = dir.appendingPathComponent("bench")
        let r = try Workspace.vqz(["bench", "--images", dir.appendingPathComponent("photos").path, "-o", out.path, "--models", "tiny-vq",
                                   "--crops", "1", "--crop-size", "32", "--limit", "1"],
                                  environment: Workspace.environment.merging(["PATH": "/nonexistent"]) { $1 })
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("cjpeg/djpeg not installed (apt install libjpeg-turbo-progs)") && r.stderr.contains("cwebp/dwebp not installed"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("jpeg.json").path))
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.components(separatedBy: "<img class=\"crop\"").count - 1 == 2, "original and vqz only")
    }

    /// A Gaussian model adds its KL-rate point (the β-VAE's own RD point) as a curve of its own.
    @Test func gaussianModelsDrawTheirKLRate() throws {
        let dir = try images()
        let out = dir.appendingPathComponent("bench")
        let r = try Workspace.vqz(["bench", "--images", dir.appendingPathComponent("photos").path, "-o", out.path, "--models", "tiny-gaussian",
                                   "--against", "none", "--crops", "0", "--limit", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let model = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("vqz-tiny-gaussian.json"))) as? [String: Any])
        let kl = try #require((model["figures"] as? [String: Double])?["kl_bpp"])
        let curve = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("vqz-gaussian-kl-rate.json"))) as? [String: Any])
        let results = try #require(curve["results"] as? [String: Any])
        #expect((results["bpp"] as? [Double]).map { $0.count == 1 && abs($0[0] - kl) < 1e-9 } == true, "\(results) vs kl_bpp \(kl)")
        #expect((results["psnr-rgb"] as? [Double])?.first.map { $0 > 0 && $0 < 100 } == true)
    }

    /// With no kernel chosen, vqz runs on a kernel that uses the CPU's vector units: OpenBLAS's own
    /// choice, or — where OpenBLAS fell back to its generic Prescott kernel — the one vqz re-executes
    /// itself with (BLASKernel). Checked on a CPU with AVX2 and FMA.
    @Test func runsOnTheCPUsOpenBLASKernel() throws {
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        let set = Set(flags.split(separator: " ").map(String.init))
        guard set.isSuperset(of: ["avx2", "fma"]) else { return }
        let dir = try images()
        let out = dir.appendingPathComponent("bench")
        func kernel(pretending: String?) throws -> String {
            let r = try CLI.runBinary(["bench", "--images", dir.appendingPathComponent("photos").path, "-o", out.path, "--models", "tiny-vq",
                                       "--against", "none", "--crops", "0", "--limit", "1"],
                                      environment: Workspace.environment.merging(pretending.map { ["VQZ_BLAS_PRETEND_CORE": $0] } ?? [:]) { $1 },
                                      shellPrefix: "unset OPENBLAS_CORETYPE VQZ_BLAS_REEXEC; exec \"$0\" \"$@\"")
            #expect(r.status == 0, "\(r.stderr)")
            return String(r.stderr.components(separatedBy: "OpenBLAS ").dropFirst().first?.prefix { !$0.isWhitespace } ?? "")
        }
        let own = try kernel(pretending: nil)
        #expect(!own.isEmpty && own.lowercased() != "prescott", "kernel \(own)")
        // As if OpenBLAS had fallen back: vqz runs again with the kernel the CPU's flags allow.
        let expected = set.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) ? "skylakex" : "haswell"
        #expect(try kernel(pretending: "Prescott").lowercased() == expected)
    }

    @Test func badOptionsAreUsageErrors() throws {
        for args in [["bench", "--against", "png"], ["bench", "--jpeg-qualities", "a"], ["bench", "--limit", "-1"]] {
            #expect(try Workspace.vqz(args).status == 64, "\(args)")
        }
        let r = try Workspace.vqz(["bench", "--images", "/nonexistent-folder", "-o", "/tmp/x"])
        #expect(r.status == 1 && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }
}
