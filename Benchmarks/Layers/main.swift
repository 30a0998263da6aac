// LayerBench: where the codec's inference time goes, layer by layer. Runs a model's encoder on a
// Kodak-sized image and its decoder on the matching latent grid (batch 1, the shapes `vqz encode`
// and `vqz decode` run), times each layer's forward pass (best of --repeats), and prints GFLOP/s
// for the convolutions and GDNs beside the same run's SGEMM at a decoder-shaped problem.
//
//   swift build -c release --product LayerBench
//   env -u OPENBLAS_CORETYPE .build/release/LayerBench -m codecs/rvqvae-k256-d32-f8-v2.vqzm

import ArgumentParser
import BenchSupport
import Codec
import Foundation
import NN
import TensorCore

struct LayerBench: ParsableCommand {
    @Option(name: .shortAndLong, help: "The .vqzm model file.") var model: String
    @Option(help: "Image width in pixels (a multiple of 8).") var width = 768
    @Option(help: "Image height in pixels (a multiple of 8).") var height = 512
    @Option(help: "Timed runs per layer (the best is reported).") var repeats = 5
    @Flag(help: "Run the layers in training mode (convolutions on oneDNN, VQZ_CONV) to compare its forward pass with the engine's.")
    var trainingMode = false

    func flops(_ layer: any Layer, input: Tensor, output: Tensor) -> Double? {
        let hw = Double(output.shape[2] * output.shape[3])
        if let c = layer as? Conv2d {
            return 2 * Double(c.outputChannels * c.inputChannels * c.kernelSize * c.kernelSize) * hw
        }
        if layer is GDN { let ch = Double(input.shape[1]); return 2 * ch * ch * hw }
        return nil
    }

    func profile(_ name: String, _ net: Sequential, input: Tensor) -> Double {
        var x = input
        var total = 0.0
        print("\(name): input \(input.shape)")
        for (i, layer) in net.layers.enumerated() {
            let mode: Mode = trainingMode ? .training : .inference
            var y = layer.forward(x, mode: mode)
            var best = Double.infinity
            for _ in 0..<repeats { best = min(best, seconds { y = layer.forward(x, mode: mode) }) }
            total += best
            let kind = String(describing: type(of: layer))
            let rate = flops(layer, input: x, output: y).map { String(format: "%7.1f GFLOP/s", $0 / best / 1e9) } ?? "               "
            print(String(format: "  %2d %-14@ %-22@ %8.2f ms %@", i, kind as NSString, "\(y.shape)" as NSString, best * 1000, rate as NSString))
            x = y
        }
        print(String(format: "  total %.1f ms", total * 1000))
        return total
    }

    func run() throws {
        let loaded = try LoadedModel(path: model)
        let threads = ThreadPool.current.threadCount
        // SGEMM at the decoder's largest shape class (C_out 256, C_in·9 = 576, a 192×128 plane).
        let (m, n, k) = (256, 24_576, 576)
        var rng = Xoshiro256(seed: 1)
        let a = Tensor.randomNormal([m, k], std: 1, using: &rng), b = Tensor.randomNormal([k, n], std: 1, using: &rng)
        var c = Tensor(shape: [m, n])
        var gemmBest = Double.infinity
        for _ in 0..<repeats {
            gemmBest = min(gemmBest, seconds {
                a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                    Kernels.gemm(transposeA: false, transposeB: false, m: m, n: n, k: k, a: pa.baseAddress!, lda: k,
                                 b: pb.baseAddress!, ldb: n, beta: 0, c: pc.baseAddress!, ldc: n)
                } } }
            })
        }
        print(String(format: "%@, %d threads, OPENBLAS_CORETYPE=%@: SGEMM %d×%d×%d %.1f GFLOP/s", cpuModelName() as NSString, threads,
                     (ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)") as NSString, m, n, k,
                     2 * Double(m * n * k) / gemmBest / 1e9))
        let image = Tensor.randomNormal([1, 3, height, width], std: 0.2, using: &rng)
        let (encoder, decoder) = loaded.vq.map { ($0.encoder, $0.decoder) } ?? (loaded.gaussian!.encoder, loaded.gaussian!.decoder)
        _ = profile("encoder", encoder, input: image)
        let latents = Tensor.randomNormal([1, loaded.config.latentChannels, height / 8, width / 8], std: 1, using: &rng)
        _ = profile("decoder", decoder, input: latents)
    }
}

LayerBench.main()
