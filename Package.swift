// swift-tools-version:6.0
// Loupe: a native Swift inference runtime and interpretability engine for transformer NLP models.
import PackageDescription

let package = Package(
    name: "Loupe",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "loupe", targets: ["loupe"]),
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "Transformer", targets: ["Transformer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries, found through pkg-config (Debian: libopenblas-dev, libhdf5-dev).
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        .target(name: "CTensorBoard", dependencies: ["CProtobufC"]),

        .target(
            name: "Tensor", dependencies: ["CBLAS"],
            // AVX-512 (F, VL, BW, DQ): the element-wise kernels run on 16-lane vectors (VectorMath.swift). The target
            // machines (AMD EPYC Zen 4/5, CI included) have it; a CPU without it stops with an illegal instruction.
            swiftSettings: [
                .unsafeFlags([
                    "-Xcc", "-mavx2", "-Xcc", "-mfma", "-Xcc", "-mavx512f", "-Xcc", "-mavx512vl", "-Xcc", "-mavx512bw",
                    "-Xcc", "-mavx512dq",
                ])
            ]),
        .target(name: "Tokenizers"),
        .target(name: "Transformer", dependencies: ["Tensor", "Tokenizers", "CHDF5"]),
        .target(name: "Interpret", dependencies: ["Transformer", "Tensor", "Tokenizers"]),
        .target(name: "Training", dependencies: ["Transformer", "Tensor", "Tokenizers", "CTensorBoard", "CHDF5"]),
        .executableTarget(
            name: "loupe",
            dependencies: [
                "Tensor", "Tokenizers", "Transformer", "Interpret", "Training", "CBLAS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers"], exclude: ["Fixtures"]),
        .testTarget(name: "TransformerTests", dependencies: ["Transformer", "Tensor", "Tokenizers"]),
        .testTarget(name: "InterpretTests", dependencies: ["Interpret", "Transformer", "Tensor", "Tokenizers"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Transformer", "Tensor", "Tokenizers"]),
    ]
)
