// `loupe bench tokenizer`: single-thread tokens/s of WordPiece and GPT-2 BPE on SST-2 train.
// Benchmarks/tokenizers_bench.py runs it next to Hugging Face's Rust tokenizers and prints the ratio.
import ArgumentParser
import Foundation
import Tokenizers

struct BenchTokenizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Single-thread tokenizer throughput (tokens/s) of BERT WordPiece and GPT-2 BPE on SST-2.")

    @Option(help: "SST-2 TSV with a `sentence<TAB>label` header (default: $LOUPE_DATA_DIR/sst2/train.tsv, else ../shared/data/sst2/train.tsv).")
    var data: String?

    @Option(name: .customLong("vocab-dir"),
            help: "Folder with bert-base-uncased-vocab.txt, gpt2-encoder.json, gpt2-vocab.bpe (default: $LOUPE_DATA_DIR/vocab, else ../shared/data/vocab).")
    var vocabDir: String?

    @Option(help: "Output format: text or json.")
    var format: String = "text"

    @Option(name: .customLong("repeat"), help: "Passes over the data; the best is reported.")
    var repeatCount: Int = 3

    func validate() throws {
        guard format == "text" || format == "json" else { throw ValidationError("--format must be text or json") }
        guard repeatCount >= 1 else { throw ValidationError("--repeat must be at least 1") }
    }

    struct Result: Codable {
        let tokenizer: String
        let sentences: Int
        let tokens: Int
        let seconds: Double
        let tokensPerSecond: Double
        /// Building the tokenizer from its files (first use of the Unicode tables included for WordPiece).
        let loadSeconds: Double
    }

    func run() throws {
        let env = ProcessInfo.processInfo.environment["LOUPE_DATA_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        let dataPath = data ?? env.map { "\($0)/sst2/train.tsv" } ?? "../shared/data/sst2/train.tsv"
        let vocab = vocabDir ?? env.map { "\($0)/vocab" } ?? "../shared/data/vocab"
        let sentences = try Self.sst2(dataPath)
        var start = ContinuousClock.now
        let bert = try BertTokenizer(vocabularyFile: "\(vocab)/bert-base-uncased-vocab.txt")
        let bertLoad = Self.seconds(ContinuousClock.now - start)
        start = ContinuousClock.now
        let gpt2 = try GPT2Tokenizer(vocabularyFile: "\(vocab)/gpt2-encoder.json", mergesFile: "\(vocab)/gpt2-vocab.bpe")
        let gpt2Load = Self.seconds(ContinuousClock.now - start)
        let results = [
            measure("wordpiece", sentences, loadSeconds: bertLoad) { bert.encode($0).count },
            measure("bpe", sentences, loadSeconds: gpt2Load) { gpt2.encode($0).count },
        ]
        if format == "json" {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        } else {
            print("tokenizer   sentences     tokens   best s   tokens/s   load s")
            for r in results {
                let name = r.tokenizer.padding(toLength: 10, withPad: " ", startingAt: 0)
                print(name + String(format: " %10d %10d %8.3f %10.0f %8.3f", r.sentences, r.tokens, r.seconds,
                                    r.tokensPerSecond, r.loadSeconds))
            }
        }
    }

    /// Best of `repeatCount` passes of `encode` over every sentence, one at a time, on this thread.
    func measure(_ name: String, _ sentences: [String], loadSeconds: Double, _ encode: (String) -> Int) -> Result {
        var best = Double.infinity
        var tokens = 0
        for _ in 0..<repeatCount {
            let start = ContinuousClock.now
            var n = 0
            for s in sentences { n += encode(s) }
            best = min(best, Self.seconds(ContinuousClock.now - start))
            tokens = n
        }
        return Result(tokenizer: name, sentences: sentences.count, tokens: tokens, seconds: best,
                      tokensPerSecond: Double(tokens) / best, loadSeconds: loadSeconds)
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// The first column of an SST-2 TSV, header skipped.
    static func sst2(_ path: String) throws -> [String] {
        let lines = try TextFile.readLines(path)
        guard lines.first?.hasPrefix("sentence\t") == true else {
            throw ValidationError("\(path): expected a `sentence<TAB>label` header")
        }
        return lines.dropFirst().filter { !$0.isEmpty }.map { String($0.split(separator: "\t", omittingEmptySubsequences: false)[0]) }
    }
}
