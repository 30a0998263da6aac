// Token grids in and out, for generative modelling on vqz tokens (`vqz tokens`, `vqz decode X.npy`):
// the exact tokens `vqz encode` writes, and pixels back from any valid grid.

import Container
import Imaging

extension ImageCodec {
    /// The token grid `vqz encode` writes for `image` at `level`: `[level][gridHeight · gridWidth]`
    /// codebook indices, stage 1 first, row-major, with the grid's height and width.
    public static func tokens(_ image: PixelImage, model: LoadedModel, level: Int) throws -> (planes: [[UInt16]], height: Int, width: Int) {
        guard model.vq != nil else { throw CodecError("\(model.name) is a Gaussian model; tokens are the codebook indices of a VQ model") }
        let f = model.config.downsampleFactor
        return (try tokenPlanes(image, model: model, levels: [level])[0],
                BitstreamHeader.gridSize(image.height, factor: f), BitstreamHeader.gridSize(image.width, factor: f))
    }

    /// The image of a token grid (`shape` `[L, h, w]`, or `[h, w]` for one stage; values row-major):
    /// `8w × 8h` pixels (the grid does not record a cropped size), RGB.
    public static func decode(tokens values: [Int], shape: [Int], model: LoadedModel) throws -> PixelImage {
        guard let vq = model.vq else { throw CodecError("\(model.name) is a Gaussian model; token grids decode with a VQ model") }
        let dims = shape.count == 2 ? [1] + shape : shape
        guard dims.count == 3, dims.allSatisfy({ $0 > 0 }) else {
            throw CodecError("a token grid has shape [stages, height, width] or [height, width], not \(shape)")
        }
        let (levels, h, w) = (dims[0], dims[1], dims[2])
        guard model.levels.contains(levels) else {
            throw CodecError("the grid has \(levels) stages; \(model.name) has levels \(model.levels.first!)…\(model.levels.last!)")
        }
        let k = vq.quantizer.codebookSize, f = model.config.downsampleFactor
        if let bad = values.firstIndex(where: { !(0..<k).contains($0) }) {
            throw CodecError("token \(values[bad]) at position \(bad) is not a code of \(model.name) (0…\(k - 1))")
        }
        let file = BitstreamFile(payloadKind: .vqTokens, downsampleFactor: f, imageWidth: w * f, imageHeight: h * f,
                                 level: levels, planeCount: levels, alphabetSizes: [k], modelID: model.id,
                                 symbols: values.map { UInt16($0) })
        let bytes: [UInt8]
        do { bytes = try file.serialized(options: BitstreamWriteOptions(zstdLevel: 1)) } catch { throw CodecError("\(error)") }
        return try decode(bytes, model: model)
    }
}
