// Thread-count invariance: the built `loupe` gives the same predictions, explanations and samples on 1 and 2 threads.
//
// Each run is its own process (LOUPE_THREADS is read once per process). With 2 threads, products of 128 K
// multiply-adds or more run as blocks of output columns (or rows) on two threads, each block one single-threaded
// OpenBLAS call (Sources/Tensor/MatMul.swift). Whether a column block gets the same bits as the same columns of one
// call depends on OpenBLAS's kernels: with its Zen (AMD) and Prescott kernels these five commands gave identical
// output; with its SkylakeX and Haswell kernels on an Intel Xeon (2026-12-05) the forward's probabilities moved by
// up to 2.2e-7 and IG's scores by up to 4.8e-7 of the largest score. So: the same lines, the same strings, ids and
// tokens, and every number within 1e-6 + 1e-5·|value| (a documented bound, as the padding-invariance tests'), all
// but `seconds`, the wall time explain reports. Training's bit-exact resumption needs the same bits on the same
// thread count only, which the partition (fixed by shape and thread count) gives.
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
        let (a, b) = (one.stdout.split(separator: "\n"), two.stdout.split(separator: "\n"))
        #expect(a.count == b.count)
        let differing = try zip(a, b).enumerated()
            .filter { try !agree(json($0.element.0), json($0.element.1)) }.map(\.offset)
        #expect(differing.isEmpty, "lines \(differing) differ between 1 and 2 threads:\n\(one.stdout)\n\(two.stdout)")
    }

    func json(_ line: Substring) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
    }

    /// Equal structure and strings; numbers within 1e-6 + 1e-5·|a|; `seconds` skipped.
    func agree(_ a: Any, _ b: Any) -> Bool {
        switch (a, b) {
        case let (x as [String: Any], y as [String: Any]):
            return Set(x.keys) == Set(y.keys) && x.allSatisfy { k, v in k == "seconds" || agree(v, y[k]!) }
        case let (x as [Any], y as [Any]):
            return x.count == y.count && zip(x, y).allSatisfy(agree)
        case let (x as String, y as String):
            return x == y
        case let (x as NSNumber, y as NSNumber):  // integers too: an id or token that differs by 1 fails
            return abs(x.doubleValue - y.doubleValue) <= 1e-6 + 1e-5 * abs(x.doubleValue)
        default:
            return (a as? NSNull) != nil && (b as? NSNull) != nil
        }
    }
}
