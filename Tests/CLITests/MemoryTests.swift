// Encoder memory beyond the image: the VQ quantizer runs over the whole latent grid, but must not
// hold copies of it per stage and per λ pass. Measured as the peak RSS of the real binary (wait4),
// between two models that differ only in the latent width D: the difference is what the grid costs.

import Container
import Foundation
import Imaging
import Models
import Testing
import Training

enum PeakRSS {
    /// Runs `binary arguments` with stdout and stderr discarded; its exit status and peak RSS in bytes.
    static func run(_ binary: String, _ arguments: [String], environment: [String: String]) -> (status: Int32, bytes: Int) {
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([binary] + arguments).map { strdup($0) } + [nil]
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + env).forEach { free($0) } }
        guard posix_spawn(&pid, binary, &actions, nil, argv, env) == 0 else { return (-1, 0) }
        var status: Int32 = 0
        var usage = rusage()
        _ = wait4(pid, &status, 0, &usage)
        return ((status >> 8) & 0xFF, usage.ru_maxrss * 1024)
    }
}

@Suite struct MemoryTests {
    /// A VQ model with latent width `d`, 8 stages with per-level λ (so the entropy-constrained passes
    /// run too), and a tiny backbone whose activations do not depend on `d`.
    static func model(latent d: Int, in dir: URL) throws -> String {
        var config = ModelConfig(family: .vq, channels: 4, latentChannels: d, stages: 8, codebookSize: 16)
        config.lambdas = [Float](repeating: 0.1, count: 8)
        var options = TrainingOptions()
        options.steps = 2
        options.warmupSteps = 1
        let trainer = Trainer(config: config, options: options, dataVariance: 0.05)
        trainer.vq!.quantizer.initialized = true
        let path = dir.appendingPathComponent("d\(d).vqzm").path
        try FileIO.writeAtomically(try trainer.modelFile(checkpoint: false).serialized(), to: path, overwrite: false)
        return path
    }

    // Sanitizers keep freed memory in quarantine, so peak RSS does not measure what is live.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["VQZ_SANITIZER"] == nil, "peak RSS is not meaningful under a sanitizer"))
    func theLatentGridIsHeldOnceNotPerStage() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "big.png", width: 2048, height: 2048, format: .rgb)  // a 256 × 256 grid
        var peak: [Int: Int] = [:]
        for d in [4, 64] {
            let r = PeakRSS.run(CLI.binary.path, ["encode", png, "-m", try Self.model(latent: d, in: dir), "-o", dir.appendingPathComponent("d\(d).vqz").path],
                                environment: Workspace.environment)
            #expect(r.status == 0)
            peak[d] = r.bytes
        }
        // Measured: 14 MB more for D = 64 (one grid of 256·256·60 floats is 15.7 MB); before the
        // chunked quantizer, 74 MB (a residual, a gather and a sum per stage and per λ pass).
        let grid = 256 * 256 * (64 - 4) * 4
        let extra = peak[64]! - peak[4]!
        #expect(extra < grid * 3 / 2, "D = 64 needs \(extra / 1_000_000) MB more than D = 4; one latent grid is \(grid / 1_000_000) MB")
    }
}
