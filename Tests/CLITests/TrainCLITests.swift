// `vqz train` options: a resumed run keeps the recipe the checkpoint records unless an option is
// given, refuses a change to one that cannot change mid-run, and checks its training folder; a new
// run's model options are checked against what the loader and the container accept before step 1.

import Container
import Foundation
import Models
import Testing
import Training

@Suite struct TrainCLITests {
    static let tiny = ["--channels", "4", "--latent", "3", "--crop", "16", "--batch", "2", "--validate-every", "100000", "--log-every", "100000"]

    /// `key:value` of the last `event` line of a training log.
    static func lastEvent(_ event: String, in log: String) throws -> [String: String] {
        let line = try #require(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").last { $0.hasPrefix("event:\(event)") })
        return Dictionary(uniqueKeysWithValues: line.split(separator: " ").compactMap { field -> (String, String)? in
            guard let colon = field.firstIndex(of: ":") else { return nil }
            return (String(field[..<colon]), String(field[field.index(after: colon)...]))
        })
    }

    @Test func aResumedRunKeepsTheRecordedRecipe() throws {
        let data = try TrainingFaultTests.data(), dir = try Workspace.make()
        let model = dir.appendingPathComponent("m.vqzm").path, log = dir.appendingPathComponent("m.events").path
        let first = try Workspace.vqz(["train", "--family", "vq", "--stages", "2", "--codebook", "8", "--data", data.path, "-o", model,
                                       "--steps", "6", "--warmup", "2", "--lr", "0.002"] + Self.tiny)
        #expect(first.status == 0, "\(first.stderr)")
        let checkpoint = dir.appendingPathComponent("m.ckpt.vqzm").path
        // No option given: the run is complete at its recorded 6 steps (not the default 10 000).
        let again = try Workspace.vqz(["train", "--resume", checkpoint, "-o", dir.appendingPathComponent("again.vqzm").path, "--log", log])
        #expect(again.status == 0, "\(again.stderr)")
        let start = try Self.lastEvent("start", in: log)
        #expect(start["train.steps"] == "6" && start["train.lr"] == "0.002" && start["train.warmup"] == "2" && start["train.batch"] == "2", "\(start)")
        #expect(try Self.lastEvent("done", in: log)["step"] == "6")
        // More steps may be asked for; the recipe's other options stay.
        let more = try Workspace.vqz(["train", "--resume", checkpoint, "-o", dir.appendingPathComponent("more.vqzm").path, "--steps", "8",
                                      "--batch", "2", "--log", log])
        #expect(more.status == 0, "\(more.stderr)")
        #expect(try Self.lastEvent("done", in: log)["step"] == "8")
        #expect(try Self.lastEvent("start", in: log)["train.lr"] == "0.002")
    }

