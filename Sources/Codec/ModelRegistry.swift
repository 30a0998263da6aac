// Where models are found: the folders searched for `.vqzm` files, each model's card (its measured
// Kodak figures and whether it is the default), lookup by name or path for encoding and by model id
// for decoding.
//
// Search order (first folder wins when two hold the same name):
//   1. `$VQZ_CODECS`, a colon-separated list of folders; when set, it is the whole search path.
//   2. Otherwise `codecs/` beside the executable, `../share/vqz/codecs` from it (an installed
//      layout), and `codecs/` in each of the executable's first five ancestor folders (a build tree:
//      `.build/release/vqz` finds the repository's `codecs/`).
// `-m PATH` always works on top of these.

import Container
import Foundation

/// A model's card: the figures `vqz models` shows, written by `vqz eval --card`.
///
/// Stored as `NAME.card.json` beside `NAME.vqzm`.
public struct ModelCard: Codable, Sendable, Equatable {
    /// One rate level measured on a folder.
    public struct Level: Codable, Sendable, Equatable {
        public var level: Int
        public var bpp: Double
        public var psnr: Double
        public init(level: Int, bpp: Double, psnr: Double) {
            self.level = level
            self.bpp = bpp
            self.psnr = psnr
        }
    }

    /// Whether this is the model `vqz encode` uses without `-m`.
    public var isDefault: Bool
    /// The model id the figures were measured with (a card for another file is ignored).
    public var modelID: String
    /// Which images the figures are averaged over (`kodak`: the 24 Kodak images).
    public var images: String
    public var levels: [Level]

    public init(isDefault: Bool, modelID: String, images: String, levels: [Level]) {
        self.isDefault = isDefault
        self.modelID = modelID
        self.images = images
        self.levels = levels
    }

    enum CodingKeys: String, CodingKey {
        case isDefault = "default"
        case modelID = "model_id"
        case images
        case levels
    }
}

/// A model file found on the search path.
public struct ModelEntry: Sendable {
    /// The file name without `.vqzm`.
    public var name: String
    public var path: String

    public init(path: String) {
        self.name = Self.name(forPath: path)
        self.path = path
    }

    /// How a model file is called: its file name without `.vqzm`.
    public static func name(forPath path: String) -> String {
        let base = (path as NSString).lastPathComponent
        return base.hasSuffix(".vqzm") ? String(base.dropLast(5)) : base
    }

    /// The card's path for a model file path.
    public static func cardPath(forModel path: String) -> String {
        (path.hasSuffix(".vqzm") ? String(path.dropLast(5)) : path) + ".card.json"
    }

    /// The card beside the model as written, without checking whose it is.
    var storedCard: ModelCard? {
        FileManager.default.contents(atPath: Self.cardPath(forModel: path)).flatMap { try? JSONDecoder().decode(ModelCard.self, from: $0) }
    }

    /// The card beside the model, when it parses and names `id` (the id of this very file; a card
    /// left over from another file is ignored).
    public func card(for id: ModelID) -> ModelCard? {
        storedCard.flatMap { $0.modelID == id.hex ? $0 : nil }
    }
}

/// The models available to the CLI.
public struct ModelRegistry: Sendable {
    /// Folders searched, in order; only existing ones.
    public var directories: [String]

    public init(directories: [String]) {
        var seen = Set<String>()
        self.directories = directories.filter { dir in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else { return false }
            return seen.insert(URL(fileURLWithPath: dir).standardizedFileURL.path).inserted
        }
    }

