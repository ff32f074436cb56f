// Test support: where the shared data and the fixtures are, the reference tokenizers, fixture decoding.
import Foundation
import TestData
import Testing
import Tokenizers

/// A test-setup failure with a message that says what was missing and where it was looked for.
struct SetupError: Error, CustomStringConvertible {
    let description: String
}

enum Paths {
    static let fixtures = TestData.repository.appendingPathComponent("Tests/TokenizersTests/Fixtures")

    /// A file of the shared data set (TestData's rule: $LOUPE_DATA_DIR, else <repo>/../shared/data); throws
    /// (failing the test with the path and how to get it) when it is not there.
    static func shared(_ relative: String) throws -> String { try TestData.shared(relative).path }

    static func fixture(_ name: String) throws -> String {
        let path = fixtures.appendingPathComponent(name).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw SetupError(description: "fixture missing: \(path) (run weights-scripts/make_tokenizer_goldens.py)")
        }
        return path
    }
}

/// The reference tokenizers, built once for the whole suite.
enum Reference {
    static let bertResult = Result { () throws -> BertTokenizer in
        try BertTokenizer(vocabularyFile: Paths.shared("vocab/bert-base-uncased-vocab.txt"))
    }
    static let gpt2Result = Result { () throws -> GPT2Tokenizer in
        try GPT2Tokenizer(
            vocabularyFile: Paths.shared("vocab/gpt2-encoder.json"),
            mergesFile: Paths.shared("vocab/gpt2-vocab.bpe"))
    }
    static func bert() throws -> BertTokenizer { try bertResult.get() }
    static func gpt2() throws -> GPT2Tokenizer { try gpt2Result.get() }
}

/// SST-2 sentences (first column after the `sentence<TAB>label` header), in file order.
func sst2Sentences(_ split: String) throws -> [String] {
    let lines = try TextFile.readLines(Paths.shared("sst2/\(split).tsv"))
    guard lines.first == "sentence\tlabel" else {
        throw SetupError(description: "sst2/\(split).tsv: unexpected header \(String(describing: lines.first))")
    }
    return lines.dropFirst().filter { !$0.isEmpty }.map {
        String($0.split(separator: "\t", omittingEmptySubsequences: false)[0])
    }
}

/// A `.ids` fixture: one line per sentence, ids in base 36 separated by spaces.
func idLines(_ name: String) throws -> [[Int]] {
    try TextFile.readLines(Paths.fixture(name)).map { line in
        try line.split(separator: " ").map { word in
            guard let v = Int(word, radix: 36) else { throw SetupError(description: "\(name): bad id \(word)") }
            return v
        }
    }
}

/// FNV-1a 64 of the UTF-8 bytes of `ids` in decimal joined by single spaces (make_tokenizer_goldens.py).
func idsDigest(_ ids: [Int]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in ids.map(String.init).joined(separator: " ").utf8 {
        h = (h ^ UInt64(byte)) &* 0x100_0000_01b3
    }
    return h
}

/// The per-sentence digests of a `.fnv` golden, one 16-hex-digit line per sentence.
func digestLines(_ name: String) throws -> [UInt64] {
    try TextFile.readLines(Paths.fixture(name)).map { line in
        guard let v = UInt64(line, radix: 16) else { throw SetupError(description: "\(name): bad digest \(line)") }
        return v
    }
}

/// Compares encodings with per-line digests of the golden ids; reports the first mismatching lines.
func compareDigests(_ sentences: [String], _ golden: [UInt64], name: String, encode: (String) -> [Int]) -> String? {
    guard sentences.count == golden.count else {
        return "\(name): \(sentences.count) sentences but \(golden.count) golden lines"
    }
    var bad: [String] = []
    var count = 0
    for (i, s) in sentences.enumerated() {
        let got = encode(s)
        if idsDigest(got) != golden[i] {
            count += 1
            if bad.count < 3 { bad.append("line \(i + 2) \(String(reflecting: s)): got \(got), not HF's ids") }
        }
    }
    return count == 0 ? nil : "\(name): \(count) of \(sentences.count) differ; " + bad.joined(separator: "; ")
}

