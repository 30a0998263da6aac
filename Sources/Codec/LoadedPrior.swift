// A token prior file (`NAME.vqzp`, beside its model) ready to code: the integer prior bound to its
// model's codebooks. `vqz encode --entropy prior` finds it beside the model; `vqz decode` finds it
// by the `Prior_ID` the file names (docs/FORMAT.md, "Prior-coded token section").

import Container
import Foundation
import TensorCore
import TokenPrior

public final class LoadedPrior: TokenPriorCoding, @unchecked Sendable {
    public let priorID: ModelID
    public let prior: IntegerPrior
    public let file: PriorFile

    /// - Throws: `CodecError` when the bytes are not a prior file or the prior is not `model`'s.
    public convenience init(bytes: [UInt8], name: String, model: LoadedModel) throws {
        try self.init(file: LoadedPrior.parse(bytes, name: name), id: ModelID(modelFile: bytes), name: name, model: model)
    }

    /// The largest prior file read (bytes).
    public static let maxFileBytes = 1 << 28

    /// The prior file at `path` (e.g. `path(forModel:)`), read and bound to `model`.
    /// - Throws: the read's error, or `CodecError` as `init(bytes:name:model:)`.
    public convenience init(path: String, model: LoadedModel) throws {
        try self.init(bytes: try FileIO.read(path, maxBytes: LoadedPrior.maxFileBytes), name: path, model: model)
    }

    /// The prior file of `bytes`, parsed and checked (no model needed: this part can run while the
    /// model loads).
    public static func parse(_ bytes: [UInt8], name: String, hashVerified: Bool = false) throws -> PriorFile {
        do { return try PriorFile(bytes: bytes, hashVerified: hashVerified) } catch { throw CodecError("\(name): \(error)") }
    }

    /// A parsed prior file whose bytes hash to `id`, bound to `model`.
    /// - Throws: `CodecError` when the prior is not `model`'s.
    public init(file: PriorFile, id: ModelID, name: String, model: LoadedModel) throws {
        guard let vq = model.vq else { throw CodecError("\(model.name) is a Gaussian model; token priors are for VQ models") }
        guard file.modelID == model.id else {
            throw CodecError("\(name) is the token prior of model \(file.modelID.hex), not of \(model.name) (\(model.id.hex))")
        }
        guard file.codebookSize == vq.quantizer.codebookSize, file.latentChannels == vq.quantizer.dimension,
              file.stages.count <= vq.quantizer.stages else {
            throw CodecError("\(name) does not fit model \(model.name): K \(file.codebookSize), D \(file.latentChannels), \(file.stages.count) stages")
        }
        self.file = file
        priorID = id
        prior = Profile.measure("prior load: bind to the model") { file.prior(codebooks: vq.quantizer.codebooks.map { $0.scalars }) }
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
        let (file, path) = try priorFile(withID: id, modelPaths: modelPaths)
        return try LoadedPrior(file: file, id: id, name: path, model: model)
    }

    /// The prior file whose id is `id`, parsed (beside the given model paths first, then in the
    /// folders), and its path: the part of finding a prior that does not need its model.
    public func priorFile(withID id: ModelID, modelPaths: [String] = []) throws -> (file: PriorFile, path: String) {
        let candidates = modelPaths.map(LoadedPrior.path(forModel:)) + priorPaths()
        for path in candidates {
            guard let bytes = Profile.measure("prior load: read", { try? FileIO.read(path, maxBytes: LoadedPrior.maxFileBytes) }),
                  Profile.measure("prior load: hash (SHA-256)", { ModelID(modelFile: bytes) }) == id else { continue }
            return (try Profile.measure("prior load: parse and check") { try LoadedPrior.parse(bytes, name: path, hashVerified: true) }, path)
        }
        throw CodecError("this file's tokens were coded with token prior \(id.hex), which is not among the \(candidates.count) prior file(s) beside the models (\(searchDescription))")
    }
}
