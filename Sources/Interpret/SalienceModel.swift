// The "differentiable scorer" every method works against: input embeddings [B, T, H] → target scores [B].
import Tensor

/// The explained input and its context: what a `Salience` reports besides the scores.
public struct ExplainedInput: Sendable {
    public var text: String
    public var tokens: [String]
    /// Unicode-scalar spans in `text`; (0, 0) for added tokens.
    public var offsets: [(start: Int, end: Int)]
    public var prediction: [(label: String, probability: Double)]
    public var target: String
    public var score: ScoreKind
    /// Positions that perturbation methods never mask or remove ([CLS], [SEP], an MLM's target [MASK]).
    public var fixed: Set<Int>
    /// Token ranges of the words (word pieces merged), for `--merge-words`; nil when unknown.
    public var words: [Range<Int>]?
    /// The target score F(x) of the unperturbed input, when the adapter has already computed it.
    public var inputScore: Double?
    /// The position whose representation the head reads ([CLS] for a classifier, the [MASK] for a
    /// masked LM, the last token for GPT-2): the attention method reports its row.
    public var readout: Int
    /// Contrastive explanations: the token the target is explained against (score(target) − score(contrast)).
    public var contrast: String?

    public init(
        text: String, tokens: [String], offsets: [(start: Int, end: Int)]? = nil,
        prediction: [(label: String, probability: Double)] = [], target: String = "", score: ScoreKind = .logit,
        fixed: Set<Int> = [], words: [Range<Int>]? = nil, readout: Int = 0
    ) {
        self.text = text
        self.tokens = tokens
        self.offsets = offsets ?? Array(repeating: (0, 0), count: tokens.count)
        self.prediction = prediction
        self.target = target
        self.score = score
        self.fixed = fixed
        self.words = words
        self.readout = readout
    }
}

/// A token whose embedding can replace another (IG baselines, masking).
public enum SpecialToken: String, Sendable {
    case pad, mask
}

/// A model reduced to what salience methods need: a scalar score per row of input embeddings.
///
/// Methods are written against this protocol, not against BERT or GPT-2, so that a linear
/// bag-of-embeddings model with known attributions can stand in for a transformer in tests
/// (`TransformerSalienceModel` is the adapter of BERT and GPT-2).
public protocol SalienceModel {
    var input: ExplainedInput { get }
    /// The word embeddings of the explained input, [T, H]: what attributions are taken with respect to.
    var inputEmbeddings: Tensor { get }
    var capabilities: Capabilities { get }
    /// Rows per forward pass for this input length (a memory/speed trade-off).
    var batchSize: Int { get }
    /// Target scores [B] of a batch of embedding sequences [B, T, H]. Recorded on an active
    /// `GradientTape` when the embeddings are watched (requires `.gradients`).
    func scores(_ embeddings: Tensor) -> Tensor
    /// The embedding [H] of a special token, if the vocabulary has it.
    func tokenEmbedding(_ token: SpecialToken) -> Tensor?
    /// Scores of the input with tokens deleted: one row per sample, `keep[t]` false deletes token t
    /// (requires `.removal`).
    func scores(keeping keep: [[Bool]]) throws(InterpretError) -> [Double]
    /// With tokens deleted (`keep[t]` false): the gradient of the target score at the kept tokens' embeddings
    /// [T', H] and the index the head predicts (class, or token) for that shorter input (requires `.removal`).
    func reducedGradient(keeping keep: [Bool]) throws(InterpretError) -> (gradient: Tensor, predicted: Int)
    /// Target scores and DeepLIFT's gradients at a batch [B, T, H] against the baseline [T, H]: the gradient with every
    /// rescaled non-linearity's derivative replaced by its secant between baseline and input (requires `.gradients`).
    /// The default is the plain gradient: a model with no such non-linearity.
    func deepLiftGradients(at embeddings: Tensor, baseline: Tensor) -> (scores: [Double], gradients: Tensor)
    /// Each layer's attention probabilities [NH, T, T] on the input (requires `.attention`).
    func attentions() throws(InterpretError) -> [Tensor]
    /// Each layer's attention probabilities [NH, T, T] on the input with the target score's gradient with respect to
    /// them, first layer first (requires `.attention` and `.gradients`).
    func attentionGradients() throws(InterpretError) -> [(attention: Tensor, gradient: Tensor)]
    /// Number of hidden-state indices: 0 = embedding output … L = last layer (requires `.hiddenStates`).
    var hiddenStateCount: Int { get }
    /// Hidden state `layer` [B, T, H'] (or any shape [B, …]) of a batch of embeddings; differentiable.
    func hiddenState(layer: Int, _ embeddings: Tensor) throws(InterpretError) -> Tensor
    /// Target scores [B] with hidden state `layer` given [B, T, H'] instead of computed: the rest of the network
    /// as a function of that layer's activations (requires `.hiddenStates`); differentiable.
    func scores(fromHiddenState layer: Int, _ hidden: Tensor) throws(InterpretError) -> Tensor
    /// Standard deviation of the word-embedding matrix (the information method's default scale).
    var wordEmbeddingStd: Double { get }
    /// The target score and its gradient at the input embeddings, [1, T, H], if the adapter kept the
    /// prediction's forward pass on a tape (saves the gradient methods one forward pass).
    func inputGradient() -> (score: Double, gradient: Tensor)?
}

