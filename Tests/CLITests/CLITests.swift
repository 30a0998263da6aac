// The `vqz` executable, run as a user runs it: exit codes (0 / 1 / 64), where output goes, and
// `info`'s text against a committed golden. Library behaviour is tested in the library suites.

import Foundation
import Testing

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum CLI {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repository.appendingPathComponent("Tests/Fixtures")

    /// The built `vqz`: beside the test bundle (SwiftPM builds it for this target), or $VQZ_BINARY.
    static var binary: URL {
        if let override = ProcessInfo.processInfo.environment["VQZ_BINARY"] { return URL(fileURLWithPath: override) }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !dir.path.hasSuffix(".build") && dir.path != "/" {
            let candidate = dir.appendingPathComponent("vqz")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return repository.appendingPathComponent(".build/debug/vqz")
    }

    static func run(_ arguments: [String], in directory: URL? = nil) throws -> CommandResult {
        let r = try runBinary(arguments, in: directory)
        return CommandResult(status: r.status, stdout: String(decoding: r.stdout, as: UTF8.self), stderr: r.stderr)
    }

    /// Runs `vqz` with optional stdin bytes and extra environment; stdout comes back as bytes.
    /// With `shellPrefix`, the binary is started by `/bin/sh -c PREFIX` (which must end in
    /// `exec "$0" "$@"`), e.g. to set a ulimit first.
    static func runBinary(_ arguments: [String], in directory: URL? = nil, stdin: Data? = nil,
                          environment: [String: String] = [:], shellPrefix: String? = nil) throws -> (status: Int32, stdout: Data, stderr: String) {
        let process = Process()
        if let shellPrefix {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", shellPrefix, binary.path] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        if let directory { process.currentDirectoryURL = directory }
        var env = ProcessInfo.processInfo.environment
        // The binary runs with the OpenBLAS kernel of this test process (no re-exec for a faster
        // one: pixels may differ in the last bit between kernels); BenchTests checks the re-exec.
        env["VQZ_BLAS_REEXEC"] = "0"
        env.merge(environment) { $1 }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try process.run()
        if let stdin {
            // Written from another thread: the child may fill its stdout pipe before reading all of stdin.
            let writer = input.fileHandleForWriting
            DispatchQueue.global().async {
                writer.write(stdin)
                try? writer.close()
            }
        }
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return (process.terminationStatus, outData, String(decoding: errBox.data, as: UTF8.self))
    }
}

@Suite struct CLITests {
    let minimal = CLI.fixtures.appendingPathComponent("container/v1-minimal.vqz").path

    @Test func helpListsTheCommands() throws {
        let r = try CLI.run(["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("USAGE: vqz <subcommand>"))
        #expect(r.stdout.contains("info"))
    }

    @Test func versionNamesTheFormat() throws {
        let r = try CLI.run(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("vqz 0.2.0 (container format 1.2"))
    }

    @Test func infoMatchesGoldenText() throws {
        let r = try CLI.run(["info", minimal])
        #expect(r.status == 0)
        #expect(r.stderr.isEmpty)
        let golden = try String(contentsOf: CLI.fixtures.appendingPathComponent("cli/info-v1-minimal.txt"), encoding: .utf8)
        #expect(r.stdout == golden)
    }

    @Test func infoJSONHasTheSpecNames() throws {
        let r = try CLI.run(["info", "--json", minimal])
        #expect(r.status == 0)
        // One shape whatever the number of files: an array.
        let array = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(array.count == 1)
        let object = try #require(array.first)
        #expect(object["Image_Width"] as? Int == 20)
        #expect(object["Grid_Height"] as? Int == 2)
        #expect(object["Alphabet_Size"] as? [Int] == [256])
        #expect(object["Model_ID"] as? String == "a0c6f8525bd1c3efb6a2f98c64442e32")
        #expect(object["payload_checked"] as? Bool == true)
    }

    @Test func infoOfSeveralFilesAsJSONIsAnArray() throws {
        let other = CLI.fixtures.appendingPathComponent("container/v1-gaussian-alpha.vqz").path
        let r = try CLI.run(["info", "--json", minimal, other])
        #expect(r.status == 0)
        let array = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(array.count == 2)
        #expect(array[1]["Flags"] as? Int == 3)
    }

    @Test func infoReportsEveryFileAndExits1AfterABadOne() throws {
        let other = CLI.fixtures.appendingPathComponent("container/v1-gaussian-alpha.vqz").path
        let bad = CLI.fixtures.appendingPathComponent("container/must-fail/level.vqz").path
        let text = try CLI.run(["info", minimal, bad, other])
        #expect(text.status == 1)
        #expect(text.stdout.contains("\(minimal):\n") && text.stdout.contains("\(other):\n"), "\(text.stdout)")
        #expect(text.stderr.hasPrefix("vqz: error: \(bad): ") && text.stderr.split(separator: "\n").count == 1, "\(text.stderr)")
        let json = try CLI.run(["info", "--json", bad, minimal, "/nonexistent.vqz", other])
        #expect(json.status == 1)
        let array = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(array.map { $0["file"] as? String } == [minimal, other])
        #expect(json.stderr.split(separator: "\n").count == 2, "\(json.stderr)")
    }

    /// A model or token prior file is shown as what it is (id, metadata, arrays), checked by the
    /// model format's rules; a damaged one is one sentence and exit 1 like a bad .vqz.
    @Test func infoShowsModelAndPriorFiles() throws {
        let model = CLI.fixtures.appendingPathComponent("prior/golden.vqzm").path
        let prior = CLI.fixtures.appendingPathComponent("prior/golden.vqzp").path
        let text = try CLI.run(["info", model, prior])
        #expect(text.status == 0, "\(text.stderr)")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: model)))
        #expect(text.stdout.contains("Kind: model") && text.stdout.contains("Kind: token prior"), "\(text.stdout)")
        // The id is the one files made with the model carry.
        let file = try CLI.run(["info", "--json", CLI.fixtures.appendingPathComponent("prior/golden.vqz").path])
        let modelID = try #require((try JSONSerialization.jsonObject(with: Data(file.stdout.utf8)) as? [[String: Any]])?.first?["Model_ID"] as? String)
        #expect(text.stdout.contains("ID: \(modelID)\n"), "\(text.stdout)")
        #expect(text.stdout.contains("architecture  golden-codebooks\n"), "\(text.stdout)")
        let json = try CLI.run(["info", "--json", model, minimal])
        let array = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(array.count == 2)
        #expect(array[0]["kind"] as? String == "model" && array[0]["file_size"] as? Int == bytes.count)
        #expect((array[0]["metadata"] as? [String: String])?["architecture"] == "golden-codebooks")
        #expect(array[1]["Image_Width"] as? Int == 20)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqz-info-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var damaged = bytes
        damaged[damaged.count / 2] ^= 0x40
        let bad = dir.appendingPathComponent("bad.vqzm").path
        try Data(damaged).write(to: URL(fileURLWithPath: bad))
        let r = try CLI.run(["info", bad])
        #expect(r.status == 1 && r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix("vqz: error: \(bad): ") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }

    @Test(arguments: ["level", "payload-kind", "trailing-byte", "frame-no-checksum"])
    func badFileIsOneSentenceAndExit1(name: String) throws {
        let path = CLI.fixtures.appendingPathComponent("container/must-fail/\(name).vqz").path
        let r = try CLI.run(["info", path])
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(r.stderr.hasPrefix("vqz: error: \(path): "))
    }

    @Test func missingFileIsExit1() throws {
        let r = try CLI.run(["info", "/nonexistent/file.vqz"])
        #expect(r.status == 1)
        #expect(r.stderr == "vqz: error: /nonexistent/file.vqz: no such file\n")
    }

    @Test func pngIsNotAVQZ() throws {
        let png = CLI.fixtures.appendingPathComponent("pngsuite/png/basn2c08.png").path
        let r = try CLI.run(["info", png])
        #expect(r.status == 1)
        #expect(r.stderr.contains("not a .vqz file"))
    }

    @Test(arguments: [["info"], ["info", "--bogus", "x"], ["nosuchcommand"], ["info", "--max-pixels", "0", "x.vqz"],
                      ["encode", "--beam", "0", "x.png"], ["encode", "--beam", "65", "x.png"], ["bench", "--beam", "0"]])
    func usageErrorsAreExit64(arguments: [String]) throws {
        let r = try CLI.run(arguments)
        #expect(r.status == 64, "\(arguments): \(r.stderr)")
        #expect(r.stdout.isEmpty)
    }
}
