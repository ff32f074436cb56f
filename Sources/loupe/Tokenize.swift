// `loupe tokenize`: tokens, ids and character offsets exactly as the model's Hugging Face tokenizer.
import ArgumentParser
import Workbench

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the tokens, ids and offsets of texts.")

    @OptionGroup var model: ModelOption
    @OptionGroup var input: ExampleOptions
    @OptionGroup var worker: WorkerOptions
    @Option(help: "Output format: text or json ({\"id\", \"tokens\", \"ids\", \"offsets\"} per input line).")
    var format: Format = .text

    func run() throws {
        let m = try model.load(.fp32)  // the tokenizer is all it uses
        if format == .jsonl {
            return try runWorker(input, worker, window: 256) { batch throws(WorkbenchError) in
                Workbench.tokenize(TokenizeRequest(examples: batch), model: m)
            }
        }
        try input.batches(of: 256) { examples in
            for t in Workbench.tokenize(TokenizeRequest(examples: examples), model: m) {
                if format == .json {
                    try printJSON(t)
                } else {
                    print(
                        zip(zip(t.tokens, t.ids), t.offsets).map { "\($0.0)/\($0.1)@\($1[0])-\($1[1])" }.joined(
                            separator: " "))
                }
            }
        }
    }
}