extension SalienceModel {
    public var batchSize: Int { 16 }
    public func tokenEmbedding(_ token: SpecialToken) -> Tensor? { nil }
    public func scores(keeping keep: [[Bool]]) throws(InterpretError) -> [Double] {
        throw .unsupported(method: "token removal", missing: .removal)
    }
    public func attentions() throws(InterpretError) -> [Tensor] {
        throw .unsupported(method: "attention", missing: .attention)
    }
    public func attentionGradients() throws(InterpretError) -> [(attention: Tensor, gradient: Tensor)] {
        throw .unsupported(method: "attention gradients", missing: .attention)
    }
    public func reducedGradient(keeping keep: [Bool]) throws(InterpretError) -> (gradient: Tensor, predicted: Int) {
        throw .unsupported(method: "token removal", missing: .removal)
    }
    public func deepLiftGradients(at embeddings: Tensor, baseline: Tensor) -> (scores: [Double], gradients: Tensor) {
        gradients(at: embeddings)
    }
    public var hiddenStateCount: Int { 0 }
    public func inputGradient() -> (score: Double, gradient: Tensor)? { nil }

    /// `inputGradient()`, or one forward and backward pass at the input.
    public func gradientAtInput() -> (score: Double, gradient: Tensor) {
        if let g = inputGradient() { return g }
        let x = inputEmbeddings
        let (s, g) = gradients(at: x.reshaped([1] + x.shape))
        return (s[0], g)
    }
    public func hiddenState(layer: Int, _ embeddings: Tensor) throws(InterpretError) -> Tensor {
        throw .unsupported(method: "hidden states", missing: .hiddenStates)
    }
    public func scores(fromHiddenState layer: Int, _ hidden: Tensor) throws(InterpretError) -> Tensor {
        throw .unsupported(method: "hidden states", missing: .hiddenStates)
    }

    public var wordEmbeddingStd: Double { standardDeviation(inputEmbeddings) }

    public var length: Int { inputEmbeddings.shape[0] }
    public var hiddenSize: Int { inputEmbeddings.shape[1] }

    /// Runs `body` on consecutive ranges of `count` inputs, `rows` at a time (the model's `batchSize` unless
    /// given): the batch-then-split loop of every method that evaluates many inputs (IG points, noisy copies,
    /// SHAP draws, perturbed texts).
    public func forEachBatch<E: Error>(
        _ count: Int, rows: Int? = nil, _ body: (Range<Int>) throws(E) -> Void
    ) throws(E) {
        let step = max(1, rows ?? batchSize)
        var start = 0
        while start < count {
            let end = min(count, start + step)
            try body(start..<end)
            start = end
        }
    }

    /// `forEachBatch` whose batches each return their inputs' results, concatenated in order.
    public func batched<T, E: Error>(
        _ count: Int, rows: Int? = nil, _ pass: (Range<Int>) throws(E) -> [T]
    ) throws(E) -> [T] {
        var out: [T] = []
        out.reserveCapacity(count)
        try forEachBatch(count, rows: rows) { (r: Range<Int>) throws(E) in out += try pass(r) }
        return out
    }

