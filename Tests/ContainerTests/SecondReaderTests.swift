// tools/vqz_dump.py, written from docs/FORMAT.md alone, must read what the Swift writer writes and
// agree with the Swift reader on every field, symbol and alpha sample — and reject what it rejects.

import Container
import Foundation
import Testing

enum Python {
    /// `$VQZ_PYTHON3` when set (a path that does not exist stands for "not installed"), else the
    /// first python3 found.
    static let executable: String? = {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["VQZ_PYTHON3"] { return FileManager.default.isExecutableFile(atPath: path) ? path : nil }
        return ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? environment["PATH"]?.split(separator: ":").map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    static let dump = Golden.fixtures.deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools/vqz_dump.py")

    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "python3 is not installed: the independent reader tools/vqz_dump.py cannot run (`make deps` or .ci/run installs what the tests need)"
        }
    }

    static func run(_ file: URL) throws -> (status: Int32, stdout: Data, stderr: String) {
        guard let executable else { throw Missing() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = [dump.path, file.path, "--json"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, o, String(decoding: e, as: UTF8.self))
    }
}

// Not skipped without python3: the independent check is part of the suite, so a machine that
// cannot run it fails (Python.Missing) instead of passing silently.
@Suite struct SecondReaderTests {
    @Test func theIndependentReaderRuns() throws {
        let result = try Python.run(Golden.fixtures.appendingPathComponent("v1-minimal.vqz"))
        #expect(result.status == 0, "tools/vqz_dump.py cannot read a valid file: \(result.stderr)")
        #expect(result.stderr.isEmpty, "\(result.stderr)")
    }

    static func sampleFiles() throws -> [(String, [UInt8])] {
        var files: [(String, [UInt8])] = try Golden.files.map { ($0.name, try Golden.bytes($0.name)) }
        var rng = SplitMix(seed: 99)
        for (alphabets, layout, alpha) in [([1024], SymbolLayout.bytePlanes, true), ([300, 17, 65_536], .interleaved, false)] {
            let planes = alphabets.count == 1 ? 4 : alphabets.count
            let (w, h, f) = (45, 29, 8)
            let n = ((w + f - 1) / f) * ((h + f - 1) / f)
            let symbols = (0..<planes * n).map { i in UInt16(rng.next() % UInt64(alphabets.count == 1 ? alphabets[0] : alphabets[i / n])) }
            let content = BitstreamFile(
                payloadKind: .vqTokens, sourceBitDepth: 16, downsampleFactor: f, imageWidth: w, imageHeight: h,
                level: planes, planeCount: planes, alphabetSizes: alphabets, modelID: Golden.modelID, symbols: symbols,
                alpha: alpha ? (0..<w * h).map { UInt8(truncatingIfNeeded: $0 * 3) } : nil)
            files.append(("random-\(alphabets)", try content.serialized(options: BitstreamWriteOptions(zstdLevel: 5, symbolLayout: layout))))
            // The same with metadata (version 1.1): a profile-sized entry of every byte value, an empty one, text.
            var tagged = content
            tagged.metadata = [MetadataEntry(type: "iCCP", data: Array("P3\u{0}\u{0}".utf8) + (0..<3000).map { UInt8(truncatingIfNeeded: $0 * 7) }),
                               MetadataEntry(type: "pHYs", data: []), MetadataEntry(type: "iTXt", data: Array("Title\u{0}\u{0}\u{0}\u{0}\u{0}ünïcode".utf8))]
            files.append(("random-\(alphabets)-metadata", try tagged.serialized(options: BitstreamWriteOptions(zstdLevel: 5, symbolLayout: layout))))
        }
        return files
    }

    @Test func agreesWithTheSwiftReader() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqz-dump-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, bytes) in try Self.sampleFiles() {
            let url = dir.appendingPathComponent("f.vqz")
            try Data(bytes).write(to: url)
            let result = try Python.run(url)
            try #require(result.status == 0, "\(name): vqz_dump.py failed: \(result.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
            let (h, content) = try BitstreamFile.parse(bytes)
            let expected: [String: Int] = [
                "Version_Major": Int(h.versionMajor), "Version_Minor": Int(h.versionMinor), "Header_Size": h.headerSize,
                "Payload_Kind": Int(h.payloadKind.rawValue), "Flags": Int(h.flags.rawValue),
                "Source_Bit_Depth": h.sourceBitDepth, "Downsample_Factor": h.downsampleFactor,
                "Image_Width": h.imageWidth, "Image_Height": h.imageHeight, "Grid_Width": h.gridWidth,
                "Grid_Height": h.gridHeight, "Level": h.level, "Plane_Count": h.planeCount,
                "Alphabet_Count": h.alphabetCount, "Symbol_Layout": Int(h.symbolLayout.rawValue),
                "Token_Section_Size": h.tokenSectionSize, "Alpha_Section_Size": h.alphaSectionSize,
                "Payload_CRC32": Int(h.payloadCRC32), "Header_CRC32": Int(h.headerCRC32),
                "Metadata_Section_Size": h.metadataSectionSize,
            ]
            for (key, value) in expected { #expect(json[key] as? Int == value, "\(name): \(key)") }
            #expect(json["Model_ID"] as? String == h.modelID.hex, "\(name)")
            #expect(json["Alphabet_Size"] as? [Int] == h.alphabetSizes, "\(name)")
            #expect((json["Quant_Step"] as? Double).map(Float.init) == h.quantStep, "\(name)")
            let planes = try #require(json["Planes"] as? [[Int]], "\(name): Planes")
            #expect(planes.flatMap { $0 } == content.symbols.map(Int.init), "\(name): symbols differ")
            #expect((json["Alpha"] as? [Int]) == content.alpha?.map(Int.init), "\(name): alpha differs")
            let metadata = try #require(json["Metadata"] as? [[String: String]], "\(name): Metadata")
            #expect(metadata.map { $0["Entry_Type"] ?? "" } == content.metadata.map(\.type), "\(name): metadata types differ")
            #expect(metadata.map { $0["Entry_Data"] ?? "" } == content.metadata.map { $0.data.map { String(format: "%02x", $0) }.joined() },
                    "\(name): metadata data differs")
        }
    }

    @Test func rejectsWhatTheSwiftReaderRejects() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqz-dump-bad-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let mustFail = Golden.fixtures.appendingPathComponent("must-fail")
        for name in try FileManager.default.contentsOfDirectory(atPath: mustFail.path) where name.hasSuffix(".vqz") {
            let result = try Python.run(mustFail.appendingPathComponent(name))
            #expect(result.status == 1, "\(name): vqz_dump.py accepted a must-fail file")
            #expect(result.stderr.hasPrefix("vqz_dump: error:"), "\(name): \(result.stderr)")
        }
    }
}
