// swift-tools-version:6.0
// vqz — a neural image codec. Modules are cut by dependency direction (see docs/design/layout.md):
//   CPNG, CZstd, COpenBLAS   system libraries (pkg-config, apt providers)
//   Container                bytes only: CRC-32, SHA-256, zstd, the .vqz container (and .vqzm model files)
//   Imaging                  PNG in/out through libpng's simplified API, pixel buffers
//   TensorCore               Tensor, RNG, kernels (GEMM via OpenBLAS, conv, GDN, …)
//   NN                       layers with hand-written backward passes, losses, Adam
//   Models                   the VQ-VAE (residual VQ, EMA codebooks) and the Gaussian VAE baseline
//   Training                 data loading, the training loop, resume rules, checkpoint state
//   Metrics                  PSNR, MS-SSIM, BD-rate
//   Codec                    model files → networks; image ↔ .vqz through a model
//   vqz                      the command-line tool (thin: parsing, I/O, printing)
//   TestSupport, BenchSupport, RDKit: for the tests and the benchmarks (docs/design/layout.md)
import PackageDescription

// Opt-in unsafe optimisation for the kernels only (VQZ_UNCHECKED=1); the tests must pass without it.
let kernelFlags: [SwiftSetting] =
    Context.environment["VQZ_UNCHECKED"] == "1" ? [.unsafeFlags(["-Ounchecked"])] : []

let package = Package(
    name: "vqz",
    products: [
        .executable(name: "vqz", targets: ["vqz"]),
        // For tools/fuzz (libFuzzer targets built as their own package against these modules).
        .library(name: "VQZCore", targets: ["Container", "Imaging", "Codec"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.0"),
    ],
    targets: [
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // oneDNN (apt: libdnnl-dev, which ships no pkg-config file): the training convolutions
        // (TensorCore.OneDNNConvolution) behind a C shim.
        .target(name: "CDNNLConv", linkerSettings: [.linkedLibrary("dl")]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        // SHA-256 with the x86 SHA extensions when the CPU has them (model and prior ids).
        .target(name: "CSHA256", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Container", dependencies: ["CZstd", "CSHA256"]),
        // libpng's full write API behind a C function (longjmp stays in C): zlib level and filter.
        .target(name: "CPNGWrite", dependencies: ["CPNG"], cSettings: [.unsafeFlags(["-O3"])], linkerSettings: [.linkedLibrary("z"), .linkedLibrary("pthread")]),
        .target(name: "Imaging", dependencies: ["CPNG", "CPNGWrite"]),
        // Winograd's transforms in C (AVX2 where the CPU has it; the same sums on every path).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),
        .target(
            name: "TensorCore",
            dependencies: ["COpenBLAS", "CDNNLConv", "CKernels", .product(name: "RealModule", package: "swift-numerics")],
            swiftSettings: kernelFlags),
        .target(name: "NN", dependencies: ["TensorCore", "Container"]),
        .target(name: "Models", dependencies: ["NN", "TensorCore"]),
        .target(name: "Training", dependencies: ["Models", "NN", "TensorCore", "Imaging", "Container", "Metrics"]),
        // The learned token prior: integer-only inference, rANS, and its float trainer (docs/design/prior.md).
        // The per-token integer kernel in C: AVX2 where the CPU has it (run-time choice), wrapping.
        .target(name: "CTokenPrior", cSettings: [.unsafeFlags(["-O3", "-fwrapv"])]),
        .target(name: "TokenPrior", dependencies: ["Container", "TensorCore", "CTokenPrior", .product(name: "RealModule", package: "swift-numerics")]),
        .target(name: "Codec", dependencies: ["Models", "NN", "TensorCore", "Imaging", "Container", "Metrics", "TokenPrior"]),

        .executableTarget(
            name: "vqz",
            dependencies: [
                "Container", "Imaging", "Models", "Training", "TensorCore", "Codec", "Metrics", "RDKit", "COpenBLAS", "TokenPrior",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .executableTarget(
            name: "KernelBench", dependencies: ["BenchSupport", "NN", "TensorCore", "COpenBLAS", "Container", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/Kernels",
            // top-level script state: Swift 5 mode avoids main-actor ceremony in a benchmark
            swiftSettings: [.swiftLanguageMode(.v5)]),

        .target(name: "Metrics"),
        .target(name: "BenchSupport", path: "Benchmarks/Support"),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics"]),

        .executableTarget(
            name: "CodecBench", dependencies: ["BenchSupport", "Codec", "Container", "Imaging", "Metrics", "TensorCore", "COpenBLAS", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/Codec", swiftSettings: [.swiftLanguageMode(.v5)]),

        .executableTarget(
            name: "ScalarResidualExp", dependencies: ["Codec", "Container", "Imaging", "Metrics", "Models", "NN", "TensorCore"],
            path: "Benchmarks/ScalarResidual", swiftSettings: [.swiftLanguageMode(.v5)]),

        .executableTarget(
            name: "PackingBench",
            dependencies: ["Codec", "Container", "Imaging", "TensorCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/Packing", swiftSettings: [.swiftLanguageMode(.v5)]),

        .executableTarget(
            name: "LayerBench",
            dependencies: ["BenchSupport", "Codec", "NN", "TensorCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/Layers"),

        .executableTarget(
            name: "TokenDump",
            dependencies: ["Codec", "Container", "Imaging", "TensorCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/Tokens"),

        .target(name: "RDKit", dependencies: ["BenchSupport", "Metrics", "Codec", "Imaging", "Container"]),
        .testTarget(name: "RDKitTests", dependencies: ["RDKit", "Metrics"]),

        .testTarget(name: "ContainerTests", dependencies: ["Container"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging"]),
        .target(name: "TestSupport", dependencies: ["TensorCore"]),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "TensorCore", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "NN", "TensorCore"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Models", "NN", "TensorCore"]),
        .testTarget(name: "CodecTests", dependencies: ["Codec", "Training", "Models", "Imaging", "Container", "TensorCore", "TokenPrior", "CTokenPrior", .product(name: "RealModule", package: "swift-numerics")]),
        .testTarget(name: "CLITests", dependencies: ["vqz", "Imaging", "Container", "Training", "Models", "NN", "TensorCore"]),
    ]
)
