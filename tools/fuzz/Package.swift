// swift-tools-version:6.0
// libFuzzer targets for vqz (`make fuzz`): the .vqz container parser, the whole decode path with a
// tiny test model, and the PNG reader. Built on their own, with -sanitize=fuzzer,address and
// -parse-as-library (libFuzzer brings main), against the library modules of the repository:
//
//   swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   .build/release/FuzzContainer corpus/container -max_total_time=60
import PackageDescription

let package = Package(
    name: "vqz-fuzz",
    dependencies: [.package(name: "vqz", path: "../..")],
    targets: [
        .target(name: "FuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["FuzzDriver", .product(name: "VQZCore", package: "vqz")]),
        .executableTarget(name: "FuzzContainer", dependencies: ["FuzzSupport", .product(name: "VQZCore", package: "vqz")]),
        .executableTarget(name: "FuzzDecode", dependencies: ["FuzzSupport", .product(name: "VQZCore", package: "vqz")]),
        .executableTarget(name: "FuzzPNG", dependencies: ["FuzzSupport", .product(name: "VQZCore", package: "vqz")]),
    ]
)