    /// `--restart` on resume starts a new learning-rate cycle at the checkpoint's step (the run's
    /// warm-up, then cosine to `--final-lr` at `--steps`); the checkpoint records it, so a later
    /// resume goes on along the new cycle; without `--resume`, or without room for a cycle, it is refused.
    @Test func aWarmRestartStartsANewCycle() throws {
        let data = try TrainingFaultTests.data(), dir = try Workspace.make()
        let model = dir.appendingPathComponent("m.vqzm").path, log = dir.appendingPathComponent("m.events").path
        #expect(try Workspace.vqz(["train", "--family", "vq", "--stages", "2", "--codebook", "8", "--data", data.path, "-o", model,
                                   "--steps", "6", "--warmup", "2", "--lr", "0.002", "--final-lr", "0.0001"] + Self.tiny).status == 0)
        let checkpoint = dir.appendingPathComponent("m.ckpt.vqzm").path
        let out = dir.appendingPathComponent("r.vqzm").path
        let r = try Workspace.vqz(["train", "--resume", checkpoint, "-o", out, "--restart", "--steps", "10", "--lr", "0.001",
                                   "--log", log, "--log-every", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("event:step") }
        let rates = try lines.map { line -> Double in
            let field = try #require(line.split(separator: " ").first { $0.hasPrefix("lr:") })
            return try #require(Double(field.dropFirst(3)))
        }
        // Steps 7…10: warm-up 0.0005, 0.001, then the cosine from the peak over the cycle's last two
        // steps: 0.001, 0.00055 (it reaches --final-lr where the cycle ends, at --steps).
        #expect(rates.count == 4)
        for (got, want) in zip(rates, [0.0005, 0.001, 0.001, 0.00055]) { #expect(abs(got - want) < 1e-6, "\(rates)") }
        let file = try ModelFile(bytes: FileIO.read(dir.appendingPathComponent("r.ckpt.vqzm").path))
        #expect(file.metadata.first { $0.key == "train.restart_step" }?.value == .string("6"))
        // Resumed again without --restart: the cycle started at step 6 goes on (here: stretched to 14).
        let on = try Workspace.vqz(["train", "--resume", dir.appendingPathComponent("r.ckpt.vqzm").path, "-o",
                                    dir.appendingPathComponent("s.vqzm").path, "--steps", "14", "--log", log, "--log-every", "1"])
        #expect(on.status == 0, "\(on.stderr)")
        let last = try Self.lastEvent("step", in: log)
        // Step 14 is the last of the cycle 6…14 (warm-up 2): lr = final + (peak − final)·½(1 + cos(π·5/6)).
        let want = 0.0001 + 0.0009 * 0.5 * (1 + cos(Double.pi * 5 / 6))
        let lastRate = try #require(last["lr"].flatMap(Double.init))
        #expect(abs(lastRate - want) < 1e-6, "\(last)")
        let noResume = try Workspace.vqz(["train", "--family", "vq", "--data", data.path, "-o", dir.appendingPathComponent("n.vqzm").path, "--restart"] + Self.tiny)
        #expect(noResume.status == 64 && noResume.stderr.contains("--restart applies to --resume only"), "\(noResume.stderr)")
        let noRoom = try Workspace.vqz(["train", "--resume", checkpoint, "-o", dir.appendingPathComponent("q.vqzm").path, "--restart"])
        #expect(noRoom.status == 64 && noRoom.stderr.contains("--restart needs --steps above 6"), "\(noRoom.stderr)")
    }

    /// `--zero-codes` on resume adds zero codes to a trained model (the model it writes records
    /// them and holds the zero vector there; training on keeps it), and cannot take them away.
    @Test func zeroCodesAreAddedOnResume() throws {
        let data = try TrainingFaultTests.data(), dir = try Workspace.make()
        let model = dir.appendingPathComponent("m.vqzm").path
        #expect(try Workspace.vqz(["train", "--family", "vq", "--stages", "3", "--codebook", "8", "--data", data.path, "-o", model,
                                   "--steps", "6", "--warmup", "2"] + Self.tiny).status == 0)
        let checkpoint = dir.appendingPathComponent("m.ckpt.vqzm").path
        let out = dir.appendingPathComponent("z.vqzm").path
        let added = try Workspace.vqz(["train", "--resume", checkpoint, "-o", out, "--steps", "8", "--zero-codes", "2"])
        #expect(added.status == 0, "\(added.stderr)")
        let file = try ModelFile(bytes: FileIO.read(out))
        #expect(file.metadata.first { $0.key == "codec.zero_code_from" }?.value == .string("2"))
        for stage in 0..<3 {
            let codes = try #require(file.array(named: "vq.codebook.\(stage)")?.floats)
            let last = Array(codes[(7 * 3)...])
            #expect((last == [0, 0, 0]) == (stage >= 1), "stage \(stage + 1): last code \(last)")
        }
        let fewer = try Workspace.vqz(["train", "--resume", dir.appendingPathComponent("z.ckpt.vqzm").path, "-o",
                                       dir.appendingPathComponent("y.vqzm").path, "--zero-codes", "3"])
        #expect(fewer.status == 64 && fewer.stderr.contains("--zero-codes can only add zero codes"), "\(fewer.stderr)")
    }

    @Test(arguments: [
        (["--batch", "3"], "--batch cannot change when resuming"), (["--seed", "5"], "--seed cannot change when resuming"),
        (["--crop", "24"], "--crop cannot change when resuming"), (["--codebook", "16"], "--codebook cannot change when resuming"),
        (["--family", "gaussian"], "--family cannot change when resuming"), (["--steps", "3"], "--steps must be at least 6"),
    ])
    func anOptionThatCannotChangeIsRefused(option: [String], message: String) throws {
        let data = try TrainingFaultTests.data(), dir = try Workspace.make()
        let model = dir.appendingPathComponent("m.vqzm").path
        #expect(try Workspace.vqz(["train", "--family", "vq", "--stages", "2", "--codebook", "8", "--data", data.path, "-o", model,
                                   "--steps", "6", "--warmup", "2"] + Self.tiny).status == 0)
        let out = dir.appendingPathComponent("r.vqzm").path
        let r = try Workspace.vqz(["train", "--resume", dir.appendingPathComponent("m.ckpt.vqzm").path, "-o", out] + option)
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("vqz: error: \(message)") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// A checkpoint written during the warm-up (step 2 of 6, warm-up 5): fewer total steps than the
    /// warm-up is a sentence, not a precondition failure.
    @Test func fewerStepsThanTheWarmUpIsRefused() throws {
        let data = try TrainingFaultTests.data(), dir = try Workspace.make()
        var options = TrainingOptions()
        options.steps = 6
        options.warmupSteps = 5
        options.batchSize = 2
        options.crop = 16
        let trainer = Trainer(config: ModelConfig(family: .vq, channels: 4, latentChannels: 3, stages: 2, codebookSize: 8), options: options, dataVariance: 0.05)
        let dataset = try ImageDataset.load(directory: data.path, minSide: 16, holdOutEvery: 0).train
        for _ in 0..<2 { _ = try trainer.trainStep(data: dataset) }
        let checkpoint = dir.appendingPathComponent("w.ckpt.vqzm").path
        try FileIO.writeAtomically(try trainer.modelFile(checkpoint: true).serialized(), to: checkpoint, overwrite: false)
        let r = try Workspace.vqz(["train", "--resume", checkpoint, "--data", data.path, "-o", dir.appendingPathComponent("w.vqzm").path, "--steps", "4"])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr == "vqz: error: --steps (4) must be above the warm-up of 5 steps\n", "\(r.stderr)")
    }

    @Test func aChangedTrainingFolderIsRefusedUnlessAllowed() throws {
        let data = try TrainingFaultTests.data(), dir = try Workspace.make()
        let model = dir.appendingPathComponent("m.vqzm").path
        #expect(try Workspace.vqz(["train", "--family", "vq", "--stages", "2", "--codebook", "8", "--data", data.path, "-o", model,
                                   "--steps", "6", "--warmup", "2"] + Self.tiny).status == 0)
        _ = try Workspace.png(in: data, name: "new.png", width: 40, height: 40, format: .rgb)
        let checkpoint = dir.appendingPathComponent("m.ckpt.vqzm").path, out = dir.appendingPathComponent("r.vqzm").path
        let refused = try Workspace.vqz(["train", "--resume", checkpoint, "-o", out, "--steps", "8"])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(refused.stderr.hasPrefix("vqz: error: \(data.path): the PNG files differ") && refused.stderr.contains("6 recorded, 7 now"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let allowed = try Workspace.vqz(["train", "--resume", checkpoint, "-o", out, "--steps", "8", "--allow-data-change"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
    }

    /// Model options the loader or the container cannot take are usage errors before step 1.
    @Test(arguments: [
        (["--family", "vq", "--stages", "0"], "--stages must be in 1…255"),
        (["--family", "vq", "--stages", "300"], "--stages must be in 1…255"),
        (["--family", "vq", "--codebook", "1"], "--codebook must be in 2…65536"),
        (["--family", "vq", "--codebook", "70000"], "--codebook must be in 2…65536"),
        (["--family", "gaussian", "--latent", "256"], "--latent must be at most 255 for gaussian models"),
        (["--family", "vq", "--latent", "2000"], "--latent must be in 1…1024"),
        (["--family", "vq", "--channels", "0"], "--channels must be in 1…1024"),
        (["--family", "vq", "--decay", "1.5"], "--decay must be between 0 and 1"),
        (["--family", "gaussian", "--quant-steps", "1,0"], "--quant-steps must be positive numbers"),
        (["--family", "vq", "--lambdas", "0.1"], "--lambdas needs 8 values"),
        (["--family", "vq", "--zero-codes", "9"], "--zero-codes must be a stage in 1…8"),
        (["--family", "gaussian", "--zero-codes", "2"], "--zero-codes applies to vq models only"),
        (["--family", "vq", "--steps", "100"], "--steps (100) must be above the warm-up of 200 steps"),
        (["--family", "vq", "--lr", "nan"], "--lr must be a positive number"),
    ])
    func modelOptionsAreCheckedBeforeStepOne(arguments: [String], message: String) throws {
        let dir = try Workspace.make()
        let out = dir.appendingPathComponent("x.vqzm").path
        let r = try Workspace.vqz(["train", "--data", dir.path, "-o", out] + arguments)
        #expect(r.status == 64, "\(arguments): \(r.stderr)")
        #expect(r.stderr.contains(message), "\(arguments): \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
