// Every Unicode scalar through the BERT normalizer and both pre-tokenizers, against HF's measured behaviour.
import Foundation
import Testing
import Tokenizers

@Suite struct UnicodeProbeTests {
    struct Probe: Decodable {
        let bert_deleted: [[UInt32]]
        let bert_padded: [[UInt32]]
        let bert_normalized: [String: [UInt32]]
        let bert_pretokenize_all: [[Int]]
        let gpt2_pretokenize_all: [[Int]]
    }

    static let probe = Result { () throws -> Probe in
        try JSONDecoder().decode(
            Probe.self, from: Data(contentsOf: URL(fileURLWithPath: Paths.fixture("unicode_probe.json"))))
    }

    static let allScalars: [Unicode.Scalar] = (0..<0x110000).compactMap { Unicode.Scalar(UInt32($0)) }

    static func inRanges(_ ranges: [[UInt32]]) -> Set<UInt32> {
        var s = Set<UInt32>()
        for r in ranges { for c in r[0]...r[1] { s.insert(c) } }
        return s
    }

    /// HF's `normalize_str` is a per-char map, so normalizing all scalars at once must give the
    /// concatenation of HF's per-scalar outputs.
    @Test func bertNormalizerMatchesHFOnEveryScalar() throws {
        let bert = try Reference.bert()
        let p = try Self.probe.get()
        let deleted = Self.inRanges(p.bert_deleted), padded = Self.inRanges(p.bert_padded)
        func expected(_ c: UInt32) -> [UInt32] {
            if deleted.contains(c) { return [] }
            if padded.contains(c) { return [0x20, c, 0x20] }
            return p.bert_normalized[String(c)] ?? [c]
        }
        var all = String.UnicodeScalarView()
        all.append(contentsOf: Self.allScalars)
        let got = bert.normalize(String(all)).unicodeScalars.map(\.value)
        let want = Self.allScalars.flatMap { expected($0.value) }
        if got != want {
            let first = Self.allScalars.first {
                bert.normalize(String($0)).unicodeScalars.map(\.value) != expected($0.value)
            }
            Issue.record(
                "normalize differs from HF; first scalar: \(first.map { String($0.value, radix: 16) } ?? "none found singly")"
            )
        }
    }

    @Test func bertPreTokenizerMatchesHFOnEveryScalar() throws {
        let bert = try Reference.bert()
        var all = String.UnicodeScalarView()
        all.append(contentsOf: Self.allScalars)
        let got = bert.preTokenize(String(all)).map { [$0.1.start, $0.1.end] }
        let want = try Self.probe.get().bert_pretokenize_all
        #expect(
            got == want,
            "first difference at split \(Array(zip(got, want)).firstIndex { $0.0 != $0.1 } ?? min(got.count, want.count))"
        )
    }

    @Test func gpt2PreTokenizerMatchesHFOnEveryScalar() throws {
        let gpt2 = try Reference.gpt2()
        var all = String.UnicodeScalarView()
        all.append(contentsOf: Self.allScalars)
        let got = gpt2.preTokenize(String(all)).map { [$0.1.start, $0.1.end] }
        let want = try Self.probe.get().gpt2_pretokenize_all
        #expect(
            got == want,
            "first difference at split \(Array(zip(got, want)).firstIndex { $0.0 != $0.1 } ?? min(got.count, want.count))"
        )
    }
}
