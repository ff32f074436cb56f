// BERT and GPT-2 as one SalienceModel: word embeddings → the score of a head chosen by the checkpoint's task.
import Foundation
import Tensor
import Tokenizers
import Transformer

/// Which output to explain: the model's own prediction (LIT's default) or a named label / token.
public enum TargetSpec: Sendable, Equatable {
    case predicted
    case label(String)
}

/// A transformer checkpoint and one token sequence, scored as a function of the sequence's word embeddings
/// by the head its task gives: a classifier's class, a masked LM's filler of its first [MASK], or a causal
/// LM's next token after the sequence. Position (and BERT's token-type) embeddings are added inside the
/// model, as transformers does with `inputs_embeds` (and Captum's BERT tutorials): attributions are over
/// word embeddings only.
public struct TransformerSalienceModel: SalienceModel {
    /// The explained number: which entry of the network's logits.
    public enum Head: Sendable, Equatable {
        /// A classifier (`sequence-classification`): class `c` of the logits [B, C].
        case classIndex(Int)
        /// A masked LM (`masked-lm`): token `id` at the [MASK] `position` of the logits [B, T, V].
        case maskedToken(position: Int, id: Int)
        /// A causal LM (`causal-lm`): token `id` after the sequence, from the last position's logits [B, 1, V]; with a
        /// `contrast` token, score(id) − score(contrast) (Yin & Neubig 2022, "Interpreting Language Models with
        /// Contrastive Explanations"; with logits or log-probabilities it is log p(id) − log p(contrast)).
        case nextToken(id: Int, contrast: Int?)
    }

    public let network: Network
    public let head: Head
    public let input: ExplainedInput
    public let inputEmbeddings: Tensor  // [T, H]
    public let ids: [Int]
    let typeIDs: [Int]
    let maskID: Int?
    let padID: Int
    public let batchSize: Int

    /// `LoadedModel.salienceCapabilities`, the one place that says what a checkpoint offers.
    public let capabilities: Capabilities

    /// The prediction's forward pass kept on a tape, for `inputGradient`.
    let inputPass: (tape: GradientTape, x: Tensor, logits: Tensor)?

    /// A text as the model's tokenizer encodes it (BERT: [CLS] … [SEP]); the target is a class name (a
    /// classifier) or a vocabulary token (a masked LM). With `recordInput` the prediction's forward pass is
    /// recorded, so that the gradient at the input costs only a backward pass (the gradient methods); it keeps
    /// the activations until the adapter is released.
    public init(
        model: LoadedModel, text: String, encoding: Encoding, target: TargetSpec = .predicted,
        score: ScoreKind = .prob, recordInput: Bool = false
    ) throws(InterpretError) {
        guard case .bert = model.network else { throw .badInput("\(model.url.path): not a BERT model") }
        guard encoding.count > 0 else { throw .badInput("the text encodes to no tokens") }
        let tokens = Tokens(
            ids: encoding.ids, typeIDs: encoding.typeIDs, text: text, tokens: encoding.tokens,
            offsets: encoding.offsets.map { (start: $0.start, end: $0.end) },
            fixed: Set(encoding.specialTokensMask.indices.filter { encoding.specialTokensMask[$0] == 1 }),
            words: encoding.words().map(\.tokens))
        let wanted: Wanted
        switch target {
        case .predicted: wanted = .predicted
        case .label(let name): wanted = .named(name)
        }
        try self.init(model: model, tokens, target: wanted, score: score, recordInput: recordInput)
    }

    /// A GPT-2 language model's score for token `target` after the prefix `ids`; `tokens`/`offsets` describe
    /// `ids` within `text` (display strings, Unicode-scalar spans). With `contrast`, the explained number is
    /// score(target) − score(contrast) (contrastive attribution, as inseq's `contrast_prob_diff` /
    /// `contrast_logits_diff`).
    public init(
        model: LoadedModel, ids: [Int], target: Int, text: String, tokens: [String],
        offsets: [(start: Int, end: Int)], score: ScoreKind = .prob, recordInput: Bool = false, contrast: Int? = nil
    ) throws(InterpretError) {
        guard case .gpt2(let gpt2) = model.network, model.task == .causalLM else {
            throw .noPrediction("\(model.url.path): sequence salience needs a GPT-2 language model (causal-lm)")
        }
        guard !ids.isEmpty else { throw .badInput("the prompt encodes to no tokens") }
        guard ids.count <= gpt2.config.nPositions else {
            throw .badInput("\(ids.count) tokens exceed the model's \(gpt2.config.nPositions) positions")
        }
        let sequence = Tokens(
            ids: ids, typeIDs: [Int](repeating: 0, count: ids.count), text: text, tokens: tokens, offsets: offsets,
            fixed: [], words: nil)
        try self.init(
            model: model, sequence, target: .id(target), score: score, recordInput: recordInput, contrast: contrast)
    }

