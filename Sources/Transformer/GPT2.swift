// GPT-2 (Radford et al. 2019) on the Tensor core: pre-LN causal blocks, tied LM head, KV cache.
//
// Dimension legend: B batch, T new tokens, P cached (past) tokens, S = P + T keys, H hidden (n_embd),
// NH heads, D = H/NH, V vocabulary, L layers. Names mirror transformers `modeling_gpt2.py`
// (`h.N.attn.c_attn`, `h.N.mlp.c_fc`, ...), declared once in `GPT2.parameterTable`; its Conv1D weights are
// stored [in, out].
import Tensor

public struct GPT2Block: Sendable {
    public var ln1: LayerNorm  // ln_1
    public var attention: Conv1D  // attn.c_attn: [H, 3H], query|key|value along the last axis
    public var attentionProjection: Conv1D  // attn.c_proj: [H, H]
    public var ln2: LayerNorm  // ln_2
    public var fc: Conv1D  // mlp.c_fc: [H, 4H]
    public var projection: Conv1D  // mlp.c_proj: [4H, H]
    public var heads: Int
    public var activation: Activation

    /// One pre-LN block: the output [B, T, H] and, when asked, the probabilities [B, NH, T, S]. With a cache, this
    /// layer's new keys and values are appended to it (positions P..<S, room reserved by the caller) and attention
    /// reads them there. `mask`: additive [B, T, S] (nil: nothing masked).
    func callAsFunction(
        _ x: Tensor, mask: AttentionMask?, cache: inout KVCache?, layer l: Int, dropout: Dropout?,
        probabilities: Bool = false, retain: RetainedGradient? = nil
    ) -> (Tensor, Tensor?) {
        let (b, t) = (x.shape[0], x.shape[1])
        let qkv = attention(ln1(x))  // [B, T, 3H]
        let drop = dropout?.mask([b, heads, t, (cache?.length ?? 0) + t])  // [B, NH, T, S]
        let (context, probs) =
            cache != nil
            ? cache!.attend(layer: l, qkv, heads: heads, mask: mask, probabilities: probabilities, dropoutMask: drop)
            : multiHeadAttention(
                qkv, heads: heads, mask: mask, probabilities: probabilities, dropoutMask: drop,
                retainProbabilityGradient: retain)
        var a = attentionProjection(context)  // [B, T, H]
        if let dropout { a = dropout(a) }
        let r = x + a  // [B, T, H]
        var m = projection(fc(ln2(r), activation.epilogue))  // [B, T, I] → [B, T, H]
        if let dropout { m = dropout(m) }
        return (r + m, probs)  // [B, T, H]
    }
}

public struct GPT2: Sendable {
    public let config: GPT2Config
    public let task: Checkpoint.Task
    public var wte: Tensor  // [V, H]
    public var wpe: Tensor  // [n_positions, H]
    public var blocks: [GPT2Block]  // h.N
    public var lnF: LayerNorm  // ln_f
    public var lmHead: Tensor?  // lm_head.weight [V, H] when untied; nil means tied to wte
    /// The LM head (lm_head or wte) in int8 / bf16 for untaped logits (`LoadedModel.withPrecision`).
    public var lmHeadLowPrecision: LowPrecisionMatrix?

    /// Forward over new tokens `batch` ([B, T]) after `cache` (updated in place when given).
    /// Position ids count real tokens only, so left-padded rows start at position 0, as
    /// transformers' generate does (attention_mask.cumsum(-1) − 1).
    ///
    /// `resume`: start from hidden state `layer` (0 = wte + wpe … L, the last one after ln_f), given, as BERT's.
    public func callAsFunction(
        _ batch: TokenBatch, inputEmbeddings: Tensor? = nil, cache: inout KVCache?, options: ForwardOptions = .init(),
        dropout: Dropout? = nil, lastPositionOnly: Bool = false, resume: (layer: Int, hidden: Tensor)? = nil
    ) -> ModelOutput {
        let start = resume?.layer ?? 0
        precondition((0...blocks.count).contains(start), "GPT2: resume at hidden state \(start) of 0…\(blocks.count)")
        let (b, t) = (batch.batchSize, batch.length)
        let p = cache?.length ?? 0  // P cached positions
        let fullMask =
            (cache?.attentionMask ?? []).isEmpty
            ? batch.attentionMask : interleave(cache!.attentionMask, batch.attentionMask, b, p, t)
        let s = p + t
        var positions = [Int](repeating: 0, count: b * t)
        for r in 0..<b {
            var seen = 0
            for j in 0..<s {
                if fullMask[r * s + j] == 1 { seen += 1 }
                if j >= p { positions[r * t + j - p] = max(seen - 1, 0) }
            }
        }
        let words = resume == nil ? inputEmbeddings ?? embedding(wte, indices: batch.ids, shape: [b, t]) : .zeros([0])
        var x = resume?.hidden ?? embeddingSum([words, wpe], indices: [nil, positions], shape: [b, t])  // [B, T, H]
        if let dropout, resume == nil { x = dropout(x) }
        // Additive [B, T, S]; nil when no entry is masked (one new token, no padding).
        let mask: AttentionMask? =
            t > 1 || fullMask.contains(0)
            ? .full(causalMask(fullMask, batch: b, past: p, new: t), queries: t, keys: s) : nil
        if cache != nil {
            cache!.reserve(
                s, layers: blocks.count, batch: b, heads: config.nHead, headSize: config.headDim,
                limit: config.nPositions)
        }
        var hidden = options.outputHiddenStates ? [x] : []
        var attentions: [Tensor] = []
        // Through a cache, only the new rows' gradients exist: retained gradients need the whole sequence.
        precondition(!options.retainAttentionGradients || cache == nil, "GPT2: attention gradients with a KV cache")
        let retained = options.retainAttentionGradients ? blocks.dropFirst(start).map { _ in RetainedGradient() } : []
        for (i, block) in blocks.enumerated() where i >= start {
            let probs: Tensor?
            (x, probs) = block(
                x, mask: mask, cache: &cache, layer: i, dropout: dropout, probabilities: options.outputAttentions,
                retain: retained.isEmpty ? nil : retained[i - start])
            if options.outputHiddenStates { hidden.append(i == blocks.count - 1 ? lnF(x) : x) }
            if options.outputAttentions { attentions.append(probs!) }
        }
        if cache != nil {
            cache!.length = s
            cache!.attentionMask = fullMask
        }
        if resume == nil || start < blocks.count { x = lnF(x) }  // [B, T, H] (hidden state L is after ln_f already)
        // transformers' last hidden state is after ln_f, and so is its last `hidden_states` entry.
        let head = lmHead ?? wte
        let last = lastPositionOnly ? x.slice(axis: 1, (t - 1)..<t) : x  // [B, T or 1, H]
        let logits =
            task == .causalLM
            ? dense(
                last, [DenseWeight(weight: head, bias: nil, layout: .outByIn)],
                lowPrecision: lmHeadLowPrecision.map { LowPrecisionDense(matrix: $0, bias: nil) })  // [B, T or 1, V]
            : nil
        return ModelOutput(
            lastHiddenState: x, hiddenStates: hidden, attentions: attentions, inputEmbeddings: words, logits: logits,
            pooled: nil, attentionGradients: retained)
    }

