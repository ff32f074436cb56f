// The typed library API shared by the CLI and the server: model loading, and the namespace of every operation.
//
// Each operation is a function of a `Codable, Sendable` request and a loaded model returning `Codable` results
// that carry their example's id: tokenize, predict, embed, generate, explain, evaluate, evalSaliency, attention,
// metrics, project, counterfactuals, tcav, finetune; `Workspace` holds what a server serves. Front ends parse
// their input into a request, call one function and encode or render the result.
import Foundation
import Interpret
import Tokenizers
import Tensor
import Transformer

public enum Workbench {
    /// Loads a checkpoint: a Loupe .h5 file, a Hugging Face directory, or a fine-tuning run directory (its best.h5),
    /// with its inference products in `precision` (gradient methods and training stay float32); nil: the file's own
    /// (int8 for a file written by `quantize`, else fp32).
    public static func loadModel(_ path: String, precision: Precision? = nil) throws(WorkbenchError) -> LoadedModel {
        let url = checkpointURL(path)
        return try modelling { () throws(ModelError) in
            let m = try LoadedModel.load(url)
            return try m.withPrecision(precision ?? m.storedPrecision)
        }
    }

    /// A model path as the commands take it: a fine-tuning run directory means its best.h5.
    static func checkpointURL(_ path: String) -> URL {
        let url = URL(fileURLWithPath: path)
        let best = url.appendingPathComponent("best.h5")
        let fm = FileManager.default
        if fm.fileExists(atPath: best.path), !fm.fileExists(atPath: url.appendingPathComponent("config.json").path) {
            return best
        }
        return url
    }

    /// The class names of a classifier with `count` classes: the checkpoint's, else LABEL_0, LABEL_1, …
    static func labels(_ model: LoadedModel, count: Int) -> [String] {
        model.labels.count == count ? model.labels : (0..<count).map { "LABEL_\($0)" }
    }

    /// Positions of `examples` by token count (stable), so that each forward pass pads to the longest of texts of
    /// similar length rather than of a random few: on SST-2 train, batches of 16 in input order hold 2.6× the real
    /// tokens, batches of 16 sorted within 256 lines 1.12× (sentence-transformers' `encode` sorts by length too).
    /// Callers put the results back in input order.
    static func lengthOrder(_ model: LoadedModel, _ examples: [Example]) throws(WorkbenchError) -> [Int] {
        try Limits.standard.check(examples)  // before tokenizing (as `encode`)
        return Interpret.lengthOrder(examples.map { model.tokenizer.encode($0.text, addSpecialTokens: true).count })
    }

    /// Encodes a batch, refusing (truncate false) or cutting over-long examples; which were cut.
    static func encode(
        _ model: LoadedModel, _ examples: [Example], truncate: Bool
    ) throws(WorkbenchError) -> (batch: TokenBatch, encodings: [Encoding], truncated: [Bool]) {
        try Limits.standard.check(examples)  // before tokenizing: a 100 MB text would cost gigabytes
        if !truncate {
            for e in examples {
                let n = model.tokenizer.encode(e.text, addSpecialTokens: true).count
                if n > model.maxLength { throw .inputTooLong(id: e.id, tokens: n, limit: model.maxLength) }
            }
        }
        return try modelling { () throws(ModelError) in try model.encode(examples.map(\.text), truncate: true) }
    }
}
