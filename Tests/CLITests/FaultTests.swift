// Faults around the binary: a write that fails half-way (a full disk, simulated with a file-size
// limit), folders that cannot hold the output, a training run killed with SIGKILL and resumed, and
// checkpoints cut short by a crash.

import Container
import Foundation
import Imaging
import Testing

enum Faults {
    /// Runs `vqz` under `/bin/sh` with a file-size limit of `blocks` (SIGXFSZ ignored, so a write past
    /// the limit fails with EFBIG as on a full disk).
    static func vqzWithFileSizeLimit(_ blocks: Int, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let r = try CLI.runBinary(arguments, environment: Workspace.environment,
                                  shellPrefix: "trap '' XFSZ; ulimit -f \(blocks); exec \"$0\" \"$@\"")
        return (r.status, r.stderr)
    }

    /// Entries of a folder other than `keep`.
    static func leftovers(in dir: URL, keep: Set<String>) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !keep.contains($0) }
    }
}

@Suite struct OutputSafetyTests {
    // ThreadSanitizer's runtime itself exits (66) when it starts under a 1-block file-size limit.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["VQZ_SANITIZER"] != "thread", "TSan cannot start under ulimit -f 1"))
    func aFailedWriteLeavesNothingBehind() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "big.png", width: 160, height: 120, format: .rgb)
        #expect(try Workspace.vqz(["encode", png, "--quiet"]).status == 0)
        let file = dir.appendingPathComponent("big.vqz").path
        // decode: the PNG (tens of KB) cannot be written under a 1-block limit
        let out = dir.appendingPathComponent("out.png").path
        let r = try Faults.vqzWithFileSizeLimit(1, ["decode", file, "-o", out])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("vqz: error: \(out): cannot be written") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(try Faults.leftovers(in: dir, keep: ["big.png", "big.vqz"]).isEmpty)
        // … and an existing output is left as it was, even with -f
        try Data("previous".utf8).write(to: URL(fileURLWithPath: out))
        #expect(try Faults.vqzWithFileSizeLimit(1, ["decode", file, "-o", out, "-f"]).status == 1)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "previous")
        #expect(try Faults.leftovers(in: dir, keep: ["big.png", "big.vqz", "out.png"]).isEmpty)
    }

    @Test func anOutputFolderThatCannotHoldItIsOneSentence() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "a.png", width: 16, height: 16, format: .rgb)
        for target in [dir.appendingPathComponent("missing/a.vqz").path, png + "/a.vqz"] {
            let r = try Workspace.vqz(["encode", png, "-o", target, "-f"])
            #expect(r.status == 1, "\(target)")
            #expect(r.stderr.hasPrefix("vqz: error: ") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        }
        #expect(try Faults.leftovers(in: dir, keep: ["a.png"]).isEmpty)
        // An existing folder as -o is where the output goes (a batch of one), as cp does.
        let sub = dir.appendingPathComponent("sub")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        #expect(try Workspace.vqz(["encode", png, "-o", sub.path, "-s"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: sub.appendingPathComponent("a.vqz").path))
    }

    @Test(.enabled(if: getuid() != 0, "root writes into read-only folders"))
    func aReadOnlyFolderIsOneSentence() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "a.png", width: 16, height: 16, format: .rgb)
        let locked = dir.appendingPathComponent("locked")
        try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: false)
        chmod(locked.path, 0o555)
        defer { chmod(locked.path, 0o755) }
        let r = try Workspace.vqz(["encode", png, "-o", locked.appendingPathComponent("a.vqz").path])
        #expect(r.status == 1 && r.stderr.contains("cannot be written"), "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: locked.path).isEmpty)
    }
}

/// Standard streams that fail: stdout on a full device, stdin that cannot be read, a training log on
/// a full device. Each is one sentence on stderr and exit 1, never a trap.
@Suite struct StreamFaultTests {
    /// Runs `vqz` with its stdout (or stdin) redirected by `redirect` (e.g. `> /dev/full`).
    static func vqz(_ arguments: [String], redirect: String) throws -> (status: Int32, stderr: String) {
        let r = try CLI.runBinary(arguments, environment: Workspace.environment, shellPrefix: "exec \"$0\" \"$@\" \(redirect)")
        return (r.status, r.stderr)
    }

    static func isOneSentence(_ stderr: String, naming: String) -> Bool {
        stderr.hasPrefix("vqz: error: \(naming)") && stderr.split(separator: "\n").count == 1
    }

    @Test func aFullStdoutIsOneSentenceAndExit1() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "a.png", width: 24, height: 16, format: .rgb)
        let file = dir.appendingPathComponent("a.vqz").path
        #expect(try Workspace.vqz(["encode", png, "--quiet"]).status == 0)
        let runs: [[String]] = [
            ["decode", file, "-o", "-"],
            ["encode", png, "-o", "-"],
            ["decode", file, "-o", dir.appendingPathComponent("b.png").path, "--json"],
            ["info", file], ["info", "--json", file], ["models"], ["models", "--json"],
        ]
        for arguments in runs {
            let r = try Self.vqz(arguments, redirect: "> /dev/full")
            #expect(r.status == 1, "\(arguments): \(r.stderr)")
            #expect(Self.isOneSentence(r.stderr, naming: "stdout: cannot be written"), "\(arguments): \(r.stderr)")
        }
    }

    @Test func anUnreadableStdinIsOneSentenceAndExit1() throws {
        let r = try Self.vqz(["decode", "-", "-o", "/dev/null", "-f"], redirect: "< /")
        #expect(r.status == 1, "\(r.stderr)")
        #expect(Self.isOneSentence(r.stderr, naming: "stdin: cannot be read"), "\(r.stderr)")
    }

    @Test func aFullTrainingLogIsOneSentenceAndExit1() throws {
        let data = try TrainingFaultTests.data(), dir = try Workspace.make()
        let model = dir.appendingPathComponent("m.vqzm").path
        let r = try Workspace.vqz(["train", "--data", data.path, "-o", model, "--steps", "6", "--log", "/dev/full"] + TrainingFaultTests.tinyFlags)
        #expect(r.status == 1, "\(r.stderr)")
        // The configuration table comes first; then exactly one error sentence (a sanitizer's own
        // report may follow it).
        let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("vqz: error: ") }
        #expect(errors.count == 1 && errors.first?.hasPrefix("vqz: error: /dev/full: cannot be written") == true, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: model))
    }
}

