// `loupe predict`: class probabilities, [MASK] fillers or GPT-2's next tokens for each input text.
import ArgumentParser
import Foundation
import Transformer
import Workbench

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify texts, fill [MASK]s, or list GPT-2's most likely next tokens.")

    @OptionGroup var model: ModelOption
    @OptionGroup var precision: PrecisionOption
    @OptionGroup var input: ExampleOptions
    @OptionGroup var worker: WorkerOptions
    @Option(help: ArgumentHelp(PredictRequest.spec["top_k"]!.summary)) var topK = 5
    @Flag(help: "Also print the raw logits (classes, or the next-token distribution for GPT-2).") var logits = false
    @Flag(help: "Refuse texts longer than the model's maximum positions instead of truncating them.")
    var noTruncate = false
    @Option(help: ArgumentHelp(PredictRequest.spec["batch_size"]!.summary)) var batchSize = 16
    @Option(help: "Output format: text or json (one JSON object per input line, with its id).") var format: Format =
        .text

    /// Texts handed to the library at once: it forms batches of similar lengths within them (`Workbench.predict`).
    var window: Int { batchSize <= 1 << 16 ? batchSize * 16 : batchSize }

    func run() throws {
        let m = try model.load(precision.precision)
        var request = PredictRequest(examples: [])
        request.topK = topK
        request.batchSize = batchSize
        request.includeLogits = logits
        request.truncate = !noTruncate
        try library { () throws(WorkbenchError) in try request.validateOptions() }
        if format == .jsonl {
            return try runWorker(input, worker, window: window) { batch throws(WorkbenchError) in
                var r = request
                r.examples = batch
                return try Workbench.predict(r, model: m)
            }
        }
        try input.batches(of: window) { examples in
            request.examples = examples
            for p in try library({ () throws(WorkbenchError) in try Workbench.predict(request, model: m) }) {
                if p.truncated == true { warnTruncated(p.id, m) }
                if format == .json { try printJSON(p) } else { print(text(p, classes: m.labels)) }
            }
        }
    }

    /// The text rendering; classes in the checkpoint's label order.
    func text(_ p: Prediction, classes: [String]) -> String {
        if let probabilities = p.probabilities, let label = p.label {
            let n = probabilities.count
            let order = classes.count == n ? classes : (0..<n).map { "LABEL_\($0)" }
            let parts = order.map { "\($0) \(String(format: "%.4f", probabilities[$0] ?? 0))" }
            return "\(label)\t\(parts.joined(separator: "  "))\t\(p.text)"
        }
        if let masks = p.masks {
            var lines = [p.text]
            if masks.isEmpty { lines.append("  (no [MASK] in this text)") }
            for mask in masks {
                let cands = mask.candidates.map { "\($0.token) \(String(format: "%.4f", $0.probability))" }
                lines.append("  [MASK] at \(mask.position): " + cands.joined(separator: "  "))
            }
            return lines.joined(separator: "\n")
        }
        let list = (p.nextTokens ?? []).map {
            "\(String(reflecting: $0.token)) \(String(format: "%.4f", $0.probability))"
        }
        return "\(p.text)\n  next: " + list.joined(separator: "  ")
    }
}
