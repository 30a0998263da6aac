// Many files per call: the inputs of `vqz encode|decode|tokens a b folder/ --files-from LIST` turned
// into (input, output) jobs, a deterministic shard of them (`--shard I/N`), and a runner that
// spreads the jobs over worker threads with one kernel thread pool per worker, so file-level and
// per-image parallelism never add up to more threads than asked for.
//
// Naming: a file given on the command line writes `OUT/<its name>`; a file found in a folder
// argument writes `OUT/<its path relative to that folder>` (sub-folders with `-r`); a list entry
// (`--files-from`) writes `OUT/<the entry>` when the entry is a relative path without `..`, else
// `OUT/<its name>`. Without an output folder every output lands beside its input. Two inputs that
// would write the same output are refused before any work is done.

import Container
import Foundation
import Imaging
import Synchronization
import TensorCore
import TokenPrior

/// One input and the output it writes.
public struct BatchJob: Sendable, Equatable {
    public var input: String
    public var output: String
    public init(input: String, output: String) {
        self.input = input
        self.output = output
    }
}

/// Why a batch cannot be planned (one sentence).
public struct BatchError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// `--shard I/N`: the jobs whose input hashes to `I` modulo `N` (0 ≤ I < N).
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) throws(BatchError) {
        guard count >= 1, (0..<count).contains(index) else {
            throw BatchError("--shard \(index)/\(count): I must be in 0…N−1 and N at least 1")
        }
        self.index = index
        self.count = count
    }

    /// Parses `I/N`.
    public init(parsing text: String) throws(BatchError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw BatchError("--shard \(text): expected I/N, e.g. 0/4 (0-based, as Kubernetes indexed Jobs and Slurm arrays number tasks)")
        }
        try self.init(index: i, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    /// Whether `input` belongs to this shard: FNV-1a (64-bit) of the input path as listed, modulo
    /// N. It depends on the path only, so a manifest may be reordered or extended without moving
    /// the other files between shards, and every machine agrees.
    public func contains(_ input: String) -> Bool {
        Int(Self.fnv1a(input) % UInt64(count)) == index
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }
}

/// Turning the command line's inputs into jobs.
public enum BatchPlan {
    /// The jobs for `arguments` (files and folders) and `listed` (entries of `--files-from`).
    ///
    /// - Parameters:
    ///   - inputExtensions: the file endings a folder contributes (lower case, e.g. `[".png"]`);
    ///     files named directly are taken whatever their name.
    ///   - outputExtension: replaces the input's extension (`a.png` → `a.vqz`).
    ///   - outputDirectory: where outputs go; nil puts each beside its input.
    ///   - recursive: whether folders contribute their sub-folders' files.
    public static func jobs(arguments: [String], listed: [String] = [], inputExtensions: [String], outputExtension: String,
                            outputDirectory: String?, recursive: Bool) throws(BatchError) -> [BatchJob] {
        var jobs: [(job: BatchJob, origin: String)] = []
        func add(_ input: String, relative: String) {
            let renamed = replacingExtension(relative, among: inputExtensions, with: outputExtension)
            let output = outputDirectory.map { ($0 as NSString).appendingPathComponent(renamed) }
                ?? ((input as NSString).deletingLastPathComponent as NSString).appendingPathComponent((renamed as NSString).lastPathComponent)
            jobs.append((BatchJob(input: input, output: output), input))
        }
        for argument in arguments {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory), isDirectory.boolValue {
                for relative in try files(in: argument, extensions: inputExtensions, recursive: recursive) {
                    add((argument as NSString).appendingPathComponent(relative), relative: relative)
                }
            } else {
                add(argument, relative: (argument as NSString).lastPathComponent)
            }
        }
        for entry in listed {
            let components = entry.split(separator: "/").map(String.init)
            let keepsPath = !entry.hasPrefix("/") && !components.contains("..")
            add(entry, relative: keepsPath ? components.filter { $0 != "." }.joined(separator: "/") : (entry as NSString).lastPathComponent)
        }
        var owner: [String: String] = [:]
        for (job, origin) in jobs {
            let key = URL(fileURLWithPath: job.output).standardizedFileURL.path
            if let first = owner[key] {
                throw BatchError("\(first) and \(origin) would both write \(job.output); give them different names or separate runs")
            }
            owner[key] = origin
        }
        return jobs.map(\.job)
    }

    /// The entries of a `--files-from` list: one path a line, blank lines and trailing `\r` ignored.
    public static func listEntries(_ bytes: [UInt8], name: String) throws(BatchError) -> [String] {
        guard String(validating: bytes, as: UTF8.self) != nil else { throw BatchError("\(name): the file list is not UTF-8 text") }
        // Split on the byte 0x0A: as Characters, "\r\n" is one grapheme and would not split on "\n".
        return bytes.split(separator: 0x0A, omittingEmptySubsequences: true).compactMap { line in
            let path = String(decoding: line.last == 0x0D ? line.dropLast() : line[...], as: UTF8.self)
            return path.isEmpty ? nil : path
        }
    }

    /// Paths relative to `folder` of the files ending in one of `extensions` (any case), hidden
    /// files and folders skipped, sorted by byte order; sub-folders only when `recursive`.
    static func files(in folder: String, extensions: [String], recursive: Bool) throws(BatchError) -> [String] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: folder) else {
            throw BatchError("\(folder): cannot be listed (not a readable folder)")
        }
        var found: [String] = []
        for name in names.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where !name.hasPrefix(".") {
            let path = (folder as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                if recursive { found += try files(in: path, extensions: extensions, recursive: true).map { name + "/" + $0 } }
            } else if extensions.contains(where: { name.lowercased().hasSuffix($0) }) {
                found.append(name)
            }
        }
        return found
    }

    static func replacingExtension(_ name: String, among extensions: [String], with new: String) -> String {
        for old in extensions where name.lowercased().hasSuffix(old) { return String(name.dropLast(old.count)) + new }
        return name + new
    }
}

