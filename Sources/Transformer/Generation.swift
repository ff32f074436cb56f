// Autoregressive generation for GPT-2 with a KV cache: greedy, temperature, top-k, top-p, seeded.
import Tensor

/// How to pick each next token (transformers `GenerationConfig` names). Greedy when no sampling
/// option is set.
public struct GenerationConfig: Sendable {
    public var maxNewTokens: Int
    public var temperature: Float?
    public var topK: Int?
    public var topP: Float?
    public var seed: UInt64
    /// Stop a sequence when it produces this id (GPT-2: `<|endoftext|>`).
    public var eosTokenID: Int?

    public init(
        maxNewTokens: Int, temperature: Float? = nil, topK: Int? = nil, topP: Float? = nil, seed: UInt64 = 0,
        eosTokenID: Int? = nil
    ) {
        self.maxNewTokens = maxNewTokens
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
        self.eosTokenID = eosTokenID
    }

    public var isSampling: Bool { temperature != nil || topK != nil || topP != nil }
}

extension GPT2 {
    /// Generates continuations of `prompts` (batched, left-padded with `padID`), calling `onStep`
    /// with the ids chosen at each step (one per prompt) as soon as they are known. Returns each
    /// prompt followed by its new tokens; a finished sequence is padded with `padID` while others go on.
    public func generate(
        prompts: [[Int]], config: GenerationConfig, padID: Int, onStep: ([Int]) -> Void = { _ in }
    ) -> [[Int]] {
        precondition(task == .causalLM, "generate: the model has no language-model head")
        precondition(!prompts.isEmpty && prompts.allSatisfy { !$0.isEmpty }, "generate: empty prompt")
        let b = prompts.count
        let t = prompts.map(\.count).max()!
        var ids = [Int](), mask = [Int]()
        for p in prompts {
            ids += [Int](repeating: padID, count: t - p.count) + p
            mask += [Int](repeating: 0, count: t - p.count) + [Int](repeating: 1, count: p.count)
        }
        var cache: KVCache? = KVCache()
        var out = self(
            TokenBatch(ids: ids, attentionMask: mask, batchSize: b, length: t), cache: &cache, lastPositionOnly: true)
        var sequences = prompts
        var finished = [Bool](repeating: false, count: b)
        var generator = RandomGenerator(seed: config.seed)
        for step in 0..<config.maxNewTokens {
            let logits = out.logits!.reshaped([b, -1])  // [B, V]
            var next = [Int]()
            for r in 0..<b {
                let row = Array(logits.scalars[(r * logits.shape[1])..<((r + 1) * logits.shape[1])])
                let id = finished[r] ? padID : pickToken(row, config: config, generator: &generator)
                next.append(id)
                sequences[r].append(id)
                if let eos = config.eosTokenID, id == eos { finished[r] = true }
            }
            onStep(next)
            if finished.allSatisfy({ $0 }) || step == config.maxNewTokens - 1 { break }
            if cache!.length + 1 > self.config.nPositions { break }  // no position left
            out = self(
                TokenBatch(ids: next, batchSize: b, length: 1), cache: &cache, lastPositionOnly: true)
        }
        return sequences
    }
}

/// Greedy argmax (first maximum, as `torch.argmax`), or a sample after temperature, top-k and top-p
/// filtering in transformers' logits-processor order.
func pickToken(_ logits: [Float], config: GenerationConfig, generator: inout RandomGenerator) -> Int {
    guard config.isSampling else {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return best
    }
    // A NaN logit (from NaN weights) is never sampled; it must not poison the maximum or the total below.
    var scores = logits.map { $0.isNaN ? -Float.infinity : $0 }
    let maxScore = scores.max()!
    guard maxScore > -.infinity else { return 0 }  // nothing to sample: the first id, as greedy would pick
    if let k = config.topK, k > 0, k < scores.count {
        // TopKLogitsWarper: drop scores below the k-th largest. transformers applies the temperature first; a
        // positive temperature keeps the order, so the kept set is the same.
        let kth = scores.sorted(by: >)[k - 1]
        for i in scores.indices where scores[i] < kth { scores[i] = -.infinity }
    }
    // softmax(s / T) as exp((s − max) / T): the same values, but dividing the differences (all ≤ 0) rather than
    // the logits never overflows, so a tiny temperature (1e-38) tends to greedy instead of making inf − inf = NaN.
    let temperature = config.temperature ?? 1
    var probs = scores.map { fastExp(($0 - maxScore) / temperature) }
    let total = probs.reduce(0, +)
    for i in probs.indices { probs[i] /= total }
    if let p = config.topP, p < 1 {
        // TopPLogitsWarper: sort ascending, drop tokens whose cumulative probability ≤ 1 − p,
        // always keeping the most likely one.
        let order = probs.indices.sorted { probs[$0] < probs[$1] }
        var cumulative: Float = 0
        for (rank, i) in order.enumerated() {
            cumulative += probs[i]
            if cumulative <= 1 - p && rank < order.count - 1 { probs[i] = 0 }
        }
        let kept = probs.reduce(0, +)
        for i in probs.indices { probs[i] /= kept }
    }
    var u = generator.nextUniform()
    for (i, q) in probs.enumerated() {
        if u < q { return i }
        u -= q
    }
    return probs.lastIndex { $0 > 0 } ?? probs.indices.max { probs[$0] < probs[$1] }!
}
