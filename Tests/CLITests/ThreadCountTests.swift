// Thread-count invariance: the built `loupe` gives the same predictions, explanations and samples on 1 and 2 threads.
//
// Each run is its own process (LOUPE_THREADS is read once per process). With 2 threads, products of 128 K
// multiply-adds or more run as blocks of output columns (or rows) on two threads, each block one single-threaded
// OpenBLAS call (Sources/Tensor/MatMul.swift). Measured on these five commands: the outputs are bit for bit the
// same, so the check is equality of the whole output text but for `seconds`, the wall time explain reports. (Scaling
// the column-split products by 1 + 1e-6 on 2 threads made the three BERT commands fail; the fixture GPT-2's did not.)
import Foundation
import Testing

@Suite struct ThreadCountTests {
    static let bert = "Tests/Fixtures/bert_tiny_cls.h5", gpt2 = "Tests/Fixtures/gpt2_tiny.h5"
    static let reviews = "Tests/Fixtures/cli/reviews.tsv"

    static let commands: [[String]] = [
        ["predict", "--model", bert, "--input", reviews, "--format", "json"],
        ["explain", "--model", bert, "--method", "ig", "--input", reviews, "--format", "json"],
        ["explain", "--model", bert, "--method", "lime", "--input", reviews, "--format", "json"],
        ["explain", "--model", gpt2, "--method", "grad-input", "--prompt", "The dog", "--max-tokens", "5", "--format", "json"],
        [
            "generate", "--model", gpt2, "--prompt", "The dog", "--max-tokens", "20", "--temperature", "0.9",
            "--top-k", "40", "--seed", "3", "--format", "json",
        ],
    ]

    @Test(arguments: commands) func oneAndTwoThreadsAgree(_ arguments: [String]) throws {
        let one = try run(arguments, environment: ["LOUPE_THREADS": "1"])
        let two = try run(arguments, environment: ["LOUPE_THREADS": "2"])
        #expect(one.status == 0 && two.status == 0, "\(one.stderr) \(two.stderr)")
        #expect(!one.stdout.isEmpty)
        let seconds = /"seconds":[-+.0-9eE]+/
        let (a, b) = (
            one.stdout.replacing(seconds, with: "").split(separator: "\n"),
            two.stdout.replacing(seconds, with: "").split(separator: "\n")
        )
        #expect(a.count == b.count)
        let differing = zip(a, b).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        #expect(differing.isEmpty, "lines \(differing) differ between 1 and 2 threads:\n\(one.stdout)\n\(two.stdout)")
    }
}
