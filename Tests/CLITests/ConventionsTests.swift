// The command-line conventions (#16.6): every command's --help has examples, -s is --quiet on every
// command, -v works on decode, --threads gives the same bytes as the default, and encode checks the
// input before it pays for the model.

import Foundation
import Testing

@Suite struct ConventionsTests {
    @Test(arguments: ["encode", "decode", "trim", "tokens", "info", "models", "bench", "train", "eval"])
    func helpHasExamples(command: String) throws {
        let r = try CLI.run([command, "--help"])
        #expect(r.status == 0 && r.stdout.contains("Examples:"), "\(command): \(r.stdout)")
    }

    @Test func quietVerboseAndThreads() throws {
        let dir = try Workspace.make()
        let png = try Workspace.png(in: dir, name: "a.png", width: 40, height: 24, format: .rgb)
        let one = dir.appendingPathComponent("one.vqz").path, two = dir.appendingPathComponent("two.vqz").path
        let quiet = try Workspace.vqz(["encode", png, "-o", one, "-q", "2", "-s", "--threads", "1"])
        #expect(quiet.status == 0 && quiet.stderr.isEmpty && quiet.stdout.isEmpty, "\(quiet.stderr)")
        #expect(try Workspace.vqz(["encode", png, "-o", two, "-q", "2", "-s", "--threads", "3"]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: one)) == Data(contentsOf: URL(fileURLWithPath: two)), "--threads changes no byte")
        let v = try Workspace.vqz(["decode", one, "-o", dir.appendingPathComponent("a.png").path.replacingOccurrences(of: "a.png", with: "b.png"), "-v"])
        #expect(v.status == 0 && v.stderr.contains("bpp") && v.stderr.contains("model id"), "\(v.stderr)")
        for command in [["trim", one, "-q", "1", "-o", dir.appendingPathComponent("t.vqz").path, "-s"],
                        ["tokens", png, "-m", "tiny-vq", "-o", dir.appendingPathComponent("t.npy").path, "-s"]] {
            let r = try Workspace.vqz(command)
            #expect(r.status == 0 && r.stderr.isEmpty, "\(command): \(r.stderr)")
        }
    }

    @Test func aBadPNGDoesNotPayForTheModel() throws {
        let dir = try Workspace.make()
        let bad = dir.appendingPathComponent("bad.png")
        try Data("not a png".utf8).write(to: bad)
        // The model named does not exist: a bad input is reported first, so it was never looked up.
        let r = try Workspace.vqz(["encode", bad.path, "-m", "no-such-model", "-o", dir.appendingPathComponent("x.vqz").path])
        #expect(r.status == 1 && r.stderr.contains("not a readable PNG image") && !r.stderr.contains("no-such-model"), "\(r.stderr)")
    }
}