    /// The search path for this process (see the top of this file).
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> ModelRegistry {
        if let list = environment["VQZ_CODECS"] {
            return ModelRegistry(directories: list.split(separator: ":").map(String.init))
        }
        var dirs: [String] = []
        if let exe = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            var dir = exe.deletingLastPathComponent()
            dirs.append(dir.appendingPathComponent("codecs").path)
            dirs.append(dir.appendingPathComponent("../share/vqz/codecs").standardizedFileURL.path)
            for _ in 0..<5 {
                dir = dir.deletingLastPathComponent()
                dirs.append(dir.appendingPathComponent("codecs").path)
                if dir.path == "/" { break }
            }
        }
        return ModelRegistry(directories: dirs)
    }

    /// Every model file (`*.vqzm`, training checkpoints `*.ckpt.vqzm` excluded), sorted by name.
    public func entries() -> [ModelEntry] {
        var byName: [String: ModelEntry] = [:]
        for dir in directories {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            for file in files.sorted() where file.hasSuffix(".vqzm") && !file.hasSuffix(".ckpt.vqzm") {
                let name = String(file.dropLast(5))
                if byName[name] != nil { continue }
                byName[name] = ModelEntry(path: (dir as NSString).appendingPathComponent(file))
            }
        }
        return byName.values.sorted { $0.name < $1.name }
    }

    /// The default model: the one whose card says so (the first by name if several do), else the
    /// first model by name. Only a model whose card claims the mark is read to check the card's id.
    public func defaultEntry() -> ModelEntry? {
        let all = entries()
        return all.first { entry in
            guard entry.storedCard?.isDefault == true, let bytes = try? FileIO.read(entry.path, maxBytes: 1 << 30) else { return false }
            return entry.card(for: ModelID(modelFile: bytes)) != nil
        } ?? all.first
    }

    /// The model `-m` names: an existing file path, or a name from `entries()`.
    public func resolve(_ nameOrPath: String) throws -> ModelEntry {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: nameOrPath, isDirectory: &isDirectory), !isDirectory.boolValue {
            return ModelEntry(path: nameOrPath)
        }
        let name = nameOrPath.hasSuffix(".vqzm") ? String(nameOrPath.dropLast(5)) : nameOrPath
        if !nameOrPath.contains("/"), let entry = entries().first(where: { $0.name == name }) { return entry }
        throw CodecError("no model \"\(nameOrPath)\": it is neither a file nor one of the models in \(searchDescription) (see vqz models)")
    }

    /// The model `-m` names (`resolve`), or the default model when there is no `-m`.
    public func resolveOrDefault(_ nameOrPath: String?) throws -> ModelEntry {
        if let nameOrPath { return try resolve(nameOrPath) }
        guard let found = defaultEntry() else {
            throw CodecError("no model found in \(searchDescription); set VQZ_CODECS or pass -m MODEL.vqzm")
        }
        return found
    }

    /// The models whose card claims `id` (unchecked: a hint — the caller still hashes the file).
    /// Finding a model by id hashes each file tried, so trying these first saves hashing every
    /// model that sorts before it.
    public func hintedPaths(for id: ModelID) -> [String] {
        entries().filter { $0.storedCard?.modelID == id.hex }.map(\.path)
    }

    /// Model paths to try for `id`, best guess first: `hintedPaths`, then the rest in name order.
    public func candidatePaths(for id: ModelID) -> [String] {
        let hinted = hintedPaths(for: id)
        return hinted + entries().map(\.path).filter { !hinted.contains($0) }
    }

    /// The model whose id is `id`: first among `extraPaths`, then on the search path.
    public func model(withID id: ModelID, extraPaths: [String] = []) throws -> LoadedModel {
        let candidates = extraPaths + candidatePaths(for: id)
        for path in candidates {
            guard let bytes = try? FileIO.read(path, maxBytes: 1 << 30), ModelID(modelFile: bytes) == id else { continue }
            return try LoadedModel(bytes: bytes, name: ModelEntry.name(forPath: path))
        }
        throw CodecError("this file needs model \(id.hex), which is not among the \(candidates.count) model(s) in \(searchDescription)\(extraPaths.isEmpty ? "" : " or given with -m"); pass its .vqzm file with -m")
    }

    /// The folders, for messages.
    public var searchDescription: String {
        directories.isEmpty ? "no model folder (set VQZ_CODECS or use -m)" : directories.joined(separator: ", ")
    }
}
