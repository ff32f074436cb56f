// `embed`: sentence embeddings pooled as the checkpoint says (e.g. all-MiniLM-L6-v2's mean), optionally L2-normalised.
import Interpret
import Tensor
import Transformer

public struct EmbedRequest: Codable, Sendable {
    public var examples: [Example]
    /// Force L2 normalisation (nil: as the checkpoint's sentence-transformers config says).
    public var normalize: Bool?
    public var truncate = true

    public init(examples: [Example], normalize: Bool? = nil) {
        self.examples = examples
        self.normalize = normalize
    }
}

public struct Embedding: Codable, Sendable, Equatable {
    public var id: String
    public var text: String
    public var embedding: [Double]
    public var truncated: Bool?
}

extension Workbench {
    public static func embed(_ request: EmbedRequest, model: LoadedModel) throws(WorkbenchError) -> [Embedding] {
        try Limits.standard.check(request.examples)
        guard case .bert = model.network else {
            throw .wrongModel(
                file: model.url.relativePath, operation: "embed", needs: "a BERT model", found: model.kindDescription)
        }
        var cut: [Bool] = [], counts: [Int] = []
        for e in request.examples {
            let n = model.tokenizer.encode(e.text, addSpecialTokens: true).count
            if n > model.maxLength && !request.truncate {
                throw .inputTooLong(id: e.id, tokens: n, limit: model.maxLength)
            }
            cut.append(n > model.maxLength)
            counts.append(n)
        }
        // Batches of similar lengths (`lengthOrder`); row k of the result is example order[k].
        let order = Interpret.lengthOrder(counts)
        let e = try modelling { () throws(ModelError) in
            try model.sentenceEmbeddings(order.map { request.examples[$0].text }, normalize: request.normalize)
        }  // [N, H]
        let h = e.shape[1]
        let scalars = e.scalars
        var row = [Int](repeating: 0, count: order.count)
        for (k, i) in order.enumerated() { row[i] = k }
        return request.examples.enumerated().map { i, x in
            Embedding(
                id: x.id, text: x.text, embedding: scalars[(row[i] * h)..<((row[i] + 1) * h)].map(Double.init),
                truncated: cut[i] ? true : nil)
        }
    }
}
