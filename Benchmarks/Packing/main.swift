// PackingBench: which token layout and zstd setting makes the smallest .vqz files, per rate level of
// a VQ model on Kodak. For each level it reports the fixed-length rate (log2 K per token), the
// empirical (order-0) entropy of the tokens, and the real token-frame size for:
//   stage-major   all stage-1 tokens, then all stage-2 tokens, … (the format's plane order)
//   position-major  the L tokens of one position together (what a reader would need to reorder)
//   zstd 3 / 19 / 22 on stage-major
//   a zstd dictionary (trained on token streams of training images, never Kodak), zstd 19
//   plane blocks: stage-major with a zstd block boundary after each plane (own Huffman tables)
// With K = 256 every token is one byte, so bit-packing and byte planes are the same layout here.
// Writes Benchmarks/Results/packing.json. Run through `make bench-packing`.
//
//   PackingBench [--model VQZM] [--kodak DIR] [--train DIR] [--train-images N] [--dict-bytes B]

import Codec
import Container
import Foundation
import Imaging
import TensorCore

var options: [String: String] = [:]
var args = Array(CommandLine.arguments.dropFirst())
while args.count >= 2 { options[String(args.removeFirst().drop { $0 == "-" })] = args.removeFirst() }
let modelPath = options["model"] ?? ModelRegistry(directories: ["codecs"]).defaultEntry()?.path ?? "codecs/rvqvae-k256-d32-f8-v2.vqzm"
let kodakDir = options["kodak"] ?? "../shared/data/kodak"
let trainDir = options["train"] ?? "../shared/data/train"
let trainImages = Int(options["train-images"] ?? "") ?? 60
let dictBytes = Int(options["dict-bytes"] ?? "") ?? 32_768

func pngs(_ dir: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".png") }.sorted().map { (dir as NSString).appendingPathComponent($0) }
}

/// Per image: the token planes of every stage (stage-major), and the pixel count.
func tokens(_ paths: [String], model: LoadedModel) throws -> [(planes: [[UInt8]], pixels: Int)] {
    let deepest = model.levels.last!
    return try paths.map { path in
        let image = try PNGDecoder.decode(FileIO.read(path)).image
        let file = try ImageCodec.encode(image, model: model, level: deepest)
        let (header, content) = try BitstreamFile.parse(file)
        let n = header.symbolsPerPlane
        return ((0..<deepest).map { p in content.symbols[p * n..<(p + 1) * n].map { UInt8($0) } }, image.width * image.height)
    }
}

do {
    let model = try LoadedModel(path: modelPath)
    precondition(model.vq != nil && model.config.codebookSize <= 256, "PackingBench measures VQ models with K ≤ 256")
    print("model \(model.name): encoding Kodak and \(trainImages) training images …")
    let kodak = try tokens(try pngs(kodakDir), model: model)
    let train = try tokens(Array(try pngs(trainDir).prefix(trainImages)), model: model)

    func stageMajor(_ planes: [[UInt8]], _ level: Int) -> [UInt8] { Array(planes.prefix(level).joined()) }
    func positionMajor(_ planes: [[UInt8]], _ level: Int) -> [UInt8] {
        let n = planes[0].count
        var out = [UInt8](repeating: 0, count: n * level)
        for i in 0..<n { for l in 0..<level { out[i * level + l] = planes[l][i] } }
        return out
    }
    // One dictionary for the model (all levels), from training-image token streams cut into
    // 4 KiB samples.
    var samples: [[UInt8]] = []
    for image in train {
        for level in model.levels {
            let stream = stageMajor(image.planes, level)
            for start in stride(from: 0, to: stream.count, by: 4096) { samples.append(Array(stream[start..<min(stream.count, start + 4096)])) }
        }
    }
    let dictionary = try Zstd.trainDictionary(samples: samples, capacity: dictBytes)
    print("dictionary: \(dictionary.count) bytes from \(samples.count) samples")

    let variants = ["stage_major_z19_plane_blocks", "stage_major_z19_plane_blocks_dict", "stage_major_z19", "position_major_z19", "stage_major_z3", "stage_major_z22", "stage_major_z19_dict"]
    var rows: [String] = []
    print("level   fixed  entropy   " + variants.map { $0.padding(toLength: 20, withPad: " ", startingAt: 0) }.joined() + " (bpp of the token frame)")
    for level in model.levels {
        var bits = [Double](repeating: 0, count: variants.count)
        var fixed = 0.0, entropy = 0.0
        for image in kodak {
            let px = Double(image.pixels)
            let sm = stageMajor(image.planes, level), pm = positionMajor(image.planes, level)
            fixed += Double(sm.count) * log2(Double(model.config.codebookSize)) / px
            entropy += image.planes.prefix(level).reduce(0.0) { $0 + empiricalEntropyBits($1[...]) } / px
            let planeSizes = [Int](repeating: image.planes[0].count, count: level)
            let sizes = [
                try Zstd.compress(sm, level: 19, checksum: true, segments: planeSizes).count,
                try Zstd.compress(sm, level: 19, checksum: true, dictionary: dictionary, segments: planeSizes).count,
                try Zstd.compress(sm, level: 19, checksum: true).count,
                try Zstd.compress(pm, level: 19, checksum: true).count,
                try Zstd.compress(sm, level: 3, checksum: true).count,
                try Zstd.compress(sm, level: 22, checksum: true).count,
                try Zstd.compress(sm, level: 19, checksum: true, dictionary: dictionary).count,
            ]
            for (i, s) in sizes.enumerated() { bits[i] += 8 * Double(s) / px }
        }
        let k = Double(kodak.count)
        print(String(format: "%5d  %6.4f  %6.4f   ", level, fixed / k, entropy / k) + bits.map { String(format: "%-20.4f", $0 / k) }.joined())
        rows.append(String(format: "{\"level\": %d, \"bpp_fixed\": %.5f, \"bpp_entropy\": %.5f, ", level, fixed / k, entropy / k)
                    + zip(variants, bits).map { String(format: "\"%@\": %.5f", $0, $1 / k) }.joined(separator: ", ") + "}")
    }
    let json = "{\"model\": \"\(model.name)\", \"images\": \"\(kodakDir)\", \"dictionary_bytes\": \(dictionary.count), \"dictionary_train_images\": \(train.count), \"note\": \"bpp of the token frame only (header and alpha excluded), averaged over images\", \"levels\": [\n  " + rows.joined(separator: ",\n  ") + "]}\n"
    try FileIO.writeAtomically(Array(json.utf8), to: options["out"] ?? "Benchmarks/Results/packing.json", overwrite: true)
} catch {
    FileHandle.standardError.write(Data("PackingBench: \(error)\n".utf8))
    exit(1)
}
