// `loupe predict`: class probabilities, [MASK] fillers or GPT-2's next tokens for each input text.
import ArgumentParser
import Foundation
import Tensor
import Tokenizers
import Transformer

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify texts, fill [MASK]s, or list GPT-2's most likely next tokens.")

    @OptionGroup var model: ModelOption
    @OptionGroup var input: TextInputOptions
    @Option(help: "How many fillers / next tokens to show.") var topK = 5
    @Flag(help: "Also print the raw logits (classes, or the next-token distribution for GPT-2).") var logits = false
    @Flag(help: "Refuse texts longer than the model's maximum positions instead of truncating them.")
    var noTruncate = false
    @Option(help: "Texts per forward pass.") var batchSize = 16
    @Option(help: "Output format: text or json (one JSON object per input line).") var format: Format = .text

    func validate() throws {
        guard topK > 0 else { throw ValidationError("--top-k must be positive, got \(topK)") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
    }

    func run() throws {
        let m = try model.load()
        let texts = try input.texts()
        var start = 0
        while start < texts.count {
            let chunk = Array(texts[start..<min(start + batchSize, texts.count)])
            let (batch, encodings) = try m.encodeWarning(chunk, truncate: !noTruncate)
            switch (m.network, m.task) {
            case (.bert(let bert), .sequenceClassification):
                let out = bert(batch, pooledOnly: true).logits!  // [B, C]
                for (b, text) in chunk.enumerated() { classification(m, text, out, row: b) }
            case (.bert(let bert), .maskedLM):
                let out = bert(batch).logits!  // [B, T, V]
                for (b, text) in chunk.enumerated() { fillMasks(m, text, encodings[b], out, row: b) }
            case (.gpt2(let gpt2), .causalLM):
                var cache: KVCache? = nil
                let out = gpt2(batch, cache: &cache, lastPositionOnly: true).logits!  // [B, 1, V]
                for (b, text) in chunk.enumerated() { nextTokens(m, text, out, row: b) }
            default:
                throw CLIError(
                    "\(model.model): a \(m.task.rawValue) model has no predictions; use `loupe embed` for embeddings")
            }
            start += chunk.count
        }
    }

    func classification(_ m: LoadedModel, _ text: String, _ out: Tensor, row b: Int) {
        let c = out.shape[1]
        let row = out.scalars[(b * c)..<((b + 1) * c)]
        let p = probabilities(row)
        let names = m.labels.count == c ? m.labels : (0..<c).map { "LABEL_\($0)" }
        let best = p.indices.max { p[$0] < p[$1] }!
        if format == .json {
            var obj: [String: Any] = [
                "text": text, "label": names[best],
                "probabilities": Dictionary(uniqueKeysWithValues: zip(names, p)),
            ]
            if logits { obj["logits"] = row.map(Double.init) }
            printJSON(obj)
        } else {
            let parts = zip(names, p).map { "\($0) \(String(format: "%.4f", $1))" }.joined(separator: "  ")
            print("\(names[best])\t\(parts)\t\(text)")
        }
    }

    func fillMasks(_ m: LoadedModel, _ text: String, _ e: Encoding, _ out: Tensor, row b: Int) {
        let (t, v) = (out.shape[1], out.shape[2])
        let maskID = m.tokenizer.convertTokensToIds(["[MASK]"])[0]
        var masks: [[String: Any]] = []
        for (i, id) in e.ids.enumerated() where id == maskID {
            let p = probabilities(out.scalars[((b * t + i) * v)..<((b * t + i + 1) * v)])
            let top = p.indices.sorted { p[$0] > p[$1] }.prefix(topK)
            let tokens = m.tokenizer.convertIdsToTokens(Array(top))
            masks.append([
                "position": i,
                "candidates": zip(top, tokens).map { ["id": $0, "token": $1 ?? "", "probability": p[$0]] as [String: Any] },
            ])
        }
        if format == .json {
            printJSON(["text": text, "masks": masks])
        } else {
            print(text)
            if masks.isEmpty { print("  (no [MASK] in this text)") }
            for mask in masks {
                let cands = (mask["candidates"] as! [[String: Any]]).map {
                    "\($0["token"]!) \(String(format: "%.4f", $0["probability"] as! Double))"
                }
                print("  [MASK] at \(mask["position"]!): " + cands.joined(separator: "  "))
            }
        }
    }

    func nextTokens(_ m: LoadedModel, _ text: String, _ out: Tensor, row b: Int) {
        let v = out.shape[2]
        let row = out.scalars[(b * v)..<((b + 1) * v)]
        let p = probabilities(row)
        let top = p.indices.sorted { p[$0] > p[$1] }.prefix(topK)
        let candidates = top.map { ["id": $0, "token": m.tokenizer.decode([$0], skipSpecialTokens: false), "probability": p[$0]] as [String: Any] }
        if format == .json {
            var obj: [String: Any] = ["text": text, "next_tokens": candidates]
            if logits { obj["logits"] = row.map(Double.init) }
            printJSON(obj)
        } else {
            let list = candidates.map { "\(String(reflecting: $0["token"] as! String)) \(String(format: "%.4f", $0["probability"] as! Double))" }
            print("\(text)\n  next: " + list.joined(separator: "  "))
        }
    }
}
