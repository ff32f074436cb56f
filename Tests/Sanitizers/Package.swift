// swift-tools-version:6.0
// The sanitizer CI job's package: concurrency tests of Loupe's shared state, built apart from the main package.
//
// CI cannot afford the whole suite under ThreadSanitizer: the main test product links HummingbirdTesting, whose
// AsyncHTTPClient and swift-nio-ssl (BoringSSL) would be rebuilt instrumented, most of a 2-core machine's budget.
// This package depends on the root by path, like Fuzz/, and builds only the Loupe modules its tests import
// (Tests/Sanitizers/README.md has the costs). `scripts/sanitize --package Tests/Sanitizers thread` runs it.
import PackageDescription

let package = Package(
    name: "LoupeSanitizers",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "Loupe", path: "../..")],
    targets: [
        .testTarget(
            name: "ConcurrencyTests",
            dependencies: [
                .product(name: "Tensor", package: "Loupe"), .product(name: "Tokenizers", package: "Loupe"),
                .product(name: "Transformer", package: "Loupe"), .product(name: "Workbench", package: "Loupe"),
            ],
            path: "ConcurrencyTests")
    ]
)
