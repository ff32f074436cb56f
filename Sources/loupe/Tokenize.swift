// `loupe tokenize`: tokens, ids and character offsets exactly as the model's Hugging Face tokenizer.
import ArgumentParser
import Foundation
import Tokenizers
import Transformer

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the tokens, ids and offsets of texts.")

    @OptionGroup var model: ModelOption
    @OptionGroup var input: TextInputOptions
    @Option(help: "Output format: text or json ({\"tokens\", \"ids\", \"offsets\"} per input line).")
    var format: Format = .text

    func run() throws {
        let m = try model.load()
        for text in try input.texts() {
            let e = m.tokenizer.encode(text, addSpecialTokens: true)
            if format == .json {
                printJSON(["tokens": e.tokens, "ids": e.ids, "offsets": e.offsets.map { [$0.start, $0.end] }])
            } else {
                print(zip(zip(e.tokens, e.ids), e.offsets).map { "\($0.0)/\($0.1)@\($1.start)-\($1.end)" }.joined(separator: " "))
            }
        }
    }
}
