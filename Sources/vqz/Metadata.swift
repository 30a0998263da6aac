// `--metadata none|icc|all`: which of a PNG's metadata chunks a .vqz file carries (encode) and
// which of those a decoded PNG gets back (decode). The container stores them byte for byte
// (docs/FORMAT.md, "Metadata section"); nothing here interprets a profile or EXIF.

import ArgumentParser
import Container
import Imaging

enum MetadataPolicy: String, CaseIterable, ExpressibleByArgument {
    case none, icc, all

    /// The chunk types this policy keeps.
    var types: Set<String> {
        switch self {
        case .none: []
        case .icc: PNGChunk.colorTypes
        case .all: PNGChunk.metadataTypes
        }
    }

    /// The source's chunks this policy keeps, as container entries; refuses more than a file holds.
    func entries(_ source: PNGSourceInfo, name: String) throws -> [MetadataEntry] {
        let kept = source.metadata.filter { types.contains($0.type) }
        let size = kept.reduce(0) { $0 + 8 + $1.data.count }
        guard size <= BitstreamFormat.maxMetadataBytes else {
            throw RuntimeFailure("\(name == "-" ? "stdin" : name): its metadata is \(size) bytes, over the 16 MiB a .vqz file holds; use --metadata icc or --metadata none")
        }
        return kept.map { MetadataEntry(type: $0.type, data: $0.data) }
    }

    /// The stored entries this policy writes back into a PNG.
    func chunks(_ entries: [MetadataEntry]) -> [PNGChunk] {
        entries.filter { types.contains($0.type) }.map { PNGChunk(type: $0.type, data: $0.data) }
    }
}
