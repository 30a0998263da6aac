// Batch mode of `vqz encode|decode|tokens`: several inputs and folders, a bad file in the middle,
// an interrupted batch resumed, -j independence, --files-from, --shard, the manifest.

import Container
import Foundation
import Imaging
import Testing

@Suite struct BatchTests {
    /// A folder `in/` with three good images (one in a sub-folder) and a bad one in the middle.
    func photos() throws -> (dir: URL, good: [String]) {
        let dir = try Workspace.make()
        let input = dir.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: input.appendingPathComponent("sub"), withIntermediateDirectories: true)
        let a = try Workspace.png(in: input, name: "a.png", width: 40, height: 24, format: .rgb)
        try Data("not a png at all".utf8).write(to: input.appendingPathComponent("b.png"))
        let c = try Workspace.png(in: input, name: "c.png", width: 17, height: 31, format: .gray)
        let d = try Workspace.png(in: input.appendingPathComponent("sub"), name: "d.png", width: 13, height: 7, format: .rgba)
        return (dir, [a, c, d])
    }

    func records(_ data: Data) throws -> [[String: Any]] {
        try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func files(under dir: URL) -> [String] {
        (FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String] ?? []).filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: dir.appendingPathComponent(path).path, isDirectory: &isDirectory) && !isDirectory.boolValue
        }.sorted()
    }

    @Test func aBadFileInTheMiddleIsNamedAndTheRestAreDone() throws {
        let (dir, _) = try photos()
        let out = dir.appendingPathComponent("out")
        let r = try Workspace.vqz(["encode", "-r", dir.appendingPathComponent("in").path, "-o", out.path, "-q", "2"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(files(under: out) == ["a.vqz", "c.vqz", "sub/d.vqz"], "no output for the bad file, none left behind")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 2, "one error and the summary: \(r.stderr)")
        #expect(lines.first?.contains("in/b.png: not a readable PNG image") == true)
        #expect(lines.last?.hasPrefix("vqz: 4 files: 3 encoded, 0 skipped (output exists), 1 failed") == true)
        // Every output decodes to its image's size.
        let d = try Workspace.vqz(["decode", "-r", out.path, "-o", dir.appendingPathComponent("png").path, "-s"])
        #expect(d.status == 0 && d.stderr.isEmpty, "\(d.stderr)")
        #expect(files(under: dir.appendingPathComponent("png")) == ["a.png", "c.png", "sub/d.png"])
        let decoded = try PNGDecoder.decode(FileIO.read(dir.appendingPathComponent("png/sub/d.png").path)).image
        #expect(decoded.width == 13 && decoded.height == 7 && decoded.format == .rgba)
    }

    @Test func anInterruptedBatchResumesAndMatchesAnUninterruptedOne() throws {
        let (dir, good) = try photos()
        let full = dir.appendingPathComponent("full"), resumed = dir.appendingPathComponent("resumed")
        #expect(try Workspace.vqz(["encode"] + good + ["-o", full.path, "-s", "-j", "1"]).status == 0)
        // The "interrupted" run finished only the first file; a leftover temporary file is ignored.
        #expect(try Workspace.vqz(["encode", good[0], "-o", resumed.path + "/", "-s"]).status == 0)
        try Data([1, 2, 3]).write(to: resumed.appendingPathComponent(".c.vqz.999.1.tmp"))
        let r = try Workspace.vqz(["encode"] + good + ["-o", resumed.path, "-j", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let statuses = try records(r.stdout).map { $0["status"] as? String }
        #expect(statuses == ["skipped", "done", "done"])
        for name in ["a.vqz", "c.vqz", "d.vqz"] {
            #expect(try FileIO.read(full.appendingPathComponent(name).path) == FileIO.read(resumed.appendingPathComponent(name).path),
                    "\(name): the same bytes whatever the workers and the interruption")
        }
        // With -f everything is redone; a damaged output without -f is a failure, not a skip.
        try Data("junk".utf8).write(to: resumed.appendingPathComponent("c.vqz"))
        let damaged = try Workspace.vqz(["encode"] + good + ["-o", resumed.path, "--json"])
        #expect(damaged.status == 1)
        #expect(try records(damaged.stdout).map { $0["status"] as? String } == ["skipped", "failed", "skipped"])
        let forced = try Workspace.vqz(["encode"] + good + ["-o", resumed.path, "--json", "-f"])
        #expect(forced.status == 0)
        #expect(try records(forced.stdout).map { $0["status"] as? String } == ["done", "done", "done"])
        #expect(try FileIO.read(full.appendingPathComponent("c.vqz").path) == FileIO.read(resumed.appendingPathComponent("c.vqz").path))
    }

    @Test func aListShardsAndTheManifest() throws {
        let (dir, _) = try photos()
        let list = dir.appendingPathComponent("list.txt")
        // Relative entries keep their path under -o; run from the workspace folder.
        try Data("in/a.png\nin/c.png\r\n\nin/sub/d.png\n".utf8).write(to: list)
        var seen: [String] = []
        for i in 0..<3 {
            let manifest = dir.appendingPathComponent("m\(i).jsonl").path
            let r = try CLI.runBinary(["encode", "--files-from", list.path, "--shard", "\(i)/3", "-o", "out", "-q", "1",
                                       "--manifest", manifest, "-s"], in: dir, environment: Workspace.environment)
            #expect(r.status == 0, "\(r.stderr)")
            let lines = try records(Data(FileIO.read(manifest)))
            for line in lines {
                #expect(line["status"] as? String == "done" && (line["bytes"] as? Int ?? 0) > 0 && line["bpp"] is Double)
                seen.append(try #require(line["input"] as? String))
            }
        }
        #expect(seen.sorted() == ["in/a.png", "in/c.png", "in/sub/d.png"], "the shards split the list exactly")
        #expect(files(under: dir.appendingPathComponent("out")) == ["in/a.vqz", "in/c.vqz", "in/sub/d.vqz"])
        // The list from stdin, tokens this time.
        let t = try CLI.runBinary(["tokens", "--files-from", "-", "-o", "tok", "-s", "-m", "tiny-vq"], in: dir,
                                  stdin: Data("in/a.png\n".utf8), environment: Workspace.environment)
        #expect(t.status == 0, "\(t.stderr)")
        #expect(try NPY.decodeIntegers(FileIO.read(dir.appendingPathComponent("tok/in/a.npy").path), maxElements: 1 << 20).shape.count == 3)
    }

    @Test(arguments: [
        (["encode", "x/a.png", "y/a.png", "-o", "out"], "would both write"),
        (["encode", "-", "a.png", "-o", "out"], "stdin"),
        (["encode", "in", "--shard", "3/3"], "--shard"),
        (["encode", "in", "-o", "-"], "stdout"),
    ])
    func badBatchesAreRefusedBeforeAnyWork(arguments: [String], says: String) throws {
        let dir = try Workspace.make()
        for folder in ["x", "y", "in"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(folder), withIntermediateDirectories: true)
            _ = try Workspace.png(in: dir.appendingPathComponent(folder), name: "a.png", width: 8, height: 8, format: .rgb)
        }
        let r = try CLI.runBinary(arguments, in: dir, environment: Workspace.environment)
        #expect(r.status == 1 || r.status == 64)
        #expect(r.stderr.contains(says), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out").path))
    }
}
