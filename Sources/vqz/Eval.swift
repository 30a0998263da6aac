// `vqz eval -m MODEL [--images DIR]`: per rate level, the real coded rate (bpp of the .vqz files,
// header included) and PSNR on a folder, plus the rate figures each family is judged by: for VQ the
// fixed-length and token-entropy rates; for the Gaussian VAE the KL rate, the negative ELBO in bits
// per dimension, active latent channels and an importance-weighted (IWAE) estimate of log p(x).

import ArgumentParser
import Codec
import Container
import Foundation
import Imaging
import Metrics
import Models
import TensorCore

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model's rate and distortion on a folder of PNGs.",
        discussion: """
            Every image is encoded at every level through the same code path as encoding a file, the \
            real file size is taken, and the file is decoded and compared on 8-bit RGB. Defaults to \
            the Kodak set in ../shared/data/kodak.

            Examples:
              vqz eval -m rvqvae-k256-d32-f8-n96
              vqz eval -m my.vqzm --images photos/ --json
            """)

    @Option(name: .shortAndLong, help: "A model name from `vqz models` or a path to a .vqzm file.") var model: String
    @Option(help: "Folder of PNG images.") var images: String = "../shared/data/kodak"
    @Option(help: "Importance samples for the IWAE estimates (Gaussian models): IWAE-k for k = 1, 8, 64… up to this (a power of 8).")
    var iwaeSamples: Int = 64

    func validate() throws {
        guard iwaeSamples >= 1 else { throw ValidationError("--iwae-samples must be at least 1.") }
        guard limit >= 0 else { throw ValidationError("--limit must not be negative.") }
    }
    @Option(help: "Only the first N images (0 = all).") var limit: Int = 0
    @Flag(help: "Print JSON on stdout.") var json = false
    @Flag(help: "Write the figures to the model's card (MODEL.card.json, read by `vqz models`), keeping its default mark.")
    var card = false
    @Option(help: "Gaussian models: also write this PNG, four images decoded from z ~ N(0, I) (what the prior alone generates; seeded).")
    var priorSamples: String?

    func run() throws {
        try reportingErrors {
            let modelPath = try ModelRegistry.standard().resolve(model).path
            let loaded = try LoadedModel(path: modelPath)
            var names = try PNGFolder.names(in: images)
            if limit > 0 { names = Array(names.prefix(limit)) }
            guard !names.isEmpty else { throw RuntimeFailure("\(images): no PNG files") }
            let levels = loaded.levels
            var bpp = [Double](repeating: 0, count: levels.count), psnr = bpp, fixed = bpp, entropy = bpp
            var kl = 0.0, samplePSNR = 0.0, elbo = 0.0, iwae: [Int: Double] = [:], klPerChannel = [Double](repeating: 0, count: loaded.config.latentChannels)
            for name in names {
                let path = (images as NSString).appendingPathComponent(name)
                let image = try PNGDecoder.decode(try FileIO.read(path)).image
                let pixels = Double(image.width * image.height)
                let original = image.rgb
                let files = try ImageCodec.encode(image, model: loaded, levels: levels) { printError("vqz: note: \(path): \($0)") }
                for (i, bytes) in files.enumerated() {
                    let (header, content) = try BitstreamFile.parse(bytes)
                    let decoded = try ImageCodec.decode(header: header, content: content, model: loaded)
                    bpp[i] += 8 * Double(bytes.count) / pixels
                    psnr[i] += Metrics.cappedPSNR(decoded.rgb, original)
                    let rates = ImageCodec.tokenRates(header: header, content: content)
                    fixed[i] += rates.fixedBits / pixels
                    entropy[i] += rates.entropyBits / pixels
                }
                if let stats = GaussianStatistics.measure(loaded, image: image, samples: iwaeSamples) {
                    kl += stats.klBitsPerPixel
                    samplePSNR += stats.samplePSNR
                    elbo += stats.negativeELBOBitsPerDim
                    for (k, v) in stats.iwaeBitsPerDim { iwae[k, default: 0] += v }
                    for c in 0..<klPerChannel.count { klPerChannel[c] += stats.klPerChannel[c] }
                }
            }
            let n = Double(names.count)
            var rows: [String] = []
            var report = Report(model: loaded.name, modelID: loaded.id.hex, family: loaded.config.family.rawValue, images: names.count, levels: [])
            for (i, level) in levels.enumerated() {
                rows.append(String(format: "  %5d  %8.4f  %8.4f  %8.4f  %7.2f", level, bpp[i] / n, entropy[i] / n, fixed[i] / n, psnr[i] / n))
                report.levels.append(Report.Level(
                    level: level, bpp: jsonFigure(bpp[i] / n, 5), bppEntropy: jsonFigure(entropy[i] / n, 5),
                    bppFixed: jsonFigure(fixed[i] / n, 5), psnr: jsonFigure(psnr[i] / n, 3)))
            }
            var extra: [String] = []
            if loaded.gaussian != nil {
                let perChannel = klPerChannel.map { $0 / n }
                let active = perChannel.filter { $0 > 0.01 }.count
                let ks = iwae.keys.sorted()
                extra = [
                    String(format: "KL rate: %.4f bits/pixel at %.2f dB (images decoded from posterior samples) — what the posterior carries at its own noise σ; the coded rate of level L minus it:", kl / n, samplePSNR / n),
                    "  " + levels.indices.map { String(format: "L%d %+.4f", levels[$0], bpp[$0] / n - kl / n) }.joined(separator: "  "),
                    String(format: "negative ELBO: %.4f bits/dim;  ", elbo / n) + ks.map { String(format: "IWAE-%d: %.4f", $0, iwae[$0]! / n) }.joined(separator: ", ") + " bits/dim",
                    "active latent channels (KL > 0.01 nats/position): \(active) of \(perChannel.count); coded: \(loaded.config.activeChannels.count)",
                    "KL per channel (nats/position): " + perChannel.map { String(format: "%.3f", $0) }.joined(separator: " "),
                ]
                if !loaded.config.channelScales.isEmpty {
                    extra.append("step scale per channel (σ, 0 = not coded): " + loaded.config.channelScales.map { String(format: "%.3f", $0) }.joined(separator: " "))
                }
                report.klBpp = jsonFigure(kl / n, 5)
                report.klPSNR = jsonFigure(samplePSNR / n, 3)
                report.negativeELBOBitsPerDim = jsonFigure(elbo / n, 5)
                let finite = Dictionary(uniqueKeysWithValues: ks.map { ("\($0)", jsonFigure(iwae[$0]! / n, 5) ?? .nan) }).filter { $0.value.isFinite }
                report.iwae = finite.isEmpty ? nil : finite
                report.iwaeSamples = iwaeSamples
                report.activeChannels = active
                report.klPerChannel = perChannel.map { jsonFigure($0, 5) ?? 0 }
            }
            if let priorSamples {
                guard let g = loaded.gaussian else { throw RuntimeFailure("--prior-samples needs a Gaussian model; \(loaded.name) is a VQ model") }
                try FileIO.writeAtomically(try PNGEncoder.encode(Self.priorSampleGrid(g, latentSide: 32, seed: 2026)), to: priorSamples, overwrite: true)
            }
            if card {
                let path = ModelEntry.cardPath(forModel: modelPath)
                let previous = FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode(ModelCard.self, from: $0) }
                let newCard = ModelCard(
                    isDefault: previous?.isDefault ?? false, modelID: loaded.id.hex,
                    images: (URL(fileURLWithPath: images).standardizedFileURL.lastPathComponent),
                    levels: levels.indices.map { ModelCard.Level(level: levels[$0], bpp: (bpp[$0] / n * 1e4).rounded() / 1e4, psnr: (psnr[$0] / n * 100).rounded() / 100) })
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try FileIO.writeAtomically(Array(try encoder.encode(newCard)) + [10], to: path, overwrite: true)
            }
            if json {
                try JSONOutput.print(report)
            } else {
                try Streams.print("model \(loaded.name) (\(loaded.config.family.rawValue), id \(loaded.id.hex)) on \(names.count) images of \(images)")
                try Streams.print("  level       bpp  bpp_entr  bpp_fixd  PSNR dB")
                for line in rows { try Streams.print(line) }
                for line in extra { try Streams.print(line) }
            }
        }
    }

    /// Four images decoded from z ~ N(0, I) (`latentSide`² latents each, seeded draws), tiled 2 × 2:
    /// what the model's prior generates without an encoder.
    static func priorSampleGrid(_ g: GaussianVAE, latentSide: Int, seed: UInt64) -> PixelImage {
        var rng = Xoshiro256(seed: seed)
        let c = g.config.latentChannels, side = latentSide * g.config.downsampleFactor
        var out = [UInt8](repeating: 0, count: 4 * side * side * 3)
        for k in 0..<4 {
            var z = Tensor(shape: [1, c, latentSide, latentSide])
            for i in 0..<z.count { z.scalars[i] = rng.nextNormal() }
            let y = g.decode(latents: z)
            let (oy, ox) = (k / 2 * side, k % 2 * side)
            for row in 0..<side {
                for col in 0..<side {
                    for ch in 0..<3 {
                        let v = y.scalars[(ch * side + row) * side + col]
                        out[((oy + row) * 2 * side + ox + col) * 3 + ch] = UInt8((min(max(v.isNaN ? 0 : v, 0), 1) * 255).rounded())
                    }
                }
            }
        }
        return PixelImage(width: 2 * side, height: 2 * side, format: .rgb, samples: out)
    }

    /// The `--json` object.
    struct Report: Encodable {
        struct Level: Encodable {
            var level: Int
            var bpp, bppEntropy, bppFixed, psnr: Double?
            enum CodingKeys: String, CodingKey { case level, bpp, bppEntropy = "bpp_entropy", bppFixed = "bpp_fixed", psnr }
        }
        var model, modelID, family: String
        var images: Int
        var levels: [Level]
        var klBpp, klPSNR, negativeELBOBitsPerDim: Double?
        /// IWAE-k in bits/dim, by k.
        var iwae: [String: Double]?
        var iwaeSamples, activeChannels: Int?
        var klPerChannel: [Double]?

        enum CodingKeys: String, CodingKey {
            case model, modelID = "model_id", family, images, levels, klBpp = "kl_bpp", klPSNR = "kl_psnr"
            case negativeELBOBitsPerDim = "neg_elbo_bits_per_dim", iwae = "iwae_bits_per_dim", klPerChannel = "kl_per_channel"
            case iwaeSamples = "iwae_samples", activeChannels = "active_channels"
        }
    }
}