    /// What to explain: the prediction, a class or token by name, or a token id.
    enum Wanted {
        case predicted, named(String), id(Int)
    }

    /// The explained sequence as the model reads it and as a Salience shows it.
    struct Tokens {
        var ids, typeIDs: [Int]
        var text: String
        var tokens: [String]
        var offsets: [(start: Int, end: Int)]
        var fixed: Set<Int>
        var words: [Range<Int>]?
    }

    /// The one prediction pass, then the head the task gives and the input it explains.
    init(
        model: LoadedModel, _ x: Tokens, target: Wanted, score: ScoreKind, recordInput: Bool, contrast: Int? = nil
    ) throws(InterpretError) {
        let net = model.network
        network = net
        capabilities = model.salienceCapabilities
        (ids, typeIDs) = (x.ids, x.typeIDs)
        let t = ids.count
        // Rows per pass: about 2,048 tokens of activations at a time.
        batchSize = max(1, min(64, 2048 / max(t, 1)))
        maskID = capabilities.contains(.maskToken) ? model.tokenizer.convertTokensToIds(["[MASK]"])[0] : nil
        if case .bert = net {
            padID = model.tokenizer.convertTokensToIds(["[PAD]"])[0] ?? model.padID
        } else {
            padID = model.padID  // GPT-2: end-of-text
        }
        inputEmbeddings = embedding(net.wordEmbeddingTable, indices: ids, shape: [t])  // [T, H]
        let batch = TokenBatch(ids: ids, typeIDs: typeIDs, batchSize: 1, length: t)
        let logits: Tensor?  // [1, C], [1, T, V] or [1, 1, V]
        if recordInput {
            let tape = GradientTape()
            let x0 = inputEmbeddings.reshaped([1] + inputEmbeddings.shape)  // [1, T, H]
            let (xw, l) = tape.record { () -> (Tensor, Tensor?) in
                let xw = tape.watch(x0)
                return (xw, net.headForward(batch, inputEmbeddings: xw).logits)
            }
            logits = l
            inputPass = l.map { (tape, xw, $0) }
        } else {
            logits = net.headForward(batch).logits
            inputPass = nil
        }
        var fixed = x.fixed
        let id = { (name: String) in model.tokenizer.convertTokensToIds([name])[0] }
        switch (net, model.task) {
        case (.bert, .sequenceClassification):
            let row = logits!.scalars  // [C]
            let labels = model.labels.count == row.count ? model.labels : row.indices.map { "LABEL_\($0)" }
            let p = probabilities(row)
            var c = p.indices.max { p[$0] < p[$1] }!
            switch target {
            case .predicted: break
            case .named(let name):
                guard let i = labels.firstIndex(of: name) else { throw .unknownTarget(name, known: labels) }
                c = i
            case .id(let i): c = i
            }
            head = .classIndex(c)
            var info = ExplainedInput(
                text: x.text, tokens: x.tokens, offsets: x.offsets, prediction: Array(zip(labels, p)),
                target: labels[c], score: score, fixed: fixed, words: x.words)
            info.inputScore = score.value(logits: row, probabilities: p, index: c)
            input = info
        case (.bert, .maskedLM):
            guard let maskID, let position = ids.firstIndex(of: maskID) else {
                throw .noPrediction("a masked-LM model explains the filler of a [MASK]; the text has none")
            }
            let v = logits!.shape[2]
            let row = Array(logits!.scalars[(position * v)..<((position + 1) * v)])  // [V] at the [MASK]
            let p = probabilities(row)
            let token = try Self.token(target, p, id)
            head = .maskedToken(position: position, id: token)
            fixed.insert(position)
            let top = p.indices.sorted { p[$0] > p[$1] }.prefix(5)
            let names = model.tokenizer.convertIdsToTokens(Array(top)).map { $0 ?? "?" }
            input = ExplainedInput(
                text: x.text, tokens: x.tokens, offsets: x.offsets, prediction: Array(zip(names, top.map { p[$0] })),
                target: model.tokenizer.convertIdsToTokens([token])[0] ?? "\(token)", score: score, fixed: fixed,
                words: x.words, readout: position)
        case (.gpt2, .causalLM):
            let row = logits!.scalars  // [V] at the last position
            let p = probabilities(row)
            let token = try Self.token(target, p, id)
            if let contrast, !p.indices.contains(contrast) {
                throw .badInput("the contrast token id \(contrast) is outside the vocabulary (\(p.count) tokens)")
            }
            head = .nextToken(id: token, contrast: contrast)
            let top = p.indices.sorted { p[$0] > p[$1] }.prefix(5)
            let decode = { (id: Int) in model.tokenizer.decode([id], skipSpecialTokens: false) }
            var info = ExplainedInput(
                text: x.text, tokens: x.tokens, offsets: x.offsets, prediction: top.map { (decode($0), p[$0]) },
                target: decode(token), score: score, fixed: fixed, words: x.words, readout: t - 1)
            info.inputScore = score.value(logits: row, probabilities: p, index: token)
            if let contrast {
                info.contrast = decode(contrast)
                info.inputScore! -= score.value(logits: row, probabilities: p, index: contrast)
            }
            input = info
        default:
            throw .noPrediction(
                "\(model.url.path): a \(model.task.rawValue) model has no class or token score to explain")
        }
    }

