// Training data: a folder of PNGs decoded once into memory, served as seeded random crops with
// random horizontal flips. A fixed, deterministic subset of the files is held out for validation.

import Container
import Foundation
import Imaging
import TensorCore

/// Why training data could not be loaded.
public struct DatasetError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// RGB images held in memory, with crops drawn from them.
public struct ImageDataset: Sendable {
    /// One decoded image, 8-bit RGB.
    public struct Image: Sendable {
        public var name: String
        public var width: Int
        public var height: Int
        public var rgb: [UInt8]

        public init(name: String, width: Int, height: Int, rgb: [UInt8]) {
            precondition(rgb.count == width * height * 3, "ImageDataset.Image: \(rgb.count) samples for \(width)×\(height)")
            self.name = name
            self.width = width
            self.height = height
            self.rgb = rgb
        }
    }

    public var images: [Image]

    public init(images: [Image]) { self.images = images }

    /// Loads every PNG of `directory` (`PNGFolder`'s rule, sorted by name) whose sides are at least `minSide`.
    ///
    /// - Parameter holdOutEvery: every n-th file (by sorted name, starting with the first) goes to
    ///   the validation set instead; 0 keeps everything for training.
    /// - Returns: training and validation sets.
    public static func load(directory: String, minSide: Int, holdOutEvery: Int) throws -> (train: ImageDataset, validation: ImageDataset) {
        let names: [String]
        do { names = try PNGFolder.names(in: directory) } catch { throw DatasetError("\(error)") }
        guard !names.isEmpty else { throw DatasetError("no PNG files in \(directory)") }
        var train: [Image] = [], validation: [Image] = []
        for (i, name) in names.enumerated() {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path) else { throw DatasetError("\(path): cannot be read") }
            let image: PixelImage
            do { image = try PNGDecoder.decode([UInt8](data)).image } catch { throw DatasetError("\(path): \(error)") }
            guard image.width >= minSide, image.height >= minSide else { continue }
            let entry = Image(name: name, width: image.width, height: image.height, rgb: image.rgb)
            if holdOutEvery > 0 && i % holdOutEvery == 0 { validation.append(entry) } else { train.append(entry) }
        }
        guard !train.isEmpty else { throw DatasetError("no training image in \(directory) is at least \(minSide)×\(minSide)") }
        return (ImageDataset(images: train), ImageDataset(images: validation))
    }

    /// A batch `[B, 3, crop, crop]` in [0, 1]: images drawn uniformly, crop positions uniform, and a
    /// horizontal flip with probability ½, all from `rng`.
    public func randomBatch(size: Int, crop: Int, rng: inout some RandomNumberGenerator) -> Tensor {
        var batch = Tensor(shape: [size, 3, crop, crop])
        for b in 0..<size {
            let image = images[Int(rng.next() % UInt64(images.count))]
            let x0 = Int(rng.next() % UInt64(image.width - crop + 1))
            let y0 = Int(rng.next() % UInt64(image.height - crop + 1))
            let flip = rng.next() & 1 == 1
            write(image, x0: x0, y0: y0, crop: crop, flip: flip, into: &batch, at: b)
        }
        return batch
    }

    /// The centre crop of each image, `[count, 3, crop, crop]`: the fixed validation batch.
    public func centerCrops(crop: Int) -> Tensor {
        var batch = Tensor(shape: [images.count, 3, crop, crop])
        for (b, image) in images.enumerated() {
            write(image, x0: (image.width - crop) / 2, y0: (image.height - crop) / 2, crop: crop, flip: false, into: &batch, at: b)
        }
        return batch
    }

    private func write(_ image: Image, x0: Int, y0: Int, crop: Int, flip: Bool, into batch: inout Tensor, at b: Int) {
        let plane = crop * crop
        batch.withUnsafeMutableBufferPointer { dst in
            for y in 0..<crop {
                for x in 0..<crop {
                    let sx = flip ? x0 + crop - 1 - x : x0 + x
                    let src = ((y0 + y) * image.width + sx) * 3
                    for c in 0..<3 { dst[(b * 3 + c) * plane + y * crop + x] = Float(image.rgb[src + c]) / 255 }
                }
            }
        }
    }

    /// The variance of all pixel values (the loss normaliser `var(data)`), over `samples` crops.
    public func pixelVariance(crop: Int, samples: Int, rng: inout some RandomNumberGenerator) -> Float {
        let batch = randomBatch(size: samples, crop: crop, rng: &rng)
        let mean = batch.mean()
        var s = 0.0
        for v in batch.scalars { s += (Double(v) - mean) * (Double(v) - mean) }
        return Float(s / Double(batch.count))
    }
}

extension ImageDataset {
    /// What identifies a training folder's content: its PNG files (`PNGFolder`'s rule) by name and
    /// size, as a count and a SHA-256 digest (hex) of `name size` lines. A resumed run checks it.
    public static func fingerprint(directory: String) throws -> (files: Int, digest: String) {
        let names: [String]
        do { names = try PNGFolder.names(in: directory) } catch { throw DatasetError("\(error)") }
        var hash = SHA256()
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
            hash.update(Array("\(name) \(size)\n".utf8))
        }
        return (names.count, hash.finalize().map { String(format: "%02x", $0) }.joined())
    }
}
