// TokenDump: a VQ model's token grids for a folder of PNGs, as NumPy files, for studies of the
// token statistics outside Swift (the learned-prior measurements in docs/design/prior.md).
//
// Writes into --out: `codebooks.npy` (float32 [S, K, D]), one `<image>.tokens.npy` per image
// (uint16 [S, H/8, W/8], the tokens `vqz encode` writes at the top level, with the model's λ for
// that level unless --lambda is given), and `index.json` (per image: file, width, height, whether it
// is one of the held-out validation images of `vqz train`: every 25th file by sorted name).
//
//   swift build -c release --product TokenDump
//   .build/release/TokenDump -m codecs/rvqvae-k256-d32-f8-v2.vqzm --data ../shared/data/train --out /tmp/tokens --every 4

import ArgumentParser
import Codec
import Container
import Foundation
import Imaging
import TensorCore

struct TokenDump: ParsableCommand {
    @Option(name: .shortAndLong, help: "The VQ .vqzm model file.") var model: String
    @Option(help: "Folder of PNGs.") var data: String
    @Option(help: "Output folder (created).") var out: String
    @Option(help: "Dump every n-th training image (the held-out ones are always dumped).") var every = 1
    @Option(help: "Token-choice λ (default: the model's for its top level).") var lambda: Float?

    func run() throws {
        let loaded = try LoadedModel(path: model)
        guard let vq = loaded.vq else { throw ValidationError("\(model) is not a VQ model") }
        let c = loaded.config
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let books = vq.quantizer.codebooks.flatMap(\.scalars)
        let bookBytes = books.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        try FileIO.writeAtomically(NPY.encode(descr: "<f4", shape: [c.stages, c.codebookSize, c.latentChannels], payload: bookBytes),
                                   to: out + "/codebooks.npy", overwrite: true)
        let names = try PNGFolder.names(in: data)  // the same files, in the same order, as vqz train
        let l = lambda ?? loaded.defaultLambda(level: c.stages)
        var index: [[String: String]] = []
        for (i, name) in names.enumerated() {
            let heldOut = i % 25 == 0
            guard heldOut || i % every == 0 else { continue }
            let image = try PNGDecoder.decode(try FileIO.read(data + "/" + name)).image
            let x = ImageCodec.paddedTensor(image, factor: 8)
            let gh = x.shape[2] / 8, gw = x.shape[3] / 8
            let tokens = vq.quantizer.quantize(vq.latents(x), levels: c.stages, lambda: l)
            let stem = (name as NSString).deletingPathExtension
            try FileIO.writeAtomically(NPY.encode(tokens.joined().map { UInt16($0) }, shape: [c.stages, gh, gw]),
                                       to: "\(out)/\(stem).tokens.npy", overwrite: true)
            index.append(["file": stem, "width": "\(image.width)", "height": "\(image.height)", "held_out": heldOut ? "1" : "0"])
            FileHandle.standardError.write(Data("\(name) \(gw)×\(gh)\(heldOut ? " (held out)" : "")\n".utf8))
        }
        let json = try JSONSerialization.data(withJSONObject: ["model": model, "lambda": "\(l)", "images": index], options: [.prettyPrinted, .sortedKeys])
        try FileIO.writeAtomically(Array(json), to: out + "/index.json", overwrite: true)
    }
}

TokenDump.main()