/// What became of one job.
public struct BatchRecord: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case done, skipped, failed }
    public var input: String
    public var output: String
    public var status: Status
    /// Bytes of the input file and of the output file (nil when failed).
    public var inputBytes: Int?
    public var bytes: Int?
    /// Bits per pixel of the coded file (encode: the output; decode: the input).
    public var bpp: Double?
    public var level: Int?
    public var seconds: Double?
    public var error: String?

    public init(input: String, output: String, status: Status, inputBytes: Int? = nil, bytes: Int? = nil, bpp: Double? = nil,
                level: Int? = nil, seconds: Double? = nil, error: String? = nil) {
        self.input = input
        self.output = output
        self.status = status
        self.inputBytes = inputBytes
        self.bytes = bytes
        self.bpp = bpp
        self.level = level
        self.seconds = seconds
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case input, output, status, inputBytes = "input_bytes", bytes, bpp, level, seconds, error
    }
}

/// Runs jobs on worker threads.
public enum BatchRunner {
    /// How many workers and kernel threads per worker: `jobs` workers at most `threads` in all,
    /// never more workers than jobs; the threads are split evenly (at least one each).
    public static func split(threads: Int, workers: Int?, jobs: Int) -> (workers: Int, threadsPerWorker: Int) {
        let w = max(1, min(workers ?? threads, threads, max(jobs, 1)))
        return (w, max(1, threads / w))
    }

    /// Runs `body` for every job on `workers` threads, each with its own `ThreadPool` of
    /// `threadsPerWorker` threads as `ThreadPool.current`; jobs are taken in order. `progress` is
    /// called (serialized) after each job with the number finished so far and its record.
    ///
    /// - Returns: the records in job order.
    public static func run(_ jobs: [BatchJob], workers: Int, threadsPerWorker: Int,
                           body: @escaping @Sendable (BatchJob) -> BatchRecord,
                           progress: @escaping @Sendable (Int, BatchRecord) -> Void = { _, _ in }) -> [BatchRecord] {
        guard !jobs.isEmpty else { return [] }
        let next = Atomic<Int>(0)
        let state = Mutex<(records: [BatchRecord?], finished: Int)>((Array(repeating: nil, count: jobs.count), 0))
        let workerCount = max(1, min(workers, jobs.count))
        DispatchQueue.concurrentPerform(iterations: workerCount) { _ in
            let pool = threadsPerWorker == ThreadPool.shared.threadCount && workerCount == 1 ? ThreadPool.shared : ThreadPool(threadCount: threadsPerWorker)
            ThreadPool.$current.withValue(pool) {
                while true {
                    let i = next.add(1, ordering: .relaxed).oldValue
                    if i >= jobs.count { break }
                    let record = body(jobs[i])
                    state.withLock { s in
                        s.records[i] = record
                        s.finished += 1
                        progress(s.finished, record)
                    }
                }
            }
        }
        return state.withLock { $0.records.map { $0! } }
    }
}

/// Models found by id: the files given with -m, then the search path, each file read and hashed at
/// most once (in order, stopping at the first match) and each model loaded once per process, so a
/// batch decode pays the search once, not per file. Safe to share between workers.
public final class ModelCache: @unchecked Sendable {
    private struct State {
        var candidates: [String]?
        var scanned = 0
        var paths: [ModelID: String] = [:]
        var loaded: [ModelID: LoadedModel] = [:]
    }
    private let registry: ModelRegistry
    private let extraPaths: [String]
    private let state = Mutex<State>(State())

