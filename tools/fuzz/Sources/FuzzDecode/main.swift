// The whole decode path: container → tokens or latents → the tiny test models → pixels → PNG bytes.
// The models are the committed test fixtures (Tests/Fixtures/models/codecs), found from this file.

import Codec
import Container
import Foundation
import FuzzDriver
import FuzzSupport
import Imaging

nonisolated(unsafe) let models: [LoadedModel] = {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../../Tests/Fixtures/models/codecs").standardizedFileURL.path
    return ["tiny-vq", "tiny-gaussian"].map { try! LoadedModel(path: "\(dir)/\($0).vqzm") }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecode(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let limits = BitstreamLimits(maxPixels: 1 << 16, maxTokenBytes: 1 << 20)
    for bytes in [input, Checksums.repairedVQZ(input)].compactMap({ $0 }) {
        for model in models {
            if let image = try? ImageCodec.decode(bytes, model: model, limits: limits) {
                _ = try? PNGEncoder.encode(image)
            }
        }
    }
    return 0
}

@_cdecl("FuzzDecode_main")
public func fuzzDecodeMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    vqz_fuzz_main(argc, argv, { data, size in fuzzDecode(data, size) })
}
