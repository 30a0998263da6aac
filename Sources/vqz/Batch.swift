// The batch side of `vqz encode|decode|tokens`: several inputs, folders (`-r`), `--files-from`,
// `--shard I/N`, `-j` workers, a progress line on a terminal, a one-line summary, a JSON-lines
// manifest. The planning and the runner are in Codec (Batch.swift); this file prints.

import ArgumentParser
import Codec
import Container
import Foundation
import TensorCore

/// Options every batch-capable command shares.
struct BatchOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Take the files of folder arguments from their sub-folders too (outputs keep the sub-folders).")
    var recursive = false
    @Option(name: .shortAndLong, help: "Files processed at once (default: one per thread).") var jobs: Int?
    @Option(help: "Threads in all (default: $VQZ_THREADS, else every core); split between the -j workers.") var threads: Int?
    @Option(help: "Also process the files listed in this file, one path a line (- for stdin).") var filesFrom: String?
    @Option(help: "Process only shard I of N (0 ≤ I < N) of the inputs, chosen by a hash of each input path.")
    var shard: String?
    @Option(help: "Write a JSON-lines record per file (input, output, status, bytes, bpp, seconds, error) to this file, atomically, at the end.")
    var manifest: String?

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("-j must be at least 1.") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1.") }
        if let shard { do { _ = try Shard(parsing: shard) } catch { throw ValidationError("\(error).") } }
    }

    /// Whether these options ask for batch mode by themselves.
    var forceBatch: Bool { filesFrom != nil || shard != nil || manifest != nil || jobs != nil }

    /// The thread count this call may use.
    var totalThreads: Int { threads ?? ThreadPool.shared.threadCount }

    /// Runs `body` with the kernel pool `--threads` asks for (single-file mode).
    func withThreads<T>(_ body: () throws -> T) rethrows -> T {
        guard let threads, threads != ThreadPool.shared.threadCount else { return try body() }
        return try ThreadPool.$current.withValue(ThreadPool(threadCount: threads), operation: body)
    }
}

/// Whether a command line asks for batch mode: several inputs, a folder, a batch option, or an
/// output that is a folder (existing, or written with a trailing `/`).
func isBatch(inputs: [String], output: String?, options: BatchOptions) -> Bool {
    if inputs.count != 1 || options.forceBatch { return true }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: inputs[0], isDirectory: &isDirectory), isDirectory.boolValue { return true }
    if let output, output.hasSuffix("/") || (FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory) && isDirectory.boolValue) {
        return true
    }
    return false
}

/// One batch: plans the jobs, runs them, prints progress and the summary, writes the manifest.
struct BatchDriver {
    var options: BatchOptions
    var verb: String  // "encoded", "decoded", "tokenized"
    var inputExtensions: [String]
    var outputExtension: String
    var quiet: Bool
    var verbose: Bool
    var json: Bool

