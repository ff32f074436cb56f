// GPT-2 as a SalienceModel: the probability, logit or log-probability of one given next token after a prefix.
import Foundation
import Tensor
import Tokenizers
import Transformer

/// A GPT-2 language model and a token prefix, scored by the probability (logit, log-probability) of
/// one given next token at the prefix's last position.
public struct GPT2SalienceModel: SalienceModel {
    public let gpt2: GPT2
    public let input: ExplainedInput
    public let inputEmbeddings: Tensor  // [T, H]
    public let ids: [Int]
    let targetID: Int
    let padID: Int
    public let batchSize: Int

    /// `LoadedModel.salienceCapabilities`, the one place that says what a checkpoint offers.
    public let capabilities: Capabilities
    /// The prediction's forward pass kept on a tape, for `inputGradient` (see `BertSalienceModel`).
    let inputPass: (tape: GradientTape, x: Tensor, logits: Tensor)?

    /// `tokens`/`offsets` describe `ids` within `text` (display strings, Unicode-scalar spans).
    public init(
        model: LoadedModel, ids: [Int], target: Int, text: String, tokens: [String],
        offsets: [(start: Int, end: Int)], score: ScoreKind = .prob, recordInput: Bool = false
    ) throws(InterpretError) {
        guard case .gpt2(let gpt2) = model.network, model.task == .causalLM else {
            throw .noPrediction("\(model.url.path): sequence salience needs a GPT-2 language model (causal-lm)")
        }
        guard !ids.isEmpty else { throw .badInput("the prompt encodes to no tokens") }
        guard ids.count <= gpt2.config.nPositions else {
            throw .badInput("\(ids.count) tokens exceed the model's \(gpt2.config.nPositions) positions")
        }
        self.gpt2 = gpt2
        capabilities = model.salienceCapabilities
        self.ids = ids
        self.targetID = target
        self.padID = model.padID
        let t = ids.count
        batchSize = max(1, min(64, 2048 / t))
        inputEmbeddings = embedding(gpt2.wte, indices: ids, shape: [t])  // [T, H]
        let batch = TokenBatch(ids: ids, batchSize: 1, length: t)
        let out: Tensor
        if recordInput {
            let tape = GradientTape()
            let x = inputEmbeddings.reshaped([1, t, gpt2.config.nEmbd])
            let (xw, l) = tape.record { () -> (Tensor, Tensor) in
                var cache: KVCache? = nil
                let xw = tape.watch(x)
                return (xw, gpt2(batch, inputEmbeddings: xw, cache: &cache, lastPositionOnly: true).logits!)
            }
            out = l
            inputPass = (tape, xw, l)
        } else {
            var cache: KVCache? = nil
            out = gpt2(batch, cache: &cache, lastPositionOnly: true).logits!
            inputPass = nil
        }
        let logits = out.scalars
        let p = probabilities(logits)
        let top = p.indices.sorted { p[$0] > p[$1] }.prefix(5)
        let decode = { (id: Int) in model.tokenizer.decode([id], skipSpecialTokens: false) }
        var info = ExplainedInput(
            text: text, tokens: tokens, offsets: offsets, prediction: top.map { (decode($0), p[$0]) },
            target: decode(target), score: score, fixed: [], words: nil, readout: t - 1)
        info.inputScore = score.value(logits: logits, probabilities: p, index: target)
        input = info
    }

    public func inputGradient() -> (score: Double, gradient: Tensor)? {
        guard let pass = inputPass else { return nil }
        let s = pass.tape.record { pick(pass.logits).sum() }
        return (Double(s.item), pass.tape.gradients(of: s, wrt: [pass.x])[0])
    }

    func batch(rows b: Int) -> TokenBatch {
        var all = [Int]()
        all.reserveCapacity(b * ids.count)
        for _ in 0..<b { all += ids }
        return TokenBatch(ids: all, batchSize: b, length: ids.count)
    }

    /// Target score from last-position logits [B, 1, V].
    func pick(_ logits: Tensor) -> Tensor {
        let b = logits.shape[0]
        return input.score.select(logits.reshaped([b, logits.shape[2]]), index: targetID)  // [B, V] → [B]
    }

    public func scores(_ embeddings: Tensor) -> Tensor {
        var cache: KVCache? = nil
        let b = embeddings.shape[0]
        return pick(gpt2(batch(rows: b), inputEmbeddings: embeddings, cache: &cache, lastPositionOnly: true).logits!)
    }

    public func tokenEmbedding(_ token: SpecialToken) -> Tensor? {
        guard token == .pad else { return nil }  // GPT-2 has no [MASK]
        return gpt2.wte.slice(axis: 0, padID..<(padID + 1)).reshaped([hiddenSize])
    }

    /// Deleted tokens: shorter rows left-padded with the pad id under attention mask 0 (positions count
    /// real tokens only, as in generation), so the last position is each row's last kept token.
    public func scores(keeping keep: [[Bool]]) throws(InterpretError) -> [Double] {
        guard !keep.isEmpty else { return [] }
        // With every token deleted the input is <|endoftext|> alone, as GPT-2 starts an empty text.
        let rows = keep.map { k in ids.indices.filter { k[$0] }.map { ids[$0] } }.map { $0.isEmpty ? [padID] : $0 }
        let t = rows.map(\.count).max()!
        var all = [Int](), mask = [Int]()
        for r in rows {
            all += [Int](repeating: padID, count: t - r.count) + r
            mask += [Int](repeating: 0, count: t - r.count) + [Int](repeating: 1, count: r.count)
        }
        var cache: KVCache? = nil
        let logits = gpt2(
            TokenBatch(ids: all, attentionMask: mask, batchSize: rows.count, length: t), cache: &cache,
            lastPositionOnly: true
        ).logits!
        return pick(logits).scalars.map(Double.init)
    }

    public func attentions() throws(InterpretError) -> [Tensor] {
        var cache: KVCache? = nil
        let t = ids.count
        let out = gpt2(
            batch(rows: 1), cache: &cache, options: ForwardOptions(outputAttentions: true), lastPositionOnly: true)
        return out.attentions.map { $0.reshaped([$0.shape[1], t, t]) }
    }

    public var hiddenStateCount: Int { gpt2.blocks.count + 1 }

    public var wordEmbeddingStd: Double { standardDeviation(gpt2.wte) }

    /// Hidden state `layer` as transformers numbers them (0 = wte + wpe, the last one after ln_f),
    /// running only the blocks it needs.
    public func hiddenState(layer: Int, _ embeddings: Tensor) throws(InterpretError) -> Tensor {
        guard layer >= 0 && layer < hiddenStateCount else {
            throw .layerOutOfRange(layer, 0...(hiddenStateCount - 1), of: "the model's hidden states")
        }
        var cut = gpt2
        if layer < gpt2.blocks.count { cut.blocks = Array(gpt2.blocks.prefix(layer + 1)) }
        var cache: KVCache? = nil
        let out = cut(
            batch(rows: embeddings.shape[0]), inputEmbeddings: embeddings, cache: &cache,
            options: ForwardOptions(outputHiddenStates: true), lastPositionOnly: true)
        return out.hiddenStates[layer]
    }
}
