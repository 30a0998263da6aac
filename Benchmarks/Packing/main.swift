// PackingBench: which token layout and zstd setting makes the smallest .vqz files, per rate level of
// a VQ model on Kodak. For each level it reports the fixed-length rate (log2 K per token), the
// empirical (order-0) entropy of the tokens, and the real token-frame size for:
//   stage-major   all stage-1 tokens, then all stage-2 tokens, … (the format's plane order)
//   position-major  the L tokens of one position together (what a reader would need to reorder)
//   zstd 3 / 19 / 22 on stage-major
//   a zstd dictionary (trained on token streams of training images, never Kodak), zstd 19
//   plane blocks: stage-major with a zstd block boundary after each plane (own Huffman tables)
// With K = 256 every token is one byte, so bit-packing and byte planes are the same layout here.
// Each level is measured on the planes `vqz encode` writes at that level (ImageCodec.tokenPlanes):
// with per-level λ, level L is not a prefix of a deeper level's planes.
// Writes Benchmarks/Results/packing.json. Run through `make bench-packing`.
//
//   PackingBench [--model VQZM] [--kodak DIR] [--train DIR] [--train-images N] [--dict-bytes B] [--out FILE]

import ArgumentParser
import Codec
import Container
import Foundation
import Imaging
import TensorCore

struct PackingBench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Token-frame size per layout and zstd setting, per level of a VQ model on Kodak.")

    @Option(help: "The VQ model (.vqzm); default: the default model in codecs/.") var model: String?
    @Option(help: "Folder of the Kodak PNGs.") var kodak = "../shared/data/kodak"
    @Option(help: "Folder of training PNGs for the zstd dictionary.") var train = "../shared/data/train"
    @Option(help: "Training images the dictionary is trained on.") var trainImages = 60
    @Option(help: "Dictionary capacity in bytes.") var dictBytes = 32_768
    @Option(help: "The JSON file to write.") var out = "Benchmarks/Results/packing.json"

    func validate() throws {
        guard trainImages > 0, dictBytes > 0 else { throw ValidationError("--train-images and --dict-bytes must be positive.") }
    }

    func run() throws {
        let modelPath = model ?? ModelRegistry(directories: ["codecs"]).defaultEntry()?.path ?? "codecs/rvqvae-k256-d32-f8-v2.vqzm"
        do { try measure(modelPath: modelPath) } catch {
            FileHandle.standardError.write(Data("PackingBench: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    func pngs(_ dir: String) throws -> [String] {
        try PNGFolder.paths(in: dir)
    }

    /// Per image: for each level, the token planes its file holds (stage-major), and the pixel count.
    func tokens(_ paths: [String], model: LoadedModel) throws -> [(levels: [[[UInt8]]], pixels: Int)] {
        try paths.map { path in
            let image = try PNGDecoder.decode(FileIO.read(path)).image
            let planes = try ImageCodec.tokenPlanes(image, model: model, levels: model.levels)
            return (planes.map { $0.map { $0.map { UInt8($0) } } }, image.width * image.height)
        }
    }

    func measure(modelPath: String) throws {
        let model = try LoadedModel(path: modelPath)
        guard model.vq != nil && model.config.codebookSize <= 256 else { throw CodecError("PackingBench measures VQ models with K ≤ 256") }
        print("model \(model.name): encoding Kodak and \(trainImages) training images …")
        let kodak = try tokens(try pngs(self.kodak), model: model)
        let train = try tokens(Array(try pngs(self.train).prefix(trainImages)), model: model)

        func stageMajor(_ planes: [[UInt8]]) -> [UInt8] { Array(planes.joined()) }
        func positionMajor(_ planes: [[UInt8]]) -> [UInt8] {
            let n = planes[0].count, level = planes.count
            var out = [UInt8](repeating: 0, count: n * level)
            for i in 0..<n { for l in 0..<level { out[i * level + l] = planes[l][i] } }
            return out
        }
        // One dictionary for the model (all levels), from training-image token streams cut into
        // 4 KiB samples.
        var samples: [[UInt8]] = []
        for image in train {
            for planes in image.levels {
                let stream = stageMajor(planes)
                for start in stride(from: 0, to: stream.count, by: 4096) { samples.append(Array(stream[start..<min(stream.count, start + 4096)])) }
            }
        }
        let dictionary = try Zstd.trainDictionary(samples: samples, capacity: dictBytes)
        print("dictionary: \(dictionary.count) bytes from \(samples.count) samples")

        let variants = ["stage_major_z19_plane_blocks", "stage_major_z19_plane_blocks_dict", "stage_major_z19", "position_major_z19", "stage_major_z3", "stage_major_z22", "stage_major_z19_dict"]
        var rows: [Row] = []
        print("level   fixed  entropy   " + variants.map { $0.padding(toLength: 20, withPad: " ", startingAt: 0) }.joined() + " (bpp of the token frame)")
        for (index, level) in model.levels.enumerated() {
            var bits = [Double](repeating: 0, count: variants.count)
            var fixed = 0.0, entropy = 0.0
            for image in kodak {
                let px = Double(image.pixels)
                let planes = image.levels[index]
                let sm = stageMajor(planes), pm = positionMajor(planes)
                fixed += Double(sm.count) * log2(Double(model.config.codebookSize)) / px
                entropy += planes.reduce(0.0) { $0 + empiricalEntropyBits($1[...]) } / px
                let planeSizes = [Int](repeating: planes[0].count, count: level)
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
            rows.append(Row(level: level, fixed: fixed / k, entropy: entropy / k, variants: Dictionary(uniqueKeysWithValues: zip(variants, bits.map { $0 / k }))))
        }
        let result = Result(model: model.name, images: self.kodak, dictionaryBytes: dictionary.count, dictionaryTrainImages: train.count,
                            note: "bpp of the token frame only (header and alpha excluded), averaged over images; each level's own planes", levels: rows)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try FileIO.writeAtomically(Array(try encoder.encode(result)) + [10], to: out, overwrite: true)
    }

    struct Row: Encodable {
        var level: Int
        var fixed, entropy: Double
        var variants: [String: Double]
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(level, forKey: Key(stringValue: "level"))
            try c.encode((fixed * 1e5).rounded() / 1e5, forKey: Key(stringValue: "bpp_fixed"))
            try c.encode((entropy * 1e5).rounded() / 1e5, forKey: Key(stringValue: "bpp_entropy"))
            for (name, v) in variants { try c.encode((v * 1e5).rounded() / 1e5, forKey: Key(stringValue: name)) }
        }
    }

    struct Result: Encodable {
        var model, images: String
        var dictionaryBytes, dictionaryTrainImages: Int
        var note: String
        var levels: [Row]
        enum CodingKeys: String, CodingKey {
            case model, images, dictionaryBytes = "dictionary_bytes", dictionaryTrainImages = "dictionary_train_images", note, levels
        }
    }
}

PackingBench.main()
