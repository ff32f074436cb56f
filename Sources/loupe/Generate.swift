// `loupe generate`: GPT-2 continuation with a KV cache, streamed token by token.
import ArgumentParser
import Foundation
import Transformer
import Workbench

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt with GPT-2 (greedy unless a sampling option is given).")

    @OptionGroup var model: ModelOption
    @OptionGroup var precision: PrecisionOption
    @Option(help: "The text to continue.") var prompt: String?
    @Option(help: "A file of prompts, as other commands' --input (JSON Lines, TSV or one per line; - reads stdin).")
    var input: String?
    @Option(help: ArgumentHelp(GenerateRequest.spec["max_tokens"]!.summary)) var maxTokens = 20
    @Option(help: ArgumentHelp(GenerateRequest.spec["temperature"]!.summary)) var temperature: Float?
    @Option(help: ArgumentHelp(GenerateRequest.spec["top_k"]!.summary)) var topK: Int?
    @Option(help: ArgumentHelp(GenerateRequest.spec["top_p"]!.summary)) var topP: Float?
    @Option(help: ArgumentHelp(GenerateRequest.spec["seed"]!.summary)) var seed: UInt64 = 0
    @Flag(help: "Refuse a prompt longer than the model's positions instead of keeping its end.") var noTruncate = false
    @OptionGroup var worker: WorkerOptions
    @Option(help: "Output format: text (streamed) or json ({\"id\", \"ids\": [...], \"text\": ...}).") var format:
        Format = .text

    func validate() throws {
        guard (prompt == nil) != (input == nil) else { throw ValidationError("give --prompt or --input") }
    }

    func run() throws {
        let m = try model.load(precision.precision)
        var request = GenerateRequest(examples: [])
        request.maxTokens = maxTokens
        request.temperature = temperature
        request.topK = topK
        request.topP = topP
        request.seed = seed
        request.truncate = !noTruncate
        try library { () throws(WorkbenchError) in try request.validateOptions() }
        let examples = try ExampleOptions.parse(prompt.map { ["--text", $0] } ?? ["--input", input!])
        if format == .jsonl {
            let r = request
            return try runWorker(examples, worker, window: 1) { batch throws(WorkbenchError) in
                var one = r
                one.examples = batch
                return try Workbench.generate(one, model: m)
            }
        }
        try examples.batches(of: 1) { batch in
            request.examples = batch
            if format == .text { FileHandle.standardOutput.write(Data(batch[0].text.utf8)) }
            let out = try library { () throws(WorkbenchError) in
                try Workbench.generate(request, model: m) { _, piece in
                    if format == .text { FileHandle.standardOutput.write(Data(piece.utf8)) }
                }
            }
            for g in out {
                if let n = g.truncatedPrompt { warn("the prompt has \(n) tokens; kept its last \(m.maxLength - 1)") }
                if format == .json { try printJSON(g) } else { print("") }
            }
        }
    }
}
