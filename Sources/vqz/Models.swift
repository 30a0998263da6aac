// `vqz models [--json]`: every model on the search path, with its family, levels, whether it is the
// default, and the Kodak figures from its card.

import ArgumentParser
import Codec
import Container
import Foundation

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the available models.",
        discussion: """
            Models are .vqzm files in the model folders: $VQZ_CODECS (colon-separated; when set, the \
            only ones searched), else codecs/ beside the vqz executable, ../share/vqz/codecs from it, \
            and codecs/ in the executable's ancestor folders. Each model's figures come from its card \
            (NAME.card.json, written by `vqz eval --card`).

            Examples:
              vqz models
              vqz models --json
            """)

    @Flag(help: "Print a JSON array on stdout.") var json = false

    /// One model in `--json`.
    struct Entry: Encodable {
        struct Figure: Encodable {
            var level: Int
            var bpp, psnr: Double?
        }
        var name, family: String
        var levels: [Int]
        var defaultLevel: Int
        var isDefault: Bool
        var modelID, path: String
        var kodak: [Figure]
        var measuredOn: String?
        var figures: [Figure]?

        enum CodingKeys: String, CodingKey {
            case name, family, levels, defaultLevel = "default_level", isDefault = "default", modelID = "model_id", path, kodak
            case measuredOn = "measured_on", figures
        }
    }

    func run() throws {
        try reportingErrors {
            let registry = ModelRegistry.standard()
            let entries = registry.entries()
            let defaultName = registry.defaultEntry()?.name
            var objects: [Entry] = []
            var text: [String] = []
            var failed = 0
            for entry in entries {
                // A file that cannot be read is named on stderr; the others are still listed.
                let model: LoadedModel
                do { model = try LoadedModel(path: entry.path) } catch {
                    let reason = "\(error)"  // LoadedModel's errors start with the model's name; the path says more
                    printError("vqz: error: \(entry.path): " + (reason.hasPrefix(entry.name + ": ") ? String(reason.dropFirst(entry.name.count + 2)) : reason))
                    failed += 1
                    continue
                }
                let isDefault = entry.name == defaultName
                let card = entry.card(for: model.id)
                let figures = (card?.levels ?? []).map { Entry.Figure(level: $0.level, bpp: jsonFigure($0.bpp, 4), psnr: jsonFigure($0.psnr, 2)) }
                let onKodak = card?.images == "kodak"
                objects.append(Entry(
                    name: entry.name, family: model.config.family.rawValue, levels: model.levels, defaultLevel: model.config.encodeLevel, isDefault: isDefault,
                    modelID: model.id.hex, path: entry.path, kodak: onKodak ? figures : [],
                    measuredOn: card.flatMap { onKodak ? nil : $0.images }, figures: card == nil || onKodak ? nil : figures))
                text.append("\(entry.name)\(isDefault ? " (default)" : "")  \(model.config.family.rawValue), levels \(model.levels.first!)–\(model.levels.last!) (default \(model.config.encodeLevel)), id \(model.id.hex)")
                text.append("  \(entry.path)")
                if let card {
                    text.append("  \(onKodak ? "Kodak" : card.images): " + card.levels.map { String(format: "L%d %.3f bpp %.2f dB", $0.level, $0.bpp, $0.psnr) }.joined(separator: " · "))
                } else {
                    text.append("  no card with measured figures")
                }
            }
            if json {
                try JSONOutput.print(objects)
            } else if entries.isEmpty {
                try Streams.print("no models in \(registry.searchDescription)")
            } else {
                for line in text { try Streams.print(line) }
            }
            if failed > 0 { throw ExitCode(1) }
        }
    }
}
