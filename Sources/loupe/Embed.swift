// `loupe embed`: sentence embeddings (pooled as the checkpoint says, e.g. all-MiniLM-L6-v2's mean).
import ArgumentParser
import Foundation
import Transformer
import Workbench

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print sentence embeddings of texts.")

    @OptionGroup var model: ModelOption
    @OptionGroup var precision: PrecisionOption
    @OptionGroup var input: ExampleOptions
    @OptionGroup var worker: WorkerOptions
    @Flag(help: "L2-normalise the embeddings (default: as the checkpoint's sentence-transformers config says).")
    var normalize = false
    @Flag(help: "Refuse texts longer than the model's maximum positions instead of truncating them.")
    var noTruncate = false
    @Option(help: "Output format: text or json ({\"id\", \"text\", \"embedding\": [...]} per line).") var format:
        Format = .text

    func run() throws {
        let m = try model.load(precision.precision)
        if format == .jsonl {
            return try runWorker(input, worker, window: 256) { batch throws(WorkbenchError) in
                var request = EmbedRequest(examples: batch, normalize: normalize ? true : nil)
                request.truncate = !noTruncate
                return try Workbench.embed(request, model: m)
            }
        }
        try input.batches(of: 256) { examples in
            var request = EmbedRequest(examples: examples, normalize: normalize ? true : nil)
            request.truncate = !noTruncate
            for e in try library({ () throws(WorkbenchError) in try Workbench.embed(request, model: m) }) {
                if e.truncated == true { warnTruncated(e.id, m) }
                if format == .json {
                    try printJSON(e)
                } else {
                    print(e.embedding.map { String(format: "%.6f", $0) }.joined(separator: " "))
                }
            }
        }
    }
}
