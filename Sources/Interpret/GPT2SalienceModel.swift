// GPT-2 as a SalienceModel (the score of one next token), and sequence salience over a generation.
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

    public var capabilities: Capabilities { [.gradients, .attention, .hiddenStates, .removal, .padToken] }
    /// The prediction's forward pass kept on a tape, for `inputGradient` (see `BertSalienceModel`).
    let inputPass: (tape: GradientTape, x: Tensor, logits: Tensor)?

    /// `tokens`/`offsets` describe `ids` within `text` (display strings, Unicode-scalar spans).
    public init(
        model: LoadedModel, ids: [Int], target: Int, text: String, tokens: [String],
        offsets: [(start: Int, end: Int)], score: ScoreKind = .prob, recordInput: Bool = false
    ) throws(InterpretError) {
        guard case .gpt2(let gpt2) = model.network, model.task == .causalLM else {
            throw .noPrediction("\(model.url.path): sequence salience needs a GPT-2 language model")
        }
        guard !ids.isEmpty else { throw .badInput("the prompt encodes to no tokens") }
        guard ids.count <= gpt2.config.nPositions else {
            throw .badInput("\(ids.count) tokens exceed the model's \(gpt2.config.nPositions) positions")
        }
        self.gpt2 = gpt2
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
        let p = softmaxDouble(logits)
        let top = p.indices.sorted { p[$0] > p[$1] }.prefix(5)
        let decode = { (id: Int) in model.tokenizer.decode([id], skipSpecialTokens: false) }
        var info = ExplainedInput(
            text: text, tokens: tokens, offsets: offsets, prediction: top.map { (decode($0), p[$0]) },
            target: decode(target), score: score, fixed: [], words: nil, readout: t - 1)
        switch score {
        case .prob: info.inputScore = p[target]
        case .logit: info.inputScore = Double(logits[target])
        case .logprob: info.inputScore = Foundation.log(p[target])
        }
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
        let rows = logits.reshaped([b, logits.shape[2]])  // [B, V]
        let z: Tensor
        switch input.score {
        case .logit: z = rows
        case .prob: z = softmax(rows, axis: -1)
        case .logprob: z = logSoftmax(rows, axis: -1)
        }
        return z.slice(axis: 1, targetID..<(targetID + 1)).reshaped([b])  // [B]
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
        let out = gpt2(batch(rows: 1), cache: &cache, options: ForwardOptions(outputAttentions: true), lastPositionOnly: true)
        return out.attentions.map { $0.reshaped([$0.shape[1], t, t]) }
    }

    public var hiddenStateCount: Int { gpt2.blocks.count + 1 }

    public var wordEmbeddingStd: Double { standardDeviation(gpt2.wte) }

    /// Hidden state `layer` as transformers numbers them (0 = wte + wpe, the last one after ln_f),
    /// running only the blocks it needs.
    public func hiddenState(layer: Int, _ embeddings: Tensor) throws(InterpretError) -> Tensor {
        guard layer >= 0 && layer < hiddenStateCount else {
            throw .invalidOption("--layer \(layer) is out of range: the model has hidden states 0…\(hiddenStateCount - 1)")
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

/// Salience of each token of a continuation over the prompt and the tokens before it (LIT's sequence
/// salience): row j explains continuation token j from the prefix prompt + continuation[..<j].
public struct SequenceSalience: Sendable {
    public var method: String
    /// Prompt plus continuation, decoded.
    public var text: String
    /// All tokens (decoded one by one) and their spans in `text`.
    public var tokens: [String]
    public var offsets: [(start: Int, end: Int)]
    public var ids: [Int]
    public var promptLength: Int
    /// One explanation per continuation token; `steps[j].scores` has promptLength + j entries.
    public var steps: [Salience]
    public var seconds: Double = 0
}

extension SequenceSalience {
    /// Explains each token of `continuation` (token ids after the prompt's), or of GPT-2's greedy
    /// continuation of `maxTokens` tokens when `continuation` is nil.
    public static func explain(
        model: LoadedModel, prompt: String, continuation: String?, maxTokens: Int, method: any SalienceMethod,
        score: ScoreKind = .prob
    ) throws(InterpretError) -> SequenceSalience {
        guard case .gpt2(let gpt2) = model.network, model.task == .causalLM else {
            throw .noPrediction("\(model.url.path): --prompt needs a GPT-2 language model (causal-lm)")
        }
        let start = Date()
        var promptIDs = model.tokenizer.encode(prompt, addSpecialTokens: true).ids
        if promptIDs.isEmpty, let eos = model.eosID { promptIDs = [eos] }  // as `loupe generate`
        guard !promptIDs.isEmpty else { throw .badInput("the prompt encodes to no tokens") }
        var all: [Int]
        if let continuation {
            let more = model.tokenizer.encode(continuation, addSpecialTokens: true).ids
            guard !more.isEmpty else { throw .badInput("--target \"\(continuation)\" encodes to no tokens") }
            all = promptIDs + more
        } else {
            guard maxTokens >= 1 else { throw .invalidOption("--max-tokens must be at least 1, got \(maxTokens)") }
            all = gpt2.generate(
                prompts: [promptIDs], config: GenerationConfig(maxNewTokens: maxTokens, eosTokenID: model.eosID),
                padID: model.padID)[0]
        }
        guard all.count <= gpt2.config.nPositions else {
            throw .badInput("prompt and continuation have \(all.count) tokens; the model has \(gpt2.config.nPositions) positions")
        }
        // Display tokens and their spans: decode growing prefixes so that spans index the decoded text.
        var tokens: [String] = [], offsets: [(start: Int, end: Int)] = []
        var previous = 0
        for k in all.indices {
            tokens.append(model.tokenizer.decode([all[k]], skipSpecialTokens: false))
            let n = model.tokenizer.decode(Array(all[...k]), skipSpecialTokens: false).unicodeScalars.count
            offsets.append((previous, max(previous, n)))
            previous = max(previous, n)
        }
        let text = model.tokenizer.decode(all, skipSpecialTokens: false)
        var steps: [Salience] = []
        for j in promptIDs.count..<all.count {
            let m = try GPT2SalienceModel(
                model: model, ids: Array(all[..<j]), target: all[j], text: text, tokens: Array(tokens[..<j]),
                offsets: Array(offsets[..<j]), score: score, recordInput: method is GradientNorm || method is GradientTimesInput)
            steps.append(try method.explain(m))
        }
        var out = SequenceSalience(
            method: type(of: method).name, text: text, tokens: tokens, offsets: offsets, ids: all,
            promptLength: promptIDs.count, steps: steps)
        out.seconds = Date().timeIntervalSince(start)
        return out
    }
}