    /// A vocabulary token to explain: the most probable one under `p`, or the one asked for.
    static func token(
        _ target: Wanted, _ p: [Double], _ id: (String) -> Int?
    ) throws(InterpretError) -> Int {
        switch target {
        case .predicted: return p.indices.max { p[$0] < p[$1] }!
        case .id(let i): return i
        case .named(let token):
            guard let i = id(token) else { throw .unknownTarget(token, known: ["a token of the vocabulary"]) }
            return i
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

    /// The explained number [B] from the head's logits: class c of [B, C], token id at the [MASK] position
    /// (per row when `positions` is given) of [B, T, V], or the next token of [B, 1, V].
    func pick(_ logits: Tensor, positions: [Int]? = nil) -> Tensor {
        let b = logits.shape[0]
        switch head {
        case .classIndex(let c):
            return input.score.select(logits, index: c)  // [B]
        case .maskedToken(let position, let id):
            let v = logits.shape[2]
            var rows: [Tensor] = []
            for r in 0..<b {
                let p = positions?[r] ?? position
                rows.append(logits.slice(axis: 0, r..<(r + 1)).slice(axis: 1, p..<(p + 1)).reshaped([1, v]))
            }
            let at = rows.count == 1 ? rows[0] : Tensor.concatenate(rows, axis: 0)  // [B, V]
            return input.score.select(at, index: id)  // [B]
        case .nextToken(let id, let contrast):
            let rows = logits.reshaped([b, logits.shape[2]])  // [B, V]
            let s = input.score.select(rows, index: id)  // [B]
            return contrast.map { s - input.score.select(rows, index: $0) } ?? s
        }
    }

    public func inputGradient() -> (score: Double, gradient: Tensor)? {
        guard let pass = inputPass else { return nil }
        let s = pass.tape.record { pick(pass.logits).sum() }
        return (Double(s.item), pass.tape.gradients(of: s, wrt: [pass.x])[0])
    }

    public func scores(_ embeddings: Tensor) -> Tensor {
        pick(network.headForward(batch(rows: embeddings.shape[0]), inputEmbeddings: embeddings).logits!)
    }

    public func tokenEmbedding(_ token: SpecialToken) -> Tensor? {
        let id: Int?
        switch token {
        case .mask: id = maskID
        case .pad: id = padID
        }
        guard let id else { return nil }
        return network.wordEmbeddingTable.slice(axis: 0, id..<(id + 1)).reshaped([hiddenSize])
    }

    /// Deleted tokens close up and the shorter rows are padded under attention mask 0, as a re-tokenised
    /// shorter text would run: BERT on the right with [PAD]; GPT-2 on the left with its pad id (positions
    /// count real tokens only, as in generation), so the last position is each row's last kept token.
    public func scores(keeping keep: [[Bool]]) throws(InterpretError) -> [Double] {
        guard !keep.isEmpty else { return [] }
        let rows = keep.map { k in ids.indices.filter { k[$0] } }  // kept positions
        let causal: Bool
        if case .gpt2 = network { causal = true } else { causal = false }
        // With every token deleted GPT-2 reads <|endoftext|> alone, as it starts an empty text.
        let kept = rows.map { r in causal && r.isEmpty ? [padID] : r.map { ids[$0] } }
        let t = max(1, kept.map(\.count).max()!)
        var allIDs = [Int](), allTypes = [Int](), mask = [Int]()
        for (r, k) in zip(rows, kept) {
            let pad = [Int](repeating: padID, count: t - k.count), zeros = [Int](repeating: 0, count: t - k.count)
            let types = causal ? [Int](repeating: 0, count: k.count) : r.map { typeIDs[$0] }
            let ones = [Int](repeating: 1, count: k.count)
            allIDs += causal ? pad + k : k + pad
            allTypes += causal ? zeros + types : types + zeros
            mask += causal ? zeros + ones : ones + zeros
        }
        var positions: [Int]?
        if case .maskedToken(let position, _) = head { positions = rows.map { $0.firstIndex(of: position) ?? 0 } }
        let batch = TokenBatch(
            ids: allIDs, typeIDs: allTypes, attentionMask: mask, batchSize: rows.count, length: t)  // [B, T]
        return pick(network.headForward(batch).logits!, positions: positions).scalars.map(Double.init)
    }

    public func reducedGradient(keeping keep: [Bool]) throws(InterpretError) -> (gradient: Tensor, predicted: Int) {
        let kept = ids.indices.filter { keep[$0] }
        guard !kept.isEmpty else { throw .badInput("input reduction: every token was removed") }
        let batch = TokenBatch(
            ids: kept.map { ids[$0] }, typeIDs: kept.map { typeIDs[$0] }, batchSize: 1, length: kept.count)  // [1, T']
        let x = embedding(network.wordEmbeddingTable, indices: batch.ids, shape: [1, kept.count])  // [1, T', H]
        var position: Int?
        if case .maskedToken(let p, _) = head { position = kept.firstIndex(of: p) ?? 0 }
        let tape = GradientTape()
        let (xw, logits, s) = tape.record { () -> (Tensor, Tensor, Tensor) in
            let xw = tape.watch(x)
            let logits = network.headForward(batch, inputEmbeddings: xw).logits!
            return (xw, logits, pick(logits, positions: position.map { [$0] }).sum())
        }
        let g = tape.gradients(of: s, wrt: [xw])[0].reshaped([kept.count, hiddenSize])  // [T', H]
        let row: [Float]  // the head's distribution for the shorter input
        if let position {
            let v = logits.shape[2]
            row = Array(logits.scalars[(position * v)..<((position + 1) * v)])
        } else {
            row = logits.scalars  // [1, C] or [1, 1, V]
        }
        return (g, row.indices.max { row[$0] < row[$1] }!)
    }

    /// BERT: Captum's DeepLift rescales only `nn.Tanh` among BERT's modules (GELU is a module it does not know, the
    /// softmaxes are functions), which is the pooler's; GPT-2 has no such module, so its DeepLIFT is the gradient.
    public func deepLiftGradients(at embeddings: Tensor, baseline: Tensor) -> (scores: [Double], gradients: Tensor) {
        guard case .bert(let bert) = network, let pooler = bert.pooler else { return gradients(at: embeddings) }
        let b = embeddings.shape[0]
        let reference = bert(batch(rows: 1), inputEmbeddings: baseline.reshaped([1] + baseline.shape), pooledOnly: true)
        let z0 = pooler(reference.lastHiddenState.slice(axis: 1, 0..<1).squeezed(axis: 1))  // [1, H] at the baseline
        let z0b = Tensor.concatenate([Tensor](repeating: z0, count: b), axis: 0)  // [B, H]
        let tape = GradientTape()
        let (x, s, total) = tape.record { () -> (Tensor, Tensor, Tensor) in
            let x = tape.watch(embeddings.detached)
            let logits = bert(batch(rows: b), inputEmbeddings: x, pooledOnly: true, poolerReference: z0b).logits!
            let s = pick(logits)  // [B]
            return (x, s, s.sum())
        }
        return (s.scalars.map(Double.init), tape.gradients(of: total, wrt: [x])[0])
    }

    public func attentions() throws(InterpretError) -> [Tensor] {
        let t = ids.count
        let out = network.headForward(batch(rows: 1), options: ForwardOptions(outputAttentions: true))
        return out.attentions.map { $0.reshaped([$0.shape[1], t, t]) }  // [1, NH, T, T] → [NH, T, T]
    }

    public var hiddenStateCount: Int { network.layerCount + 1 }

    public var wordEmbeddingStd: Double { standardDeviation(network.wordEmbeddingTable) }

    /// Hidden state `layer` [B, T, H] as transformers numbers them (0 = the embedding output; GPT-2's last
    /// one after ln_f), running only the layers it needs.
    public func hiddenState(layer: Int, _ embeddings: Tensor) throws(InterpretError) -> Tensor {
        guard layer >= 0 && layer < hiddenStateCount else {
            throw .layerOutOfRange(layer, 0...(hiddenStateCount - 1), of: "the model's hidden states")
        }
        let out = network.cut(toHiddenState: layer).headForward(
            batch(rows: embeddings.shape[0]), inputEmbeddings: embeddings,
            options: ForwardOptions(outputHiddenStates: true))
        return out.hiddenStates[layer]
    }

    public func scores(fromHiddenState layer: Int, _ hidden: Tensor) throws(InterpretError) -> Tensor {
        guard layer >= 0 && layer < hiddenStateCount else {
            throw .layerOutOfRange(layer, 0...(hiddenStateCount - 1), of: "the model's hidden states")
        }
        let b = hidden.shape[0]
        return pick(network.headForward(batch(rows: b), resume: (layer, hidden)).logits!)
    }
}
