// The one rule for "the PNG images of a folder", used by training, `vqz eval` and the benchmarks:
// regular files whose name ends in .png in any case, hidden files (a leading dot) excluded, sorted
// by name (byte order), not recursive.

import Foundation

/// The PNG files of a folder.
public enum PNGFolder {
    /// Why a folder could not be listed.
    public struct ListingError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The file names (not paths) of the PNG images in `directory`, sorted.
    public static func names(in directory: String) throws(ListingError) -> [String] {
        let all: [String]
        do { all = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw ListingError(description: "\(directory): cannot be listed (not a readable folder)")
        }
        return all.filter { name in
            guard !name.hasPrefix("."), name.lowercased().hasSuffix(".png") else { return false }
            var isDirectory: ObjCBool = false
            let path = (directory as NSString).appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
        }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// The paths of the PNG images in `directory`, sorted by name.
    public static func paths(in directory: String) throws(ListingError) -> [String] {
        try names(in: directory).map { (directory as NSString).appendingPathComponent($0) }
    }
}