@Suite struct TrainingFaultTests {
    static let tinyFlags = ["--family", "vq", "--channels", "8", "--latent", "4", "--stages", "2", "--codebook", "16",
                            "--crop", "32", "--batch", "2", "--warmup", "5", "--validate-every", "100000", "--log-every", "100000"]

    static func data() throws -> URL {
        let dir = try Workspace.make()
        for i in 0..<6 { _ = try Workspace.png(in: dir, name: "t\(i).png", width: 40 + 8 * i, height: 48, format: .rgb) }
        return dir
    }

    /// Weights and codebooks of a model file, by name (metadata such as wall time left out).
    static func arrays(_ path: String) throws -> [String: [Float]] {
        let file = try ModelFile(bytes: FileIO.read(path))
        return Dictionary(uniqueKeysWithValues: file.arrays.map { ($0.name, $0.floats ?? []) })
    }

    @Test func killedRunResumesToTheSameModel() throws {
        let data = try Self.data(), dir = try Workspace.make()
        let steps = 240, every = 20
        let straight = dir.appendingPathComponent("straight.vqzm").path
        let r = try Workspace.vqz(["train", "--data", data.path, "-o", straight, "--steps", "\(steps)", "--checkpoint-every", "\(every)"] + Self.tinyFlags)
        #expect(r.status == 0, "\(r.stderr)")

        // The same run, killed with SIGKILL once a checkpoint past step 60 is on disk.
        let model = dir.appendingPathComponent("killed.vqzm").path
        let checkpoint = dir.appendingPathComponent("killed.ckpt.vqzm").path
        let events = dir.appendingPathComponent("killed.events").path
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = ["train", "--data", data.path, "-o", model, "--steps", "\(steps)", "--checkpoint-every", "\(every)", "--log", events] + Self.tinyFlags
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        var lastCheckpoint = 0
        let deadline = Date().addingTimeInterval(120)
        while p.isRunning, Date() < deadline {
            let log = (try? String(contentsOfFile: events, encoding: .utf8)) ?? ""
            lastCheckpoint = log.split(separator: "\n").filter { $0.hasPrefix("event:checkpoint") }
                .compactMap { $0.split(separator: " ").first { $0.hasPrefix("step:") }.flatMap { Int($0.dropFirst(5)) } }.max() ?? 0
            if lastCheckpoint >= 60 { kill(p.processIdentifier, SIGKILL); break }
            usleep(2000)
        }
        p.waitUntilExit()
        try #require(p.terminationReason == .uncaughtSignal, "the run ended before it could be killed; make it longer")
        #expect(!FileManager.default.fileExists(atPath: model))

        // Resume: it starts from the last checkpoint (at most one interval lost) and ends on the same weights.
        let resumed = try Workspace.vqz(["train", "--resume", checkpoint, "-o", model, "--steps", "\(steps)", "--log", events])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let starts = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("event:start") }
        let resumedAt = starts.last?.split(separator: " ").first { $0.hasPrefix("step:") }.flatMap { Int($0.dropFirst(5)) }
        #expect(resumedAt.map { $0 >= lastCheckpoint && $0 % every == 0 } == true, "resumed at \(String(describing: resumedAt)), last checkpoint \(lastCheckpoint)")
        #expect(try Self.arrays(model) == Self.arrays(straight))
    }

    @Test func aCheckpointCutShortIsRefused() throws {
        let data = try Self.data(), dir = try Workspace.make()
        let model = dir.appendingPathComponent("m.vqzm").path
        #expect(try Workspace.vqz(["train", "--data", data.path, "-o", model, "--steps", "20", "--checkpoint-every", "10"] + Self.tinyFlags).status == 0)
        let checkpoint = dir.appendingPathComponent("m.ckpt.vqzm").path
        let bytes = try FileIO.read(checkpoint)
        for cut in [bytes.count / 3, bytes.count - 1] {
            let damaged = dir.appendingPathComponent("cut.ckpt.vqzm").path
            try Data(bytes[..<cut]).write(to: URL(fileURLWithPath: damaged))
            let out = dir.appendingPathComponent("cut.vqzm").path
            let r = try Workspace.vqz(["train", "--resume", damaged, "-o", out, "--steps", "30"])
            #expect(r.status == 1 && r.stderr.hasPrefix("vqz: error: ") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
            // a model cut short is refused by decode's model loading too
            try Data(FileIO.read(model).dropLast(7)).write(to: URL(fileURLWithPath: out))
            let png = try Workspace.png(in: dir, name: "x.png", width: 8, height: 8, format: .rgb)
            let e = try Workspace.vqz(["encode", png, "-m", out, "-o", dir.appendingPathComponent("x.vqz").path])
            #expect(e.status == 1 && e.stderr.split(separator: "\n").count == 1, "\(e.stderr)")
            try FileManager.default.removeItem(atPath: out)
        }
    }
}
