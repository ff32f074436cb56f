// `predict`: class probabilities of a classifier, [MASK] fillers of a masked LM, or GPT-2's most likely next tokens.
import Interpret
import Tensor
import Tokenizers
import Transformer

public struct PredictRequest: Codable, Sendable, SpecifiedOptions {
    public var examples: [Example]
    /// How many fillers / next tokens to list.
    public var topK = 5
    /// Also return the raw logits (classes, or GPT-2's next-token distribution).
    public var includeLogits = false
    /// Cut over-long texts to the model's positions (else refuse them).
    public var truncate = true
    /// Examples per forward pass.
    public var batchSize = 16
    /// BERT: also return the mean-pooled last hidden state (over real tokens) and the [CLS] row.
    public var includeEmbeddings = false

    public init(examples: [Example]) { self.examples = examples }

    public static let spec = ConfigSpec([
        ConfigField("top_k", .int, default: .int(5), minimum: 1, help: "How many fillers / next tokens to show."),
        ConfigField("batch_size", .int, default: .int(16), minimum: 1, help: "Texts per forward pass."),
    ])
    public var optionValues: ConfigValues { ["top_k": .int(topK), "batch_size": .int(batchSize)] }
}

/// A token with its probability (a [MASK] filler or a next token).
public struct TokenProbability: Codable, Sendable, Equatable {
    public var id: Int
    public var token: String
    public var probability: Double
}

/// The fillers of one [MASK].
public struct MaskFill: Codable, Sendable, Equatable {
    public var position: Int
    public var candidates: [TokenProbability]
}

/// One example's prediction; which fields are set depends on the model's task.
public struct Prediction: Codable, Sendable, Equatable {
    public var id: String
    public var text: String
    /// Classifier: the most probable class and every class's probability.
    public var label: String?
    public var probabilities: [String: Double]?
    /// Masked LM: one entry per [MASK], in text order.
    public var masks: [MaskFill]?
    /// GPT-2: the most likely next tokens.
    public var nextTokens: [TokenProbability]?
    public var logits: [Double]?
    /// BERT with `includeEmbeddings`: the last hidden state mean-pooled over real tokens, and its [CLS] row.
    public var embedding: [Double]?
    public var clsEmbedding: [Double]?
    /// Set when the text was cut to the model's positions.
    public var truncated: Bool?

    enum CodingKeys: String, CodingKey {
        case id, text, label, probabilities, masks, nextTokens = "next_tokens", logits, truncated, embedding
        case clsEmbedding = "cls_embedding"
    }

    init(id: String, text: String) {
        self.id = id
        self.text = text
    }
}

extension Workbench {
    /// Predictions for every example, in order; `batchSize` per forward pass, formed from texts of similar length.
    public static func predict(_ request: PredictRequest, model: LoadedModel) throws(WorkbenchError) -> [Prediction] {
        try request.validateOptions()
        let all = request.examples
        let order = try lengthOrder(model, all)
        var out = [Prediction?](repeating: nil, count: all.count)
        var start = 0
        while start < order.count {
            let positions = Array(order[start..<min(start + request.batchSize, order.count)])
            let chunk = positions.map { all[$0] }
            let (batch, encodings, truncated) = try encode(model, chunk, truncate: request.truncate)
            switch (model.network, model.task) {
            case (.bert(let bert), .sequenceClassification):
                let output = bert(batch, pooledOnly: !request.includeEmbeddings)
                let logits = output.logits!  // [B, C]
                let c = logits.shape[1]
                let names = labels(model, count: c)
                for (b, e) in chunk.enumerated() {
                    let row = Array(logits.scalars[(b * c)..<((b + 1) * c)])
                    let p = probabilities(row)
                    var r = Prediction(id: e.id, text: e.text)
                    r.label = names[p.indices.max { p[$0] < p[$1] }!]
                    var table: [String: Double] = [:]
                    for (name, q) in zip(names, p) { table[name] = q }
                    r.probabilities = table
                    if request.includeLogits { r.logits = row.map(Double.init) }
                    if request.includeEmbeddings { (r.embedding, r.clsEmbedding) = pooled(output.lastHiddenState, batch, row: b) }
                    out[positions[b]] = r
                }
            case (.bert(let bert), .maskedLM):
                let output = bert(batch)
                let logits = output.logits!  // [B, T, V]
                let maskID = model.tokenizer.convertTokensToIds(["[MASK]"])[0]
                for (b, e) in chunk.enumerated() {
                    var r = Prediction(id: e.id, text: e.text)
                    r.masks = fills(model, encodings[b], logits, row: b, maskID: maskID, topK: request.topK)
                    if request.includeEmbeddings { (r.embedding, r.clsEmbedding) = pooled(output.lastHiddenState, batch, row: b) }
                    out[positions[b]] = r
                }
            case (.gpt2(let gpt2), .causalLM):
                var cache: KVCache? = nil
                let logits = gpt2(batch, cache: &cache, lastPositionOnly: true).logits!  // [B, 1, V]
                let v = logits.shape[2]
                for (b, e) in chunk.enumerated() {
                    let row = Array(logits.scalars[(b * v)..<((b + 1) * v)])
                    var r = Prediction(id: e.id, text: e.text)
                    r.nextTokens = top(probabilities(row), k: request.topK) {
                        model.tokenizer.decode([$0], skipSpecialTokens: false)
                    }
                    if request.includeLogits { r.logits = row.map(Double.init) }
                    out[positions[b]] = r
                }
            default:
                throw .wrongModel(
                    file: model.url.relativePath, operation: "predict", needs: "a classifier or a language model",
                    found: model.kindDescription + " (use embed for embeddings)")
            }
            for (b, cut) in truncated.enumerated() where cut { out[positions[b]]?.truncated = true }
            start += chunk.count
        }
        return out.map { $0! }
    }

    /// Row `b` of the last hidden state [B, T, H]: the mean over its real tokens, and position 0 ([CLS]).
    static func pooled(_ h: Tensor, _ batch: TokenBatch, row b: Int) -> ([Double], [Double]) {
        let (t, d) = (h.shape[1], h.shape[2])
        let x = h.scalars
        var mean = [Double](repeating: 0, count: d)
        var n = 0.0
        for p in 0..<t where batch.attentionMask[b * t + p] != 0 {
            n += 1
            for j in 0..<d { mean[j] += Double(x[(b * t + p) * d + j]) }
        }
        let cls = (0..<d).map { Double(x[b * t * d + $0]) }
        return (mean.map { $0 / max(n, 1) }, cls)
    }

    /// The `k` most probable entries of `p`, highest first (ties by index).
    static func top(_ p: [Double], k: Int, name: (Int) -> String) -> [TokenProbability] {
        p.indices.sorted { p[$0] > p[$1] }.prefix(k).map {
            TokenProbability(id: $0, token: name($0), probability: p[$0])
        }
    }

    /// Fillers of every [MASK] of row `b` of masked-LM logits [B, T, V].
    static func fills(
        _ model: LoadedModel, _ e: Encoding, _ logits: Tensor, row b: Int, maskID: Int?, topK: Int
    ) -> [MaskFill] {
        let (t, v) = (logits.shape[1], logits.shape[2])
        return e.ids.indices.filter { e.ids[$0] == maskID }.map { i in
            let p = probabilities(logits.scalars[((b * t + i) * v)..<((b * t + i + 1) * v)])
            return MaskFill(
                position: i, candidates: top(p, k: topK) { model.tokenizer.convertIdsToTokens([$0])[0] ?? "" })
        }
    }
}
