// The batch planner and runner: output naming, collisions, shards, lists, worker/thread split,
// and that concurrent workers on one model give the bytes a single worker gives.

import Codec
import Foundation
import Testing

@Suite struct BatchPlanTests {
    func folder(_ files: [String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqz-plan-\(UUID().uuidString)")
        for file in files {
            let url = dir.appendingPathComponent(file)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data().write(to: url)
        }
        return dir.path
    }

    @Test func outputsAreNamedAfterTheInputs() throws {
        let root = try folder(["p/a.png", "p/B.PNG", "p/.hidden.png", "p/notes.txt", "p/s/c.png", "p/s/.h/d.png"])
        let p = root + "/p"
        let flat = try BatchPlan.jobs(arguments: [p], inputExtensions: [".png"], outputExtension: ".vqz", outputDirectory: "out", recursive: false)
        #expect(flat == [BatchJob(input: p + "/B.PNG", output: "out/B.vqz"), BatchJob(input: p + "/a.png", output: "out/a.vqz")])
        let deep = try BatchPlan.jobs(arguments: [p], inputExtensions: [".png"], outputExtension: ".vqz", outputDirectory: "out", recursive: true)
        #expect(deep.map(\.output) == ["out/B.vqz", "out/a.vqz", "out/s/c.vqz"])
        // Beside the inputs without an output folder; a file argument keeps only its name under -o.
        let beside = try BatchPlan.jobs(arguments: [p + "/s/c.png"], inputExtensions: [".png"], outputExtension: ".vqz", outputDirectory: nil, recursive: false)
        #expect(beside == [BatchJob(input: p + "/s/c.png", output: p + "/s/c.vqz")])
        // List entries: relative ones keep their path, absolute ones and those with .. their name.
        let listed = try BatchPlan.jobs(arguments: [], listed: ["x/y.png", "./z.png", "/abs/w.png", "../up/v.png"], inputExtensions: [".png"],
                                        outputExtension: ".npy", outputDirectory: "o", recursive: false)
        #expect(listed.map(\.output) == ["o/x/y.npy", "o/z.npy", "o/w.npy", "o/v.npy"])
    }

    @Test func twoInputsForOneOutputAreRefused() throws {
        #expect(throws: BatchError.self) {
            try BatchPlan.jobs(arguments: ["a/x.png", "b/x.png"], inputExtensions: [".png"], outputExtension: ".vqz", outputDirectory: "o", recursive: false)
        }
        #expect(throws: BatchError.self) {
            try BatchPlan.jobs(arguments: ["x.png"], listed: ["x.png"], inputExtensions: [".png"], outputExtension: ".vqz", outputDirectory: "o", recursive: false)
        }
    }

    @Test func shardsPartitionEveryList() throws {
        let inputs = (0..<500).map { "photos/\($0 * 7919 % 1000).png" }
        for n in [1, 2, 3, 8] {
            let shards = try (0..<n).map { try Shard(index: $0, count: n) }
            for input in inputs { #expect(shards.filter { $0.contains(input) }.count == 1) }
            // Not degenerate: every shard of 500 files gets a fair part.
            for shard in shards { #expect(inputs.filter(shard.contains).count > 500 / n / 2) }
        }
        #expect(try Shard(parsing: "2/5") == Shard(index: 2, count: 5))
        for bad in ["5/5", "-1/3", "1/0", "1", "a/b", "1/2/3"] { #expect(throws: BatchError.self) { try Shard(parsing: bad) } }
    }

    @Test func listsAndTheWorkerSplit() throws {
        #expect(try BatchPlan.listEntries(Array("a.png\r\n\n b.png\nc.png".utf8), name: "l") == ["a.png", " b.png", "c.png"])
        #expect(throws: BatchError.self) { try BatchPlan.listEntries([0xff, 0xfe], name: "l") }
        #expect(BatchRunner.split(threads: 2, workers: nil, jobs: 10) == (2, 1))
        #expect(BatchRunner.split(threads: 16, workers: 4, jobs: 10) == (4, 4))
        #expect(BatchRunner.split(threads: 16, workers: nil, jobs: 3) == (3, 5))
        #expect(BatchRunner.split(threads: 2, workers: 8, jobs: 10) == (2, 1), "never more workers than threads")
    }

    @Test func theRunnerKeepsJobOrderAndRunsEachOnce() throws {
        let jobs = (0..<40).map { BatchJob(input: "\($0)", output: "\($0)") }
        let records = BatchRunner.run(jobs, workers: 3, threadsPerWorker: 1) { job in
            BatchRecord(input: job.input, output: job.output, status: Int(job.input)! % 5 == 0 ? .failed : .done)
        }
        #expect(records.map(\.input) == jobs.map(\.input))
        #expect(records.filter { $0.status == .failed }.count == 8)
    }
}
