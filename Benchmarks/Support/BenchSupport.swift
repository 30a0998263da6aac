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
/// The CPU's model name with its family and model numbers (the machines here share names like
/// "AMD EPYC" across generations: family 25 is Zen 3 with AVX2, family 26 Zen 5 with AVX-512).
public func cpuModelName() -> String {
    let name = shell("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
    let family = shell("grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2")
    let model = shell("grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2")
    return family.isEmpty ? name : "\(name) (family \(family) model \(model))"
}