/// Compares encodings with goldens line by line; returns a readable report of the first mismatches.
func compareIDs(_ sentences: [String], _ golden: [[Int]], name: String, encode: (String) -> [Int]) -> String? {
    guard sentences.count == golden.count else {
        return "\(name): \(sentences.count) sentences but \(golden.count) golden lines"
    }
    var bad: [String] = []
    var count = 0
    for (i, s) in sentences.enumerated() {
        let got = encode(s)
        if got != golden[i] {
            count += 1
            if bad.count < 3 { bad.append("line \(i + 2) \(String(reflecting: s)): expected \(golden[i]) got \(got)") }
        }
    }
    return count == 0 ? nil : "\(name): \(count) of \(sentences.count) differ; " + bad.joined(separator: "; ")
}

// MARK: - hard_strings.json

struct HardStrings: Decodable {
    struct BertOut: Decodable {
        let ids: [Int]
        let tokens: [String]
        let offsets: [[Int]]
        let type_ids: [Int]
        let word_ids: [Int?]
        let tokenize: [String]?
        let decode: String
        let decode_skip: String
    }
    struct GPT2Out: Decodable {
        let ids: [Int]
        let tokens: [String]
        let offsets: [[Int]]
        let word_ids: [Int?]
        let decode: String
        let decode_skip: String
    }
    struct Case: Decodable {
        let text: String
        let bert: BertOut
        let gpt2: GPT2Out
    }
    struct PairCase: Decodable {
        let text: String
        let pair: String
        let bert: BertOut
    }
    struct BatchItem: Decodable {
        let ids: [Int]
        let type_ids: [Int]
        let attention_mask: [Int]
        let offsets: [[Int]]
        let word_ids: [Int?]
    }
    struct BertBatch: Decodable {
        let max_length: Int?
        let firsts: [String]
        let seconds: [String]
        let single: [BatchItem]
        let pairs: [BatchItem]
    }
    struct GPT2Batch: Decodable {
        let max_length: Int?
        let pairs: [[String]]
        let encodings: [BatchItem]
    }
    struct TruncationOut: Decodable {
        let ids: [Int]?
        let type_ids: [Int]?
        let error: String?
    }
    struct TruncationCase: Decodable {
        let text: String
        let pair: String?
        let max_length: Int
        let strategy: String
        let bert: TruncationOut
        let gpt2: TruncationOut

        var truncation: Truncation {
            Truncation(
                maxLength: max_length,
                strategy: strategy == "longest_first"
                    ? .longestFirst
                    : strategy == "only_first" ? .onlyFirst : .onlySecond)
        }
    }
    let strings: [Case]
    let random_strings: [Case]
    let truncation_cases: [TruncationCase]
    let bert_pairs: [PairCase]
    let bert_batches: [BertBatch]
    let gpt2_batches: [GPT2Batch]

    static let loaded = Result { () throws -> HardStrings in
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.fixture("hard_strings.json")))
        return try JSONDecoder().decode(HardStrings.self, from: data)
    }
}

func pairs(_ offsets: [Offset]) -> [[Int]] { offsets.map { [$0.start, $0.end] } }

/// Checks one truncation golden: the same ids and type ids, or an error where HF raised one.
func checkTruncation(
    _ c: HardStrings.TruncationCase, _ want: HardStrings.TruncationOut,
    _ encode: () throws(TokenizerError) -> Encoding
) {
    let label = "\(String(reflecting: c.text)) / \(String(describing: c.pair)) max \(c.max_length) \(c.strategy)"
    do {
        let e = try encode()
        #expect(want.error == nil, "HF raised \(want.error ?? "") for \(label)")
        #expect(e.ids == want.ids && e.typeIDs == want.type_ids, "\(label)")
    } catch {
        #expect(want.error != nil, "unexpected \(error) for \(label)")
    }
}
