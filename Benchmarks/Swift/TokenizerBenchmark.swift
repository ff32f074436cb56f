// The tokenizer benchmark: single-thread tokens/s of WordPiece and GPT-2 BPE on SST-2 train.
// Benchmarks/tokenizers_bench.py runs it next to Hugging Face's Rust tokenizers and prints the ratio.
import Foundation
import Tokenizers

/// Single-thread tokenizer throughput (tokens/s) of BERT WordPiece and GPT-2 BPE on SST-2 sentences.
public enum TokenizerBenchmark {
    public struct Request: Codable, Sendable {
        /// SST-2 TSV with a `sentence<TAB>label` header; nil: $LOUPE_DATA_DIR/sst2/train.tsv, else
        /// ../shared/data/sst2/train.tsv.
        public var data: String?
        /// Folder with bert-base-uncased-vocab.txt, gpt2-encoder.json, gpt2-vocab.bpe; nil: $LOUPE_DATA_DIR/vocab,
        /// else ../shared/data/vocab.
        public var vocabularyDirectory: String?
        /// Passes over the data; the best is reported.
        public var repeatCount: Int

        public init(data: String? = nil, vocabularyDirectory: String? = nil, repeatCount: Int = 3) {
            (self.data, self.vocabularyDirectory, self.repeatCount) = (data, vocabularyDirectory, repeatCount)
        }

        /// Every field may be left out and takes the default of `init`.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(
                data: try c.decodeIfPresent(String.self, forKey: .data),
                vocabularyDirectory: try c.decodeIfPresent(String.self, forKey: .vocabularyDirectory),
                repeatCount: try c.decodeIfPresent(Int.self, forKey: .repeatCount) ?? Request().repeatCount)
        }
    }

    /// One tokenizer's figures.
    public struct Result: Codable, Sendable {
        /// "wordpiece" or "bpe".
        public let tokenizer: String
        public let sentences: Int
        public let tokens: Int
        /// The best pass's wall time.
        public let seconds: Double
        public let tokensPerSecond: Double
        /// Building the tokenizer from its files (first use of the Unicode tables included for WordPiece).
        public let loadSeconds: Double
    }

    /// WordPiece, then GPT-2 BPE: each built from its files, then `repeatCount` passes over every sentence.
    public static func run(_ request: Request) throws(BenchmarkError) -> [Result] {
        try requirePositive(request.repeatCount, .repeatCount)
        let env = ProcessInfo.processInfo.environment["LOUPE_DATA_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        let dataPath = request.data ?? env.map { "\($0)/sst2/train.tsv" } ?? "../shared/data/sst2/train.tsv"
        let vocab = request.vocabularyDirectory ?? env.map { "\($0)/vocab" } ?? "../shared/data/vocab"
        let sentences = try sst2(dataPath)
        do throws(TokenizerError) {
            var start = ContinuousClock.now
            let bert = try BertTokenizer(vocabularyFile: "\(vocab)/bert-base-uncased-vocab.txt")
            let bertLoad = seconds(ContinuousClock.now - start)
            start = ContinuousClock.now
            let gpt2 = try GPT2Tokenizer(
                vocabularyFile: "\(vocab)/gpt2-encoder.json", mergesFile: "\(vocab)/gpt2-vocab.bpe")
            let gpt2Load = seconds(ContinuousClock.now - start)
            return [
                measure("wordpiece", sentences, request.repeatCount, loadSeconds: bertLoad) { bert.encode($0).count },
                measure("bpe", sentences, request.repeatCount, loadSeconds: gpt2Load) { gpt2.encode($0).count },
            ]
        } catch {
            throw .tokenizer(error)
        }
    }

    /// Best of `passes` passes of `encode` over every sentence, one at a time, on this thread.
    static func measure(
        _ name: String, _ sentences: [String], _ passes: Int, loadSeconds: Double, _ encode: (String) -> Int
    ) -> Result {
        var best = Double.infinity
        var tokens = 0
        for _ in 0..<passes {
            let start = ContinuousClock.now
            var n = 0
            for s in sentences { n += encode(s) }
            best = min(best, seconds(ContinuousClock.now - start))
            tokens = n
        }
        return Result(
            tokenizer: name, sentences: sentences.count, tokens: tokens, seconds: best,
            tokensPerSecond: Double(tokens) / best, loadSeconds: loadSeconds)
    }

    /// The first column of an SST-2 TSV, header skipped.
    static func sst2(_ path: String) throws(BenchmarkError) -> [String] {
        let lines: [String]
        do { lines = try TextFile.readLines(path) } catch { throw .tokenizer(error) }
        guard lines.first?.hasPrefix("sentence\t") == true else { throw .notSST2(path: path) }
        return lines.dropFirst().filter { !$0.isEmpty }.map {
            String($0.split(separator: "\t", omittingEmptySubsequences: false)[0])
        }
    }
}
