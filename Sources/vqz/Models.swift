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
            """)

    @Flag(help: "Print a JSON array on stdout.") var json = false

    func run() throws {
        try reportingErrors {
            let registry = ModelRegistry.standard()
            let entries = registry.entries()
            let defaultName = registry.defaultEntry()?.name
            var objects: [String] = []
            var text: [String] = []
            for entry in entries {
                let model = try LoadedModel(path: entry.path)
                let isDefault = entry.name == defaultName
                let card = entry.card(for: model.id)
                let figures = card?.levels ?? []
                let onKodak = card?.images == "kodak"
                let levelList = model.levels.map(String.init).joined(separator: ", ")
                func jsonList(_ levels: [ModelCard.Level]) -> String {
                    "[" + levels.map { String(format: "{\"level\": %d, \"bpp\": %.4f, \"psnr\": %.2f}", $0.level, $0.bpp, $0.psnr) }.joined(separator: ", ") + "]"
                }
                let elsewhere = card.map { onKodak ? "" : ", \"measured_on\": \"\(jsonEscaped($0.images))\", \"figures\": \(jsonList(figures))" } ?? ""
                objects.append("{\"name\": \"\(jsonEscaped(entry.name))\", \"family\": \"\(model.config.family.rawValue)\", \"levels\": [\(levelList)], \"default\": \(isDefault), \"model_id\": \"\(model.id.hex)\", \"path\": \"\(jsonEscaped(entry.path))\", \"kodak\": \(jsonList(onKodak ? figures : []))\(elsewhere)}")
                text.append("\(entry.name)\(isDefault ? " (default)" : "")  \(model.config.family.rawValue), levels \(model.levels.first!)–\(model.levels.last!), id \(model.id.hex)")
                text.append("  \(entry.path)")
                if let card {
                    text.append("  \(onKodak ? "Kodak" : card.images): " + figures.map { String(format: "L%d %.3f bpp %.2f dB", $0.level, $0.bpp, $0.psnr) }.joined(separator: " · "))
                } else {
                    text.append("  no card with measured figures")
                }
            }
            if json {
                try Streams.print("[" + objects.joined(separator: ",\n ") + "]")
            } else if entries.isEmpty {
                try Streams.print("no models in \(registry.searchDescription)")
            } else {
                for line in text { try Streams.print(line) }
            }
        }
    }
}
