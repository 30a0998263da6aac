// `vqz eval` on a Gaussian model: the VAE's own figures in the JSON (IWAE-k by k, KL per channel,
// active units) and the picture of the prior's samples; a VQ model refuses --prior-samples.

import Container
import Foundation
import Imaging
import Testing

@Suite struct GaussianEvalTests {
    @Test func theVAEFiguresAndThePriorSamples() throws {
        let dir = try Workspace.make()
        let images = dir.appendingPathComponent("imgs")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for i in 0..<2 { _ = try Workspace.png(in: images, name: "i\(i).png", width: 32 + 8 * i, height: 24, format: .rgb) }
        let samples = dir.appendingPathComponent("prior.png").path
        let r = try Workspace.vqz(["eval", "-m", "tiny-gaussian", "--images", images.path, "--iwae-samples", "64", "--prior-samples", samples, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        let iwae = try #require(o["iwae_bits_per_dim"] as? [String: Double])
        #expect(Set(iwae.keys) == ["1", "8", "64"])
        #expect(iwae["1"]! >= iwae["8"]! && iwae["8"]! >= iwae["64"]!, "\(iwae)")
        let kl = try #require(o["kl_per_channel"] as? [Double])
        #expect(!kl.isEmpty && o["active_channels"] is Int && o["kl_bpp"] is Double)
        let picture = try PNGDecoder.decode(FileIO.read(samples)).image
        #expect(picture.width == 512 && picture.height == 512 && picture.format == .rgb)
        #expect(Set(picture.samples).count > 8, "a real picture, not a constant")
        let vq = try Workspace.vqz(["eval", "-m", "tiny-vq", "--images", images.path, "--prior-samples", samples])
        #expect(vq.status == 1 && vq.stderr.contains("needs a Gaussian model"), "\(vq.stderr)")
    }
}