    /// Scores of embedding sequences given as one [N, T, H] tensor, `batchSize` rows per forward
    /// pass, untracked (inference only).
    public func evaluate(_ embeddings: Tensor) -> [Double] {
        let n = embeddings.shape[0]
        return batched(n) { r in
            let chunk = r.count == n ? embeddings : embeddings.slice(axis: 0, r)
            return scores(chunk.detached).scalars.map(Double.init)
        }
    }

    /// Scores and d score / d embeddings of a batch [B, T, H] in one forward and one backward pass
    /// (rows are independent, so the gradient of Σ scores gives each row its own gradient).
    public func gradients(at embeddings: Tensor) -> (scores: [Double], gradients: Tensor) {
        let tape = GradientTape()
        let (x, s, total) = tape.record { () -> (Tensor, Tensor, Tensor) in
            let x = tape.watch(embeddings.detached)
            let s = scores(x)
            return (x, s, s.sum())  // the sum must be recorded too
        }
        let g = tape.gradients(of: total, wrt: [x])[0]
        return (s.scalars.map(Double.init), g)
    }

    /// Scores of perturbed inputs: in each row of `keep`, false positions are replaced by the
    /// [MASK] embedding (`.mask`) or deleted (`.remove`).
    public func perturbedScores(_ keep: [[Bool]], by perturbation: Perturbation) throws(InterpretError) -> [Double] {
        switch perturbation {
        case .remove:
            guard capabilities.contains(.removal) else {
                throw .unsupported(method: "token removal", missing: .removal)
            }
            return try batched(keep.count) { (r: Range<Int>) throws(InterpretError) in
                try scores(keeping: Array(keep[r]))
            }
        case .mask:
            guard let m = tokenEmbedding(.mask) else {
                throw .unsupported(method: "masking with [MASK]", missing: .maskToken)
            }
            let (t, h) = (length, hiddenSize)
            let x = inputEmbeddings.scalars, mv = m.scalars
            return batched(keep.count) { range in
                var rows = [Float]()
                rows.reserveCapacity(range.count * t * h)
                for r in range {
                    for p in 0..<t {
                        if keep[r][p] { rows += x[(p * h)..<((p + 1) * h)] } else { rows += mv }
                    }
                }
                return scores(Tensor(shape: [range.count, t, h], scalars: rows)).scalars.map(Double.init)
            }
        }
    }
}

/// How a perturbation method hides a token: LIT's LIME replaces it with "[MASK]"; ERASER deletes it.
public enum Perturbation: String, Sendable, CaseIterable {
    case mask, remove
}

/// The units a perturbation method switches on and off: token positions, or whole words.
struct FeatureGroups {
    /// Token positions of each feature.
    var groups: [[Int]]

    /// One feature per non-fixed token, or per word (its non-fixed pieces) when `words` is set.
    init(_ input: ExplainedInput, mergeWords: Bool) {
        if mergeWords, let words = input.words {
            groups = words.map { $0.filter { !input.fixed.contains($0) } }.filter { !$0.isEmpty }
        } else {
            groups = input.tokens.indices.filter { !input.fixed.contains($0) }.map { [$0] }
        }
    }

    var count: Int { groups.count }

    /// A keep-mask over all `length` positions from a mask over features.
    func positions(_ on: [Bool], length: Int) -> [Bool] {
        var keep = [Bool](repeating: true, count: length)
        for (f, g) in groups.enumerated() where !on[f] {
            for p in g { keep[p] = false }
        }
        return keep
    }

    /// Feature scores spread back to tokens: each token of a feature gets the feature's score
    /// (fixed tokens get 0). With merged words the Salience is merged afterwards, so each word keeps it once.
    func tokenScores(_ scores: [Double], length: Int) -> [Double] {
        var out = [Double](repeating: 0, count: length)
        for (f, g) in groups.enumerated() {
            for p in g { out[p] = scores[f] / Double(g.count) }
        }
        return out
    }
}

/// Population standard deviation of all entries, in Double.
func standardDeviation(_ t: Tensor) -> Double {
    var sum = 0.0, squares = 0.0
    t.withUnsafeBufferPointer { b in
        for v in b {
            sum += Double(v)
            squares += Double(v) * Double(v)
        }
    }
    let n = Double(max(t.count, 1))
    return max(squares / n - (sum / n) * (sum / n), 0).squareRoot()
}
