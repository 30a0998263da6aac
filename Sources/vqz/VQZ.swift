// The `vqz` command: a thin front over the library modules. It parses arguments, reads and writes
// files, prints, and maps errors to exit codes (0 ok, 1 data or I/O error, 64 usage error).

import ArgumentParser
import COpenBLAS
import Container
import Foundation
import TensorCore

@main
struct VQZ: ParsableCommand {
    static let version = "0.2.0"

    static let configuration = CommandConfiguration(
        commandName: "vqz",
        abstract: "A neural image codec: PNG in, a compact .vqz file out, and back.",
        discussion: """
            Exit status: 0 on success, 1 when a file is bad or cannot be read or written, 64 on a \
            usage error. Messages go to stderr; data and --json output go to stdout.
            """,
        version: "vqz \(version) (container format \(BitstreamFormat.versionMajor).\(BitstreamFormat.versionMinor), zstd \(Zstd.versionString))",
        subcommands: [Encode.self, Decode.self, Trim.self, Tokens.self, Info.self, Models.self, Bench.self, Train.self, TrainPrior.self, Eval.self])

    static func main() {
        BLASKernel.reexecWithTheCPUsKernelIfNeeded()
        // Before anything else runs: OpenBLAS's idle threads would spin on a core for ~100 ms.
        ThreadPool.singleThreadedOpenBLAS()
        // Freed activations stay in the heap for the next layer instead of going back to the kernel
        // (glibc otherwise maps each large buffer afresh and faults its pages in again): measured on
        // AMD EPYC (2 cores), a 6000 × 4000 decode 9.04 → 6.29 s and encode 8.17 → 6.58 s (peak RSS
        // 259 → 248 MiB and 319 → 341 MiB), a Kodak decode −6 %; the same bytes and pixels.
        MemoryTuning.keepLargeAllocations()
        main(nil)
    }
}

/// OpenBLAS (Debian's, built for every x86 kernel) picks its kernel from a table of CPU models; on a
/// model newer than the table it falls back to the generic `Prescott` kernel (SSE3), which runs the
/// network at about half the speed the CPU allows (docs/design/rd.md: a Kodak decode 0.64 s instead of
/// 0.37 s on an Intel Xeon model 207). The kernel can only be chosen before the library loads, through
/// `OPENBLAS_CORETYPE`; so when OpenBLAS fell back and the user chose nothing, vqz sets the variable
/// from the CPU's features and runs itself again (once: `VQZ_BLAS_REEXEC` marks the second run).
/// `OPENBLAS_CORETYPE` set by the user always wins, and so does `VQZ_BLAS_REEXEC=0` (no re-exec).
enum BLASKernel {
    /// The kernel the CPU's features allow, from `/proc/cpuinfo`: SkylakeX with AVX-512 (F, BW, VL,
    /// DQ), Haswell with AVX2 and FMA, else nil.
    static func kernelForThisCPU() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(line.split(separator: " ").map(String.init))
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    static func reexecWithTheCPUsKernelIfNeeded() {
        guard getenv("OPENBLAS_CORETYPE") == nil, getenv("VQZ_BLAS_REEXEC") == nil else { return }
        // VQZ_BLAS_PRETEND_CORE stands in for OpenBLAS's choice, so that the tests can take this path
        // on a CPU OpenBLAS knows.
        let chosen = getenv("VQZ_BLAS_PRETEND_CORE").map { String(cString: $0) } ?? String(cString: openblas_get_corename())
        guard chosen.lowercased() == "prescott", let kernel = kernelForThisCPU() else { return }
        setenv("OPENBLAS_CORETYPE", kernel, 1)
        setenv("VQZ_BLAS_REEXEC", "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Only reached when the exec failed: go on with the kernel OpenBLAS chose.
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv("VQZ_BLAS_REEXEC")
    }
}

/// A failure the CLI reports as one sentence on stderr, exiting with status 1.
struct RuntimeFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension ParsableCommand {
    /// Runs `body`; a thrown library error becomes `vqz: error: <sentence>` on stderr and exit 1.
    func reportingErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("vqz: error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Writes a line to stderr. A failure to write there cannot be reported anywhere, so it is
/// ignored (the exit status still tells).
func printError(_ message: String) {
    try? FileIO.write(Array((message + "\n").utf8), toDescriptor: STDERR_FILENO, name: "stderr")
}
