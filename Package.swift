// swift-tools-version:6.0
// Loupe: a native Swift inference runtime and interpretability engine for transformer NLP models.
import Foundation
import PackageDescription

/// The Tensor target's vector instructions, chosen for the machine that builds (as -march=native would, for
/// these flags only): AVX-512 F/VL/BW/DQ when its /proc/cpuinfo lists them (e.g. AMD EPYC Zen 4/5), so the
/// element-wise kernels' 16-lane vectors are single instructions; AVX2 + FMA otherwise, where the same code
/// runs as pairs of 8-lane instructions instead of stopping on an illegal instruction. LOUPE_AVX512=0 or 1
/// overrides the detection (for a build meant for another machine).
let avx512: Bool = {
    if let forced = ProcessInfo.processInfo.environment["LOUPE_AVX512"] { return forced == "1" }
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
        let flags = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
    else { return false }
    let have = Set(flags.split(separator: " ").map(String.init))
    return ["avx512f", "avx512vl", "avx512bw", "avx512dq"].allSatisfy(have.contains)
}()
let vectorFlags =
    ["-Xcc", "-mavx2", "-Xcc", "-mfma"]
    + (avx512 ? ["-Xcc", "-mavx512f", "-Xcc", "-mavx512vl", "-Xcc", "-mavx512bw", "-Xcc", "-mavx512dq"] : [])

let package = Package(
    name: "Loupe",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "loupe", targets: ["loupe"]),
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "Transformer", targets: ["Transformer"]),
        .library(name: "Interpret", targets: ["Interpret"]),
        .library(name: "Workbench", targets: ["Workbench"]),
        // For Fuzz/Package.swift's request-decoding harness (a package sees another's targets only through products).
        .library(name: "Server", targets: ["Server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Hummingbird's own dependencies, named for the server's connection handler (Sources/Server/Connections.swift).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
    ],
    targets: [
        // System libraries, found through pkg-config (Debian: libopenblas-dev, libhdf5-dev).
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CMalloc"),  // glibc's <malloc.h>: the loupe binary's allocator tuning
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        .target(name: "CTensorBoard", dependencies: ["CProtobufC"]),
        // oneDNN (Debian libdnnl-dev, which ships no pkg-config file): int8 and bf16 matmuls behind a small C surface.
        // libgomp is oneDNN's CPU runtime; Loupe sets its team size per call.
        .target(
            name: "COneDNN",
            cSettings: [.unsafeFlags(["-O3", "-fno-strict-aliasing", "-mavx2", "-mfma"])],
            linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),

        .target(
            name: "Tensor", dependencies: ["CBLAS", "COneDNN"],
            swiftSettings: [.unsafeFlags(vectorFlags)]),  // see `avx512` above
        .target(name: "Tokenizers"),
        .target(name: "Transformer", dependencies: ["Tensor", "Tokenizers", "CHDF5"]),
        .target(name: "Interpret", dependencies: ["Transformer", "Tensor", "Tokenizers"]),
        .target(name: "Training", dependencies: ["Transformer", "Tensor", "Tokenizers", "CTensorBoard", "CHDF5"]),
        // The typed operations (requests in, Codable results out) that the CLI and the server share.
        .target(name: "Workbench", dependencies: ["Transformer", "Interpret", "Training", "Tensor", "Tokenizers"]),
        // The measuring code of `loupe bench` (typed requests in, Codable reports out), kept out of the CLI and
        // out of the product libraries; Benchmarks/*.py run the reference sides.
        .target(
            name: "LoupeBenchmarks", dependencies: ["Tensor", "Tokenizers", "Transformer", "CBLAS"],
            path: "Benchmarks/Swift"),
        // `loupe serve`: HTTP routes over Workbench (the work is in the library).
        .target(
            name: "Server",
            dependencies: [
                "Workbench", "Interpret", "Transformer", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ],
            exclude: ["tsconfig.json"], resources: [.embedInCode("Public")]),
        .executableTarget(
            name: "loupe",
            dependencies: [
                "Tensor", "Tokenizers", "Transformer", "Interpret", "Training", "Workbench", "Server", "LoupeBenchmarks", "CBLAS",
                "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Where tests find the data that is not committed (shared data sets, the MiniLM checkpoint); see its header.
        .target(name: "TestData", path: "Tests/TestData"),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "COneDNN"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "TestData"], exclude: ["Fixtures"]),
        .testTarget(name: "TransformerTests", dependencies: ["Transformer", "Tensor", "Tokenizers", "CHDF5", "TestData"]),
        .testTarget(name: "InterpretTests", dependencies: ["Interpret", "Transformer", "Tensor", "Tokenizers", "TestData"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Transformer", "Tensor", "Tokenizers"]),
        .testTarget(name: "WorkbenchTests", dependencies: ["Workbench", "Interpret", "Transformer", "TestData"]),
        // Runs the built `loupe` binary (a dependency, so `swift test` builds it) on Tests/Fixtures/cli.
        .testTarget(name: "CLITests", dependencies: ["loupe", "TestData"]),
        .testTarget(
            name: "ServerTests",
            dependencies: ["Server", "Workbench", .product(name: "HummingbirdTesting", package: "hummingbird")]),
    ]
)
