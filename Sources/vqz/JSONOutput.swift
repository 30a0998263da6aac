// Every `--json` output is a Codable value encoded by JSONEncoder: valid JSON by construction, with
// a figure that is not finite left out (JSON has no NaN or infinity).

import Foundation

enum JSONOutput {
    /// `value` as one line of JSON on stdout.
    static func print(_ value: some Encodable) throws {
        try Streams.print(encode(value))
    }

    /// `value` as one line of JSON with its newline (a JSON-lines record).
    static func line(_ value: some Encodable) throws -> String { try encode(value) + "\n" }

    /// `value` as one line of JSON.
    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]  // sorted: the same bytes on every run
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// A figure for JSON: rounded to `decimals` places, or nil (the key is left out) when it is NaN or infinite.
func jsonFigure(_ x: Double, _ decimals: Int) -> Double? {
    guard x.isFinite else { return nil }
    let scale = pow(10, Double(decimals))
    return (x * scale).rounded() / scale
}

func jsonFigure(_ x: Double?, _ decimals: Int) -> Double? { x.flatMap { jsonFigure($0, decimals) } }
