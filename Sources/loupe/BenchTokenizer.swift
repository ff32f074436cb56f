// `loupe bench tokenizer`: single-thread tokens/s of WordPiece and GPT-2 BPE on SST-2 train
// (`TokenizerBenchmark` in LoupeBenchmarks does the measuring).
// Benchmarks/tokenizers_bench.py runs it next to Hugging Face's Rust tokenizers and prints the ratio.
import ArgumentParser
import Foundation
import LoupeBenchmarks

struct BenchTokenizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Single-thread tokenizer throughput (tokens/s) of BERT WordPiece and GPT-2 BPE on SST-2.")

    @Option(
        help:
            "SST-2 TSV with a `sentence<TAB>label` header (default: $LOUPE_DATA_DIR/sst2/train.tsv, else ../shared/data/sst2/train.tsv)."
    )
    var data: String?

    @Option(
        name: .customLong("vocab-dir"),
        help:
            "Folder with bert-base-uncased-vocab.txt, gpt2-encoder.json, gpt2-vocab.bpe (default: $LOUPE_DATA_DIR/vocab, else ../shared/data/vocab)."
    )
    var vocabDir: String?

    @Option(help: "Output format: text or json.")
    var format: String = "text"

    @Option(name: .customLong("repeat"), help: "Passes over the data; the best is reported.")
    var repeatCount: Int = 3

    func validate() throws {
        guard format == "text" || format == "json" else { throw ValidationError("--format must be text or json") }
        guard repeatCount >= 1 else { throw ValidationError("--repeat must be at least 1") }
    }

    func run() throws {
        let request = TokenizerBenchmark.Request(data: data, vocabularyDirectory: vocabDir, repeatCount: repeatCount)
        let results = try runBenchmark { () throws(BenchmarkError) in try TokenizerBenchmark.run(request) }
        if format == "json" {
            // One line, snake_case keys: Benchmarks/tokenizers_bench.py reads this.
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        } else {
            print("tokenizer   sentences     tokens   best s   tokens/s   load s")
            for r in results {
                let name = r.tokenizer.padding(toLength: 10, withPad: " ", startingAt: 0)
                print(
                    name
                        + String(
                            format: " %10d %10d %8.3f %10.0f %8.3f", r.sentences, r.tokens, r.seconds,
                            r.tokensPerSecond, r.loadSeconds))
            }
        }
    }
}
