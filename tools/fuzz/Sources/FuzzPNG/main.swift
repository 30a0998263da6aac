// The PNG reader (libpng's simplified API behind our checks), with a small pixel limit so that a
// declared huge image is refused rather than allocated.

import FuzzDriver
import FuzzSupport
import Imaging

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    for bytes in [input, Checksums.repairedPNG(input)].compactMap({ $0 }) {
        if let (image, _) = try? PNGDecoder.decode(bytes, maxPixels: 1 << 20) {
            _ = image.rgb
        }
    }
    return 0
}

@_cdecl("FuzzPNG_main")
public func fuzzPNGMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    vqz_fuzz_main(argc, argv, { data, size in fuzzPNG(data, size) })
}