    /// Additive mask [B, T, S]: query i (absolute position P + i) sees keys j ≤ P + i that are
    /// not padding; blocked entries get float32's lowest, as transformers' eager attention.
    func causalMask(_ mask: [Int], batch b: Int, past p: Int, new t: Int) -> [Float] {
        let s = p + t
        var m = [Float](repeating: 0, count: b * t * s)
        for r in 0..<b {
            for i in 0..<t {
                for j in 0..<s where j > p + i || mask[r * s + j] == 0 {
                    m[(r * t + i) * s + j] = -Float.greatestFiniteMagnitude
                }
            }
        }
        return m
    }

    private func interleave(_ past: [Int], _ new: [Int], _ b: Int, _ p: Int, _ t: Int) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(b * (p + t))
        for r in 0..<b {
            out += past[(r * p)..<((r + 1) * p)]
            out += new[(r * t)..<((r + 1) * t)]
        }
        return out
    }
}

extension GPT2 {
    /// GPT-2's module tree, declared once: every tensor a checkpoint for `c` and `task` may hold, with
    /// transformers' `modeling_gpt2.py` names, in checkpoint order (a block's two norms first, as
    /// loupe_h5.expected_tensors lists them). Conv1D weights are stored [in, out].
    public static func parameterTable(_ c: GPT2Config, task: Checkpoint.Task) -> ParameterTable<GPT2> {
        let (e, i, v) = (c.nEmbd, c.innerSize, c.vocabSize)
        return ParameterTable { root in
            root.tensor("wte.weight", \.wte, [v, e], .embedding)
            root.tensor("wpe.weight", \.wpe, [c.nPositions, e], .embedding)
            for n in 0..<c.nLayer {
                let b = root("h.\(n)", \.blocks[n])
                b.layerNorm("ln_1", \.ln1, e)
                b.layerNorm("ln_2", \.ln2, e)
                b.conv1D("attn.c_attn", \.attention, in: e, out: 3 * e)
                b.conv1D("attn.c_proj", \.attentionProjection, in: e, out: e)
                b.conv1D("mlp.c_fc", \.fc, in: e, out: i)
                b.conv1D("mlp.c_proj", \.projection, in: i, out: e)
            }
            root.layerNorm("ln_f", \.lnF, e)
            // Tied to wte unless stored; an untied head is required for causal-lm.
            root.part(.lmHead, required: task == .causalLM && !c.tieWordEmbeddings, heldWhenStored: true)
                .tensor("lm_head.weight", \.lmHead!, [v, e], .weight)
        }
    }

    /// Whether this model has `part`.
    func holds(_ part: ModelPart) -> Bool {
        switch part {
        case .body: true
        case .lmHead: lmHead != nil
        case .pooler, .classifier, .maskedLMHead, .nextSentenceHead: false
        }
    }

    /// Builds the model from validated checkpoint tensors (names without the `transformer.` prefix), with the
    /// LM head when the checkpoint stores one.
    init(config: GPT2Config, task: Checkpoint.Task, reader p: ParameterReader) throws(WeightError) {
        guard let activation = Activation(huggingFace: config.activationFunction) else {
            throw WeightError.badConfig(
                file: p.file, detail: "activation_function \"\(config.activationFunction)\" is not supported")
        }
        let table = GPT2.parameterTable(config, task: task)
        let parts = table.partsToLoad(stored: p.tensors)
        let eps = Float(config.layerNormEpsilon)
        self.config = config
        self.task = task
        wte = .unloaded
        wpe = .unloaded
        let block = GPT2Block(
            ln1: .unloaded(eps: eps), attention: .unloaded, attentionProjection: .unloaded, ln2: .unloaded(eps: eps),
            fc: .unloaded, projection: .unloaded, heads: config.nHead, activation: activation)
        blocks = Array(repeating: block, count: config.nLayer)
        lnF = .unloaded(eps: eps)
        lmHead = parts.contains(.lmHead) ? .unloaded : nil
        try table.load(into: &self, parts: parts, from: p)
    }
}
