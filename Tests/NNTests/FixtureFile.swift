// Reader for the NumPy reference fixtures (Tests/Fixtures/reference/README.md): magic "VQZF",
// u32 version 1, u32 array count, then named little-endian f32 arrays. A missing fixture fails the
// test; it is never created here.

import Foundation
import TensorCore

struct FixtureFile {
    enum Failure: Error, CustomStringConvertible {
        case missing(String)
        case malformed(String, String)
        case noArray(String, String)
        var description: String {
            switch self {
            case .missing(let f): return "fixture \(f) is missing (regenerate with `make fixtures`)"
            case .malformed(let f, let why): return "fixture \(f) is malformed: \(why)"
            case .noArray(let f, let name): return "fixture \(f) has no array named \(name)"
            }
        }
    }

    let name: String
    private(set) var arrays: [String: Tensor] = [:]
    private(set) var order: [String] = []

    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/reference")

    init(_ name: String) throws {
        self.name = name
        let url = Self.directory.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw Failure.missing(url.path)
        }
        let bytes = [UInt8](data)
        var offset = 0
        func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count >= 0, offset + count <= bytes.count else {
                throw Failure.malformed(name, "truncated at \(offset)")
            }
            defer { offset += count }
            return bytes[offset..<offset + count]
        }
        func u32() throws -> UInt32 {
            let s = try take(4)
            return s.reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }
        guard Array(try take(4)) == Array("VQZF".utf8) else { throw Failure.malformed(name, "magic") }
        guard try u32() == 1 else { throw Failure.malformed(name, "version") }
        let count = try u32()
        for _ in 0..<count {
            let lenBytes = try take(2)
            let len = Int(lenBytes.first!) | Int(lenBytes.last!) << 8
            let arrayName = String(decoding: try take(len), as: UTF8.self)
            let rank = Int(try take(1).first!)
            var shape: [Int] = []
            for _ in 0..<rank { shape.append(Int(try u32())) }
            let n = shape.reduce(1, *)
            var scalars = [Float](repeating: 0, count: n)
            for i in 0..<n { scalars[i] = Float(bitPattern: try u32()) }
            arrays[arrayName] = Tensor(shape: shape, scalars: scalars)
            order.append(arrayName)
        }
        guard offset == bytes.count else { throw Failure.malformed(name, "trailing bytes") }
    }

    func tensor(_ key: String) throws -> Tensor {
        guard let t = arrays[key] else { throw Failure.noArray(name, key) }
        return t
    }

    func scalar(_ key: String) throws -> Float { try tensor(key).scalars[0] }

    func int(_ key: String) throws -> Int { Int(try scalar(key)) }
}
