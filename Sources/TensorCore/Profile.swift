// Phase and layer timings of one process, for `VQZ_PROFILE=1 vqz encode|decode …` (the speed issue's
// "profile encode and decode per layer, per phase"). Off by default: one Bool test per phase.

import Dispatch
import Foundation

/// Accumulated wall-clock seconds per named phase, in first-seen order; thread-safe.
public enum Profile {
    /// `VQZ_PROFILE` set to anything but empty or `0`.
    public static let enabled: Bool = {
        guard let v = ProcessInfo.processInfo.environment["VQZ_PROFILE"] else { return false }
        return !v.isEmpty && v != "0"
    }()

    private static let lock = NSLock()
    nonisolated(unsafe) private static var names: [String] = []
    nonisolated(unsafe) private static var totals: [String: (seconds: Double, count: Int)] = [:]

    /// Runs `body`, adding its wall-clock time to phase `name` when profiling is on.
    @inline(__always)
    public static func measure<T>(_ name: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let t0 = now()
        let result = try body()
        add(name(), since: t0)
        return result
    }

    /// A start time for `add(_:since:)` (monotonic nanoseconds).
    @inline(__always)
    public static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Adds the time since `start` (from `now()`) to phase `name`.
    public static func add(_ name: String, since start: UInt64) {
        add(name, seconds: Double(now() - start) / 1e9)
    }

    /// Adds `seconds` to phase `name`.
    public static func add(_ name: String, seconds: Double) {
        lock.lock()
        defer { lock.unlock() }
        if let t = totals[name] {
            totals[name] = (t.seconds + seconds, t.count + 1)
        } else {
            names.append(name)
            totals[name] = (seconds, 1)
        }
    }

    /// The phases so far, in first-seen order.
    public static var phases: [(name: String, seconds: Double, count: Int)] {
        lock.lock()
        defer { lock.unlock() }
        return names.map { ($0, totals[$0]!.seconds, totals[$0]!.count) }
    }

    /// Forgets every phase.
    public static func reset() {
        lock.lock()
        defer { lock.unlock() }
        names = []
        totals = [:]
    }

    /// A table of the phases (milliseconds, calls), nested phases indented by their `: ` depth.
    public static func report() -> String {
        let rows = phases
        guard !rows.isEmpty else { return "profile: no phases recorded" }
        let width = rows.map(\.name.count).max()!
        var text = "profile (VQZ_PROFILE; wall clock per phase, nested phases are part of their parent's time):"
        for r in rows {
            let pad = String(repeating: " ", count: width - r.name.count)
            text += String(format: "\n  %@%@ %9.2f ms", r.name, pad, r.seconds * 1000) + (r.count > 1 ? "  (\(r.count) calls)" : "")
        }
        return text
    }
}

extension Profile {
    /// `report()` and the process's wall-clock age (from its start time in /proc, 10 ms ticks):
    /// what the phases leave out is start-up (loading libraries, parsing arguments) and glue.
    public static func processReport() -> String {
        var text = report()
        if let age = processAge() {
            let covered = phases.filter { !$0.name.contains(":") }.reduce(0) { $0 + $1.seconds }
            text += String(format: "\n  process age %.0f ms (±10), top-level phases %.0f ms", age * 1000, covered * 1000)
        }
        return text
    }

    /// Seconds since this process started (Linux), or nil.
    static func processAge() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let uptime = try? String(contentsOfFile: "/proc/uptime", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name: state is field 3; starttime is field 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = Double(fields[19]), let up = Double(uptime.split(separator: " ").first ?? "") else { return nil }
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        return up - ticks / hz
    }
}
