// BERT as a SalienceModel: a classifier's class score, or a masked LM's score for a filler of its first [MASK].
import Foundation
import Tensor
import Tokenizers
import Transformer

/// Which output to explain: the model's own prediction (LIT's default) or a named label / token.
public enum TargetSpec: Sendable, Equatable {
    case predicted
    case label(String)
}

/// A BERT checkpoint and one encoded text, scored as a function of the text's word embeddings.
/// Position and token-type embeddings are added inside the model, as transformers does with
/// `inputs_embeds` (and Captum's BERT tutorials): attributions are over word embeddings only.
public struct BertSalienceModel: SalienceModel {
    enum Head {
        case classIndex(Int)
        case token(position: Int, id: Int)
    }

    public let bert: Bert
    public let input: ExplainedInput
    public let inputEmbeddings: Tensor  // [T, H]
    public let ids: [Int]
    let typeIDs: [Int]
    let head: Head
    let maskID: Int?
    let padID: Int?
    public let batchSize: Int

    /// `LoadedModel.salienceCapabilities`, the one place that says what a checkpoint offers.
    public let capabilities: Capabilities

    /// The prediction's forward pass kept on a tape, for `inputGradient`.
    let inputPass: (tape: GradientTape, x: Tensor, logits: Tensor)?

    /// `encoding` is `text` as the model's tokenizer encodes it ([CLS] … [SEP]). With `recordInput`
    /// the prediction's forward pass is recorded, so that the gradient at the input costs only a
    /// backward pass (the gradient methods); it keeps the activations until the adapter is released.
    public init(
        model: LoadedModel, text: String, encoding: Encoding, target: TargetSpec = .predicted,
        score: ScoreKind = .prob, recordInput: Bool = false
    ) throws(InterpretError) {
        guard case .bert(let bert) = model.network else {
            throw .badInput("\(model.url.path): not a BERT model")
        }
        guard encoding.count > 0 else { throw .badInput("the text encodes to no tokens") }
        self.bert = bert
        capabilities = model.salienceCapabilities
        ids = encoding.ids
        typeIDs = encoding.typeIDs
        let t = ids.count
        // Rows per pass: about 2,048 tokens of activations at a time.
        batchSize = max(1, min(64, 2048 / max(t, 1)))
        maskID = model.tokenizer.convertTokensToIds(["[MASK]"])[0]
        padID = model.tokenizer.convertTokensToIds(["[PAD]"])[0] ?? model.padID
        let batch = TokenBatch(ids: ids, typeIDs: typeIDs, batchSize: 1, length: t)
        inputEmbeddings = bert.wordEmbeddings(batch).reshaped([t, bert.config.hiddenSize])
        var fixed = Set(encoding.specialTokensMask.indices.filter { encoding.specialTokensMask[$0] == 1 })
        let words = encoding.words().map(\.tokens)
        let offsets = encoding.offsets.map { (start: $0.start, end: $0.end) }
        let logits: Tensor?
        if recordInput {
            let tape = GradientTape()
            let x = inputEmbeddings.reshaped([1, t, bert.config.hiddenSize])
            let (xw, l) = tape.record { () -> (Tensor, Tensor?) in
                let xw = tape.watch(x)
                return (xw, bert(batch, inputEmbeddings: xw, pooledOnly: true).logits)
            }
            logits = l
            inputPass = l.map { (tape, xw, $0) }
        } else {
            logits = bert(batch, pooledOnly: true).logits
            inputPass = nil
        }
        switch model.task {
        case .sequenceClassification:
            let row = logits!.scalars
            let labels = model.labels.count == row.count ? model.labels : row.indices.map { "LABEL_\($0)" }
            let p = probabilities(row)
            let predicted = p.indices.max { p[$0] < p[$1] }!
            var c = predicted
            if case .label(let name) = target {
                guard let i = labels.firstIndex(of: name) else { throw .unknownTarget(name, known: labels) }
                c = i
            }
            head = .classIndex(c)
            let f = score.value(logits: row, probabilities: p, index: c)
            var info = ExplainedInput(
                text: text, tokens: encoding.tokens, offsets: offsets, prediction: Array(zip(labels, p)),
                target: labels[c], score: score, fixed: fixed, words: words)
            info.inputScore = f
            input = info
        case .maskedLM:
            guard let maskID, let position = ids.firstIndex(of: maskID) else {
                throw .noPrediction("a masked-LM model explains the filler of a [MASK]; the text has none")
            }
            let v = logits!.shape[2]
            let row = Array(logits!.scalars[(position * v)..<((position + 1) * v)])
            let p = probabilities(row)
            var id = p.indices.max { p[$0] < p[$1] }!
            if case .label(let token) = target {
                guard let i = model.tokenizer.convertTokensToIds([token])[0] else {
                    throw .unknownTarget(token, known: ["a token of the vocabulary"])
                }
                id = i
            }
            head = .token(position: position, id: id)
            fixed.insert(position)
            let top = p.indices.sorted { p[$0] > p[$1] }.prefix(5)
            let names = model.tokenizer.convertIdsToTokens(Array(top)).map { $0 ?? "?" }
            input = ExplainedInput(
                text: text, tokens: encoding.tokens, offsets: offsets,
                prediction: Array(zip(names, top.map { p[$0] })),
                target: model.tokenizer.convertIdsToTokens([id])[0] ?? "\(id)", score: score, fixed: fixed,
                words: words, readout: position)
        default:
            throw .noPrediction(
                "\(model.url.path): a \(model.task.rawValue) model has no class or token score to explain")
        }
    }

