// A model file turned into a ready network: configuration from the metadata (never from shapes),
// parameters and codebooks by name, the model id from the file's bytes.

import Container
import Foundation
import Models
import NN
import TensorCore

/// Why a model file cannot be used.
public struct ModelLoadError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A model ready to encode and decode.
///
/// Shared by the workers of a batch: encoding and decoding run the layers in `.inference` mode,
/// which keeps nothing in the layers (kernel scratch is per thread), so concurrent use only reads.
public final class LoadedModel: @unchecked Sendable {
    public let name: String
    public let id: ModelID
    public let config: ModelConfig
    public let metadata: [String: String]
    public let vq: VQVAE?
    public let gaussian: GaussianVAE?

    /// Builds the network that `bytes` (a `.vqzm` file) describes.
    ///
    /// - Parameter name: how the user refers to the model (its file name without extension).
    /// `knownID`: the id of `bytes` when the caller has just hashed them (the model cache), so they
    /// are not hashed twice.
    public init(bytes: [UInt8], name: String, knownID: ModelID? = nil) throws {
        let file: ModelFile
        do {
            file = try Profile.measure("model load: parse and check") {
                let file = try ModelFile(bytes: bytes, hashVerified: knownID != nil)
                try file.checkFinite()
                return file
            }
        } catch { throw ModelLoadError("\(name): \(error)") }
        let strings = file.stringMetadata
        let config: ModelConfig
        do { config = try ModelConfig(metadata: strings) } catch { throw ModelLoadError("\(name): \(error)") }
        self.name = name
        self.id = knownID ?? Profile.measure("model load: hash (SHA-256)") { ModelID(modelFile: bytes) }
        self.config = config
        self.metadata = strings
        switch config.family {
        case .vq:
            let model = Profile.measure("model load: build the network") {
                var noDraws = NoDraws()
                return VQVAE(config: config, rng: &noDraws)
            }
            do {
                try Profile.measure("model load: weights") {
                    try loadParameters(model.parameters, from: Self.parametersOnly(file), architecture: config.architecture)
                }
            } catch {
                throw ModelLoadError("\(name): \(error)")
            }
            for l in 0..<config.stages {
                let tensorName = "vq.codebook.\(l)"
                guard let a = file.array(named: tensorName), let floats = a.floats else {
                    throw ModelLoadError("\(name): the model file has no tensor \(tensorName)")
                }
                guard a.shape == [config.codebookSize, config.latentChannels] else {
                    throw ModelLoadError("\(name): tensor \(tensorName) has shape \(a.shape), the configuration needs [\(config.codebookSize), \(config.latentChannels)]")
                }
                if model.quantizer.hasZeroCode(stage: l) {
                    let d = config.latentChannels
                    guard floats[((config.codebookSize - 1) * d)...].allSatisfy({ $0 == 0 }) else {
                        throw ModelLoadError("\(name): codec.zero_code_from is \(config.zeroCodeFrom) but code \(config.codebookSize - 1) of stage \(l + 1) is not the zero vector")
                    }
                }
                model.quantizer.codebooks[l] = Tensor(shape: a.shape, scalars: floats)
            }
            model.quantizer.initialized = true
            vq = model
            gaussian = nil
        case .gaussian:
            var noDraws = NoDraws()
            let model = GaussianVAE(config: config, rng: &noDraws)
            do { try loadParameters(model.parameters, from: Self.parametersOnly(file), architecture: config.architecture) } catch {
                throw ModelLoadError("\(name): \(error)")
            }
            gaussian = model
            vq = nil
        }
    }

    /// Loads a model file from disk.
    public convenience init(path: String) throws {
        try self.init(bytes: try FileIO.read(path, maxBytes: 1 << 30), name: ModelEntry.name(forPath: path))
    }

    /// The file without the arrays that are not layer parameters (codebooks, EMA and optimizer state).
    static func parametersOnly(_ file: ModelFile) -> ModelFile {
        ModelFile(metadata: file.metadata, arrays: file.arrays.filter { !$0.name.hasPrefix("vq.") && !$0.name.hasPrefix("adam.") })
    }

    /// The entropy-constrained token choice `ImageCodec.encode` uses at `level` when not told
    /// (VQ models: the model's `codec.lambdas`, else 0, the nearest codes).
    public func defaultLambda(level: Int) -> Float {
        config.lambda(level: level)
    }

    /// Rate levels, 1 = smallest file.
    public var levels: [Int] { config.levels }
}
