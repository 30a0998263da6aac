// The .vqz container parser: header, sections, zstd frames, symbols. Must throw or succeed, never trap.

import Container
import FuzzDriver
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzContainer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let limits = BitstreamLimits(maxPixels: 1 << 20, maxTokenBytes: 1 << 22)
    for bytes in [input, Checksums.repairedVQZ(input)].compactMap({ $0 }) {
        _ = try? BitstreamHeader.parse(bytes, limits: limits)
        _ = try? BitstreamFile.parse(bytes, limits: limits)
    }
    return 0
}

@_cdecl("FuzzContainer_main")
public func fuzzContainerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    vqz_fuzz_main(argc, argv, { data, size in fuzzContainer(data, size) })
}