    /// [B, T] copies of the input's ids (the embeddings carry the per-row differences).
    func batch(rows b: Int) -> TokenBatch {
        let t = ids.count
        var allIDs = [Int](), allTypes = [Int]()
        allIDs.reserveCapacity(b * t)
        allTypes.reserveCapacity(b * t)
        for _ in 0..<b {
            allIDs += ids
            allTypes += typeIDs
        }
        return TokenBatch(ids: allIDs, typeIDs: allTypes, batchSize: b, length: t)
    }

    /// The explained number from the head's logits: class c of [B, C], or token id at the [MASK]
    /// position of [B, T, V].
    func pick(_ logits: Tensor, position override: [Int]? = nil) -> Tensor {
        let b = logits.shape[0]
        switch head {
        case .classIndex(let c):
            return input.score.select(logits, index: c)  // [B]
        case .token(let position, let id):
            let v = logits.shape[2]
            var rows: [Tensor] = []
            for r in 0..<b {
                let p = override?[r] ?? position
                rows.append(logits.slice(axis: 0, r..<(r + 1)).slice(axis: 1, p..<(p + 1)).reshaped([1, v]))
            }
            let at = rows.count == 1 ? rows[0] : Tensor.concatenate(rows, axis: 0)  // [B, V]
            return input.score.select(at, index: id)  // [B]
        }
    }

    public func inputGradient() -> (score: Double, gradient: Tensor)? {
        guard let pass = inputPass else { return nil }
        let s = pass.tape.record { pick(pass.logits).sum() }
        return (Double(s.item), pass.tape.gradients(of: s, wrt: [pass.x])[0])
    }

    public func scores(_ embeddings: Tensor) -> Tensor {
        let b = embeddings.shape[0]
        return pick(bert(batch(rows: b), inputEmbeddings: embeddings, pooledOnly: true).logits!)
    }

    public func tokenEmbedding(_ token: SpecialToken) -> Tensor? {
        let id: Int?
        switch token {
        case .mask: id = maskID
        case .pad: id = padID
        }
        guard let id else { return nil }
        return bert.embeddings.wordEmbeddings.slice(axis: 0, id..<(id + 1)).reshaped([hiddenSize])
    }

    /// Deletes tokens and pads the shorter rows on the right with [PAD] (attention mask 0), as a
    /// re-tokenised shorter text would run.
    public func scores(keeping keep: [[Bool]]) throws(InterpretError) -> [Double] {
        guard !keep.isEmpty else { return [] }
        let rows = keep.map { k in ids.indices.filter { k[$0] } }
        let t = max(1, rows.map(\.count).max()!)
        var allIDs = [Int](), allTypes = [Int](), mask = [Int](), positions = [Int]()
        for r in rows {
            let n = t - r.count
            allIDs += r.map { ids[$0] } + [Int](repeating: padID ?? 0, count: n)
            allTypes += r.map { typeIDs[$0] } + [Int](repeating: 0, count: n)
            mask += [Int](repeating: 1, count: r.count) + [Int](repeating: 0, count: n)
            if case .token(let position, _) = head { positions.append(r.firstIndex(of: position) ?? 0) }
        }
        let batch = TokenBatch(ids: allIDs, typeIDs: allTypes, attentionMask: mask, batchSize: rows.count, length: t)
        let logits = bert(batch, pooledOnly: true).logits!
        return pick(logits, position: positions.isEmpty ? nil : positions).scalars.map(Double.init)
    }

    public func attentions() throws(InterpretError) -> [Tensor] {
        let t = ids.count
        let out = bert(batch(rows: 1), options: ForwardOptions(outputAttentions: true))
        return out.attentions.map { $0.reshaped([$0.shape[1], t, t]) }
    }

    public var hiddenStateCount: Int { bert.layers.count + 1 }

    public var wordEmbeddingStd: Double { standardDeviation(bert.embeddings.wordEmbeddings) }

    /// The encoder cut after `layer` blocks (0 = the embedding output LayerNorm(word + position + type)),
    /// so that later layers and the head cost nothing.
    public func hiddenState(layer: Int, _ embeddings: Tensor) throws(InterpretError) -> Tensor {
        guard layer >= 0 && layer < hiddenStateCount else {
            throw .layerOutOfRange(layer, 0...(hiddenStateCount - 1), of: "the model's hidden states")
        }
        var cut = bert
        cut.layers = Array(bert.layers.prefix(layer))
        cut.pooler = nil
        cut.classifier = nil
        cut.mlmHead = nil
        return cut(batch(rows: embeddings.shape[0]), inputEmbeddings: embeddings).lastHiddenState
    }
}