    /// The jobs of this command line (folders expanded, list read, shard applied); the output
    /// folder is created.
    func plan(inputs: [String], output: String?) throws -> [BatchJob] {
        if inputs.contains("-") { throw RuntimeFailure("- (stdin) can only be used with a single input, not in a batch") }
        var listed: [String] = []
        if let list = options.filesFrom {
            let bytes = try Streams.read(list, maxBytes: 1 << 30)
            listed = try BatchPlan.listEntries(bytes, name: list == "-" ? "stdin" : list)
        }
        var jobs = try BatchPlan.jobs(arguments: inputs, listed: listed, inputExtensions: inputExtensions,
                                      outputExtension: outputExtension, outputDirectory: output, recursive: options.recursive)
        if let text = options.shard {
            let shard = try Shard(parsing: text)
            jobs = jobs.filter { shard.contains($0.input) }
        }
        if let output {
            do { try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true) } catch {
                throw RuntimeFailure("\(output): the output folder cannot be created")
            }
        }
        return jobs
    }

    /// Runs `body` over `jobs`; returns normally when every file succeeded or was skipped, and
    /// throws exit status 1 after the summary when one failed.
    func run(_ jobs: [BatchJob], body: @escaping @Sendable (BatchJob) -> BatchRecord) throws {
        let (workers, perWorker) = BatchRunner.split(threads: options.totalThreads, workers: options.jobs, jobs: jobs.count)
        let start = DispatchTime.now()
        let showProgress = !quiet && !json && isatty(STDERR_FILENO) != 0
        let (quiet, verbose, verb, total) = (quiet, verbose, verb, jobs.count)
        let records = BatchRunner.run(jobs, workers: workers, threadsPerWorker: perWorker, body: body) { finished, record in
            if showProgress { printErrorInline("") }
            if record.status == .failed {
                printError("vqz: error: \(record.error ?? record.input)")
            } else if verbose {
                printError(BatchDriver.line(for: record, verb: verb))
            }
            if showProgress {
                let elapsed = seconds(since: start)
                let rate = Double(finished) / max(elapsed, 1e-9)
                let eta = Double(total - finished) / max(rate, 1e-9)
                printErrorInline(String(format: "  %d/%d files · %.2f files/s · ETA %@", finished, total, rate, BatchDriver.duration(eta)))
            }
            _ = quiet
        }
        if showProgress { printErrorInline("") }
        let elapsed = seconds(since: start)
        if let manifest = options.manifest {
            let lines = try records.map { try JSONOutput.line($0) }.joined()
            try FileIO.writeAtomically(Array(lines.utf8), to: manifest, overwrite: true)
        }
        if json {
            for record in records { try Streams.print(try JSONOutput.line(record), terminator: "") }
        }
        let failed = records.filter { $0.status == .failed }.count
        if !quiet && !json {
            printError(summary(records, seconds: elapsed, workers: workers, threadsPerWorker: perWorker))
        }
        if failed > 0 { throw ExitCode(1) }
    }

    func summary(_ records: [BatchRecord], seconds: Double, workers: Int, threadsPerWorker: Int) -> String {
        let done = records.filter { $0.status == .done }
        let skipped = records.count - done.count - records.filter { $0.status == .failed }.count
        let failed = records.filter { $0.status == .failed }.count
        let inBytes = done.compactMap(\.inputBytes).reduce(0, +)
        let outBytes = done.compactMap(\.bytes).reduce(0, +)
        let bpps = done.compactMap(\.bpp)
        var text = "vqz: \(records.count) file\(records.count == 1 ? "" : "s"): \(done.count) \(verb), \(skipped) skipped (output exists), \(failed) failed"
        if !done.isEmpty {
            text += "; \(BatchDriver.size(inBytes)) → \(BatchDriver.size(outBytes))"
            if !bpps.isEmpty { text += String(format: ", mean %.4f bpp", bpps.reduce(0, +) / Double(bpps.count)) }
        }
        text += String(format: "; %.1f s, %d worker%@ × %d thread%@", seconds, workers, workers == 1 ? "" : "s", threadsPerWorker, threadsPerWorker == 1 ? "" : "s")
        return text
    }

    static func line(for record: BatchRecord, verb: String) -> String {
        var text = "\(record.input) → \(record.output): \(record.status == .skipped ? "skipped (exists)" : verb)"
        if let bytes = record.bytes { text += ", \(bytes) bytes" }
        if let bpp = record.bpp { text += String(format: ", %.4f bpp", bpp) }
        if let level = record.level { text += ", level \(level)" }
        if let s = record.seconds, record.status == .done { text += String(format: ", %.2f s", s) }
        return text
    }

    static func size(_ bytes: Int) -> String {
        bytes >= 1 << 20 ? String(format: "%.1f MiB", Double(bytes) / 1_048_576) : bytes >= 1 << 10 ? String(format: "%.1f KiB", Double(bytes) / 1024) : "\(bytes) B"
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%dh%02dm", t / 3600, t / 60 % 60) : t >= 60 ? String(format: "%dm%02ds", t / 60, t % 60) : "\(t) s"
    }
}

/// Replaces the progress line on stderr (carriage return, text, clear to the end of the line).
func printErrorInline(_ text: String) {
    try? FileIO.write(Array(("\r" + text + "\u{1B}[K").utf8), toDescriptor: STDERR_FILENO, name: "stderr")
}

/// A record for an output that already exists: skipped when `complete` says it is whole, failed otherwise.
func existingOutputRecord(_ job: BatchJob, complete: ([UInt8]) -> (bpp: Double?, level: Int?)?) -> BatchRecord {
    guard let bytes = try? FileIO.read(job.output, maxBytes: 1 << 31), let figures = complete(bytes) else {
        return BatchRecord(input: job.input, output: job.output, status: .failed,
                           error: "\(job.output): exists but is not a complete output; remove it or use -f")
    }
    return BatchRecord(input: job.input, output: job.output, status: .skipped, bytes: bytes.count, bpp: figures.bpp, level: figures.level)
}

/// Writes a batch output atomically (its folder created). Returns false, writing nothing, when
/// the output appeared meanwhile without `force`: another process (a task a scheduler re-ran after
/// losing a worker) wrote the same output, which then counts if it is complete.
func writeBatchOutput(_ bytes: [UInt8], job: BatchJob, force: Bool) throws -> Bool {
    try createParentFolder(of: job.output)
    do {
        try FileIO.writeAtomically(bytes, to: job.output, overwrite: force)
        return true
    } catch {
        if !force && FileManager.default.fileExists(atPath: job.output) { return false }
        throw error
    }
}

/// Creates the folder an output goes into.
func createParentFolder(of path: String) throws {
    let parent = (path as NSString).deletingLastPathComponent
    guard !parent.isEmpty else { return }
    do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
        throw RuntimeFailure("\(parent): the output folder cannot be created")
    }
}
