// Experiment: RVQ base (first n stages) + uniform scalar quantization of the residual latent.
// Prints per (n, Δ): bpp (base tokens by per-stage empirical entropy, residual by per-channel
// empirical entropy and by zstd of zigzag planes) and PSNR, averaged over the images.
import Codec
import Container
import Foundation
import Imaging
import Metrics
import Models
import NN
import TensorCore

let args = CommandLine.arguments
let model = try LoadedModel(path: args[1])
let dir = args[2]
let bases = args[3].split(separator: ",").map { Int($0)! }
let steps = args[4].split(separator: ",").map { Float($0)! }
let vq = model.vq!
let d = model.config.latentChannels
let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".png") }.sorted()
struct Acc { var bitsBase = 0.0, bitsRes = 0.0, bitsZstd = 0.0, psnr = 0.0, pixels = 0.0, count = 0 }
var acc = [String: Acc]()
for name in files {
    let (full, _) = try PNGDecoder.decode(try FileIO.read(dir + "/" + name, maxBytes: 1 << 28))
    let w = full.width / 8 * 8, h = full.height / 8 * 8
    let src = full.rgb
    var rgb = [UInt8](repeating: 0, count: w * h * 3)
    for y in 0..<h { for x in 0..<(w * 3) { rgb[y * w * 3 + x] = src[y * full.width * 3 + x] } }
    var x = Tensor(shape: [1, 3, h, w])
    for c in 0..<3 { for i in 0..<(h * w) { x.scalars[c * h * w + i] = Float(rgb[i * 3 + c]) / 255 } }
    let z = vq.latents(x)
    let m = z.shape[0], gh = h / 8, gw = w / 8
    for n in bases {
        var baseQ = Tensor(shape: z.shape)
        var bitsBase = 0.0
        if n > 0 {
            let idx = vq.quantizer.quantize(z, levels: n, lambda: model.defaultLambda(level: n))
            baseQ = vq.quantizer.dequantize(idx, count: m)
            bitsBase = idx.reduce(0.0) { $0 + empiricalEntropyBits($1) }
        }
        let r = z - baseQ
        for delta in steps {
            var q = baseQ
            var bitsRes = 0.0
            var planes = [UInt8]()
            for c in 0..<d {
                var sym = [Int32](repeating: 0, count: m)
                for i in 0..<m {
                    let v = (r.scalars[i * d + c] / delta).rounded()
                    sym[i] = Int32(v)
                    q.scalars[i * d + c] += v * delta
                    let zz = v >= 0 ? Int(v) * 2 : -Int(v) * 2 - 1
                    planes.append(UInt8(min(zz, 255)))
                }
                bitsRes += empiricalEntropyBits(sym)
            }
            let zbytes = try Zstd.compress(planes, level: 19, segments: Array(repeating: m, count: d))
            let y = vq.decoder.forward(LatentLayout.map(q, n: 1, h: gh, w: gw), mode: .inference)
            var out = [UInt8](repeating: 0, count: w * h * 3)
            for c in 0..<3 { for i in 0..<(h * w) { out[i * 3 + c] = UInt8(max(0, min(255, ((y.scalars[c * h * w + i] + 0.5) * 255).rounded()))) } }
            let key = "n=\(n) Δ=\(delta)"
            var a = acc[key] ?? Acc()
            a.bitsBase += bitsBase; a.bitsRes += bitsRes; a.bitsZstd += Double(zbytes.count * 8); a.pixels += Double(w * h)
            a.psnr += Metrics.psnr(rgb, out); a.count += 1
            acc[key] = a
        }
    }
}
print("n,delta,bpp_base,bpp_res_entropy,bpp_res_zstd,bpp_total_entropy,psnr")
for n in bases { for delta in steps {
    let a = acc["n=\(n) Δ=\(delta)"]!
    // bpp as the mean over images of per-image bpp ≈ total bits / total pixels (held-out sizes vary)
    print(String(format: "%d,%.3f,%.4f,%.4f,%.4f,%.4f,%.3f", n, delta, a.bitsBase / a.pixels, a.bitsRes / a.pixels, a.bitsZstd / a.pixels, (a.bitsBase + a.bitsRes) / a.pixels, a.psnr / Double(a.count)))
} }
