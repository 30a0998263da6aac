// Which source a program was built from, for the records it writes (model metadata, benchmark
// results): one lookup for the CLI and the benchmarks.

import Foundation

/// The commit of the running program's source.
public enum SourceRevision {
    /// `$VQZ_COMMIT` when set (the make targets set it); else the short commit of the git
    /// repository that holds the executable (a build tree such as `.build/release/vqz`), with
    /// `-dirty` when tracked files differ from it; else "unknown". Never the repository of the
    /// current directory, which may be another checkout than the one the binary was built from.
    public static func commit(environment: [String: String] = ProcessInfo.processInfo.environment,
                              executable: URL? = Bundle.main.executableURL) -> String {
        if let commit = environment["VQZ_COMMIT"], !commit.isEmpty { return commit }
        guard let directory = executable?.resolvingSymlinksInPath().deletingLastPathComponent().path else { return "unknown" }
        guard let head = git(["-C", directory, "rev-parse", "--short", "HEAD"]), !head.output.isEmpty, head.status == 0 else { return "unknown" }
        let dirty = git(["-C", directory, "diff", "--quiet", "HEAD", "--"]).map { $0.status == 1 } ?? false
        return head.output + (dirty ? "-dirty" : "")
    }

    private static func git(_ arguments: [String]) -> (status: Int32, output: String)? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git"] + arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
