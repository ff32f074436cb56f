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

        .target(
            name: "Tensor", dependencies: ["CBLAS"],
            swiftSettings: [.unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma"])]),
        .target(name: "Tokenizers"),
        .target(name: "Transformer", dependencies: ["Tensor", "Tokenizers", "CHDF5"]),
        .executableTarget(
            name: "loupe",
            dependencies: [
                "Tensor", "Tokenizers", "Transformer", "CBLAS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers"], exclude: ["Fixtures"]),
        .testTarget(name: "TransformerTests", dependencies: ["Transformer", "Tensor", "Tokenizers"]),
    ]
)