    public init(registry: ModelRegistry, extraPaths: [String] = []) {
        self.registry = registry
        self.extraPaths = extraPaths
    }

    /// The token prior with `id` for `model` (beside the candidate model files or in the folders),
    /// loaded on first use.
    public func prior(withID id: ModelID, model: LoadedModel) throws -> LoadedPrior {
        if let p = priors.withLock({ $0[id] }) { return p }
        let paths = state.withLock { s in s.paths.compactMap { $0.key == model.id ? $0.value : nil } } + extraPaths
        let p = try registry.prior(withID: id, model: model, modelPaths: paths)
        priors.withLock { $0[id] = p }
        return p
    }
    private let priors = Mutex<[ModelID: LoadedPrior]>([:])

    /// The model with `modelID` and, when `priorID` is given, its token prior: the prior file is
    /// found, read, hashed and parsed on another thread while the model loads (each is several MB to
    /// read and hash), then bound to the model. The model's failure is thrown (as `model(withID:)`'s);
    /// the prior's is returned, for the caller to report like `prior(withID:model:)`'s.
    public func model(withID modelID: ModelID, prior priorID: ModelID?) throws -> (model: LoadedModel, prior: Result<LoadedPrior, any Error>?) {
        guard let priorID, priors.withLock({ $0[priorID] }) == nil else {
            let model = try model(withID: modelID)
            return (model, priorID.map { id in Result { try prior(withID: id, model: model) } })
        }
        // Beside the model its card names (or beside the -m files), then in the folders.
        let paths = extraPaths.isEmpty ? registry.hintedPaths(for: modelID) : extraPaths
        let registry = self.registry
        let found = Background { try registry.priorFile(withID: priorID, modelPaths: paths) }
        let model: LoadedModel
        do { model = try self.model(withID: modelID) } catch {
            _ = try? found.wait()
            throw error
        }
        return (model, Result {
            let (file, path) = try found.wait()
            let prior = try LoadedPrior(file: file, id: priorID, name: path, model: model)
            priors.withLock { $0[priorID] = prior }
            return prior
        })
    }

    /// The model with `id`, loaded on first use.
    public func model(withID id: ModelID) throws -> LoadedModel {
        try state.withLock { s in
            if let model = s.loaded[id] { return model }
            if s.candidates == nil { s.candidates = extraPaths + registry.entries().map(\.path) }
            let candidates = s.candidates!
            var matched: [UInt8]?  // the bytes just hashed, when they are the model asked for
            func hash(_ path: String) {
                guard let bytes = try? FileIO.read(path, maxBytes: 1 << 30) else { return }
                let found = Profile.measure("model load: hash (SHA-256)") { ModelID(modelFile: bytes) }
                if s.paths[found] == nil { s.paths[found] = path }
                if found == id { matched = bytes }
            }
            // First the model whose card claims the id (hashed to check; no other file is read then).
            if s.paths[id] == nil, extraPaths.isEmpty, let hint = registry.hintedPaths(for: id).first { hash(hint) }
            while s.paths[id] == nil && s.scanned < candidates.count {
                s.scanned += 1
                hash(candidates[s.scanned - 1])
            }
            guard let path = s.paths[id] else {
                throw CodecError("this file needs model \(id.hex), which is not among the \(candidates.count) model(s) in \(registry.searchDescription)\(extraPaths.isEmpty ? "" : " or given with -m"); pass its .vqzm file with -m")
            }
            let model = try matched.map { try LoadedModel(bytes: $0, name: ModelEntry.name(forPath: path), knownID: id) } ?? LoadedModel(path: path)
            s.loaded[id] = model
            return model
        }
    }
}

/// `body` run on its own thread from the start, with the caller's kernel thread pool (`--threads`);
/// `wait()` gives its result (or rethrows its error).
public final class Background<T>: @unchecked Sendable {
    private var result: Result<T, any Error>?
    private let done = DispatchSemaphore(value: 0)

    public init(_ body: @escaping () throws -> T) {
        let pool = ThreadPool.current
        nonisolated(unsafe) let body = body  // run once, on that thread only
        Thread { [self] in
            result = Result { try ThreadPool.$current.withValue(pool) { try body() } }
            done.signal()
        }.start()
    }

    /// Blocks until `body` has returned; once only.
    public func wait() throws -> T {
        done.wait()
        return try result!.get()
    }
}
