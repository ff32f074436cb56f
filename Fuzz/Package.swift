// swift-tools-version:6.0
// Loupe's libFuzzer harnesses: one executable per parser, built apart from the main package (its own manifest and
// scratch directory) so `swift build` / `swift test` at the root never see them. `run.sh` builds them with libFuzzer's
// coverage instrumentation and ASan on every target (see its comment on the flags) and runs each on its seed corpus.
// The harnesses use `@testable import` to reach the internal parsers (debug builds are testable), and
// `-parse-as-library` because libFuzzer's `main` drives `LLVMFuzzerTestOneInput`. The root package exports the
// Server target as a product for the server-requests harness alone.
import Foundation
import PackageDescription

/// The server's harness needs swift-nio and Hummingbird built with the same instrumentation, most of the build's
/// time; `FUZZ_SERVER=0` (what run.sh sets when it is not asked for) leaves it out.
let withServer = ProcessInfo.processInfo.environment["FUZZ_SERVER"] != "0"

/// One harness: `Harnesses/<directory>/*.swift`, executable `fuzz-<name>`.
func harness(_ name: String, _ directory: String, _ products: [String]) -> Target {
    .executableTarget(
        name: "fuzz-" + name,
        dependencies: ["FuzzSupport"] + products.map { .product(name: $0, package: "Loupe") },
        path: "Harnesses/" + directory,
        swiftSettings: [.unsafeFlags(["-parse-as-library"])])
}

let package = Package(
    name: "LoupeFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "Loupe", path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "Tokenizers", package: "Loupe")], path: "Harnesses/Support"),
        harness("wordpiece", "WordPiece", ["Tokenizers", "Transformer"]),
        harness("gpt2-bpe", "GPT2BPE", ["Tokenizers", "Transformer"]),
        harness("safetensors", "SafeTensors", ["Transformer"]),
        harness("hdf5", "HDF5", ["Transformer"]),
        harness("config-json", "ConfigJSON", ["Transformer"]),
        harness("tokenizer-files", "TokenizerFiles", ["Transformer", "Tokenizers"]),
        harness("vocab", "Vocab", ["Tokenizers"]),
        harness("examples", "Examples", ["Workbench"]),
    ] + (withServer ? [harness("server-requests", "ServerRequests", ["Server", "Workbench"])] : [])
)
