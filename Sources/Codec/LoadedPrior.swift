// A token prior file (`NAME.vqzp`, beside its model) ready to code: the integer prior bound to its
// model's codebooks. `vqz encode --entropy prior` finds it beside the model; `vqz decode` finds it
// by the `Prior_ID` the file names (docs/FORMAT.md, "Prior-coded token section").

import Container
import Foundation
import TokenPrior

public final class LoadedPrior: TokenPriorCoding, @unchecked Sendable {
    public let priorID: ModelID
    public let prior: IntegerPrior
    public let file: PriorFile

    /// - Throws: `CodecError` when the bytes are not a prior file or the prior is not `model`'s.
    public init(bytes: [UInt8], name: String, model: LoadedModel) throws {
        let file: PriorFile
        do { file = try PriorFile(bytes: bytes) } catch { throw CodecError("\(name): \(error)") }
        guard let vq = model.vq else { throw CodecError("\(model.name) is a Gaussian model; token priors are for VQ models") }
        guard file.modelID == model.id else {
            throw CodecError("\(name) is the token prior of model \(file.modelID.hex), not of \(model.name) (\(model.id.hex))")
        }
        guard file.codebookSize == vq.quantizer.codebookSize, file.latentChannels == vq.quantizer.dimension,
              file.stages.count <= vq.quantizer.stages else {
            throw CodecError("\(name) does not fit model \(model.name): K \(file.codebookSize), D \(file.latentChannels), \(file.stages.count) stages")
        }
        self.file = file
        priorID = ModelID(modelFile: bytes)
        prior = file.prior(codebooks: vq.quantizer.codebooks.map { $0.scalars })
    }

    /// The levels this prior codes: 1 … its stage count.
    public var stages: Int { prior.stages.count }

    public func encodeStreams(planes: [[UInt16]], codedLevel: Int, height: Int, width: Int) throws -> [[UInt8]] {
        guard codedLevel <= prior.stages.count, planes.count <= codedLevel else {
            throw CodecError("the token prior codes levels 1…\(prior.stages.count), not \(codedLevel)")
        }
        return prior.encode(planes: planes, level: codedLevel, height: height, width: width)
    }

    public func decodeStreams(_ streams: [ArraySlice<UInt8>], codedLevel: Int, height: Int, width: Int) throws -> [[UInt16]] {
        try prior.decode(streams: streams, level: codedLevel, height: height, width: width)
    }

    /// The prior file beside a model file: `NAME.vqzm` → `NAME.vqzp`.
    public static func path(forModel path: String) -> String {
        (path.hasSuffix(".vqzm") ? String(path.dropLast(5)) : path) + PriorFile.fileExtension
    }
}

extension ModelRegistry {
    /// Every `.vqzp` file in the model folders.
    public func priorPaths() -> [String] {
        var out: [String] = []
        for dir in directories {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            for file in files.sorted() where file.hasSuffix(PriorFile.fileExtension) {
                out.append((dir as NSString).appendingPathComponent(file))
            }
        }
        return out
    }

    /// The prior whose id is `id`, for `model`: beside the given model paths first, then in the folders.
    public func prior(withID id: ModelID, model: LoadedModel, modelPaths: [String] = []) throws -> LoadedPrior {
        let candidates = modelPaths.map(LoadedPrior.path(forModel:)) + priorPaths()
        for path in candidates {
            guard let bytes = try? FileIO.read(path, maxBytes: 1 << 28), ModelID(modelFile: bytes) == id else { continue }
            return try LoadedPrior(bytes: bytes, name: path, model: model)
        }
        throw CodecError("this file's tokens were coded with token prior \(id.hex), which is not among the \(candidates.count) prior file(s) beside the models (\(searchDescription))")
    }
}
