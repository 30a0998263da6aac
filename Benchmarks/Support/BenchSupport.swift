// Helpers shared by the benchmark executables: wall-clock timing and running a shell command.

import Foundation

/// Wall-clock seconds that `body` takes.
public func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
}

/// The trimmed output of `/bin/sh -c command` (stdout, and stderr when `includeStderr`), or
/// "unknown" when it cannot be started.
public func shell(_ command: String, includeStderr: Bool = false) -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = includeStderr ? pipe : FileHandle.nullDevice
    do { try p.run() } catch { return "unknown" }
    let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return out.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The CPU model name from /proc/cpuinfo.
public func cpuModelName() -> String {
    shell("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
}
