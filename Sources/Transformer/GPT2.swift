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

    /// One pre-LN block. `past` holds this layer's cached keys and values [B, NH, P, D].
    func callAsFunction(
        _ x: Tensor, mask: Tensor, past: (Tensor, Tensor)?, dropout: Dropout?
    ) -> (Tensor, (Tensor, Tensor), Tensor) {
        let qkv = attention(ln1(x)).split(count: 3, axis: 2)  // 3 × [B, T, H]
        let q = qkv[0].splitHeads(heads)  // [B, NH, T, D]
        var k = qkv[1].splitHeads(heads)  // [B, NH, T, D]
        var v = qkv[2].splitHeads(heads)  // [B, NH, T, D]
        if let (pk, pv) = past {
            k = Tensor.concatenate([pk, k], axis: 2)  // [B, NH, S, D]
            v = Tensor.concatenate([pv, v], axis: 2)  // [B, NH, S, D]
        }
        let (context, probs) = scaledDotProductAttention(q, k, v, additiveMask: mask, dropout: dropout)
        var a = attentionProjection(context.mergeHeads())  // [B, T, H]
        if let dropout { a = dropout(a) }
        let r = x + a  // [B, T, H]
        var m = projection(activation(fc(ln2(r))))  // [B, T, 4H] → [B, T, H]
        if let dropout { m = dropout(m) }
        return (r + m, (k, v), probs)  // [B, T, H]
    }

    var isRecording: Bool {
        ln1.isRecording || attention.isRecording || attentionProjection.isRecording || ln2.isRecording
            || fc.isRecording || projection.isRecording
    }
}

extension GPT2Block {
    /// The block without a tape, on raw rows (same arithmetic as `callAsFunction`). With a cache, this layer's
    /// new keys and values are appended to it (positions P..<S, room reserved by the caller) and attention
    /// reads them there; without one it reads them in place from the [B·T, 3H] projection. `mask`: additive
    /// [B, T, S] (nil: nothing masked). Returns the output [B, T, H] and, when asked, probabilities [B, NH, T, S].
    func inference(
        _ x: Tensor, cache: inout KVCache?, layer l: Int, past p: Int, mask: [Float]?, probabilities wanted: Bool
    ) -> (Tensor, Tensor?) {
        let (b, t, h) = (x.shape[0], x.shape[1], x.shape[2])
        let (rows, d, inner, s) = (b * t, h / heads, fc.weight.shape[1], p + t)
        var probs: Tensor? = wanted ? Tensor(shape: [b, heads, t, s]) { _ in } : nil  // every entry written below
        let out = Scratch.with(rows * (5 * h + inner)) { ws -> Tensor in
            let a = ws, qkv = ws + rows * h, context = qkv + rows * 3 * h, f = context + rows * h
            // a, context: [B·T, H]; qkv: [B·T, 3H] = [B, T, 3, NH, D]; f: [B·T, I]
            let r = x.withUnsafeBufferPointer { px -> Tensor in
                let xp = px.baseAddress!
                ln1.normalize(xp, rows: rows, into: a)
                attention.rows(a, rows: rows, into: qkv, ldy: 3 * h)
                let packed = AttentionKernel.Layout(batch: t * 3 * h, head: d, row: 3 * h)
                let ctx = AttentionKernel.Layout(batch: t * h, head: d, row: h)
                withOptionalBuffer(mask) { mp in
                    withOptionalMutablePointer(&probs) { pp in
                        func attend(
                            _ k: UnsafePointer<Float>, _ kl: AttentionKernel.Layout, _ v: UnsafePointer<Float>
                        ) {
                            AttentionKernel.forward(
                                batch: b, heads: heads, queries: t, keys: s, headSize: d,
                                scale: 1 / Float(d).squareRoot(), q: qkv, packed, k: k, kl, v: v, kl,
                                mask: mp, maskBatchStride: t * s, maskRowStride: s,
                                context: context, ctx, probabilities: pp)
                        }
                        if cache != nil {
                            cache!.withLayer(l) { keys, values, layout in
                                KVCache.append(
                                    qkv + h, qkv + 2 * h, batch: b, new: t, heads: heads, headSize: d, at: p,
                                    keys: keys, values: values, layout)
                                attend(keys, layout, values)
                            }
                        } else {
                            attend(qkv + h, packed, qkv + 2 * h)
                        }
                    }
                }
                attentionProjection.rows(context, rows: rows, into: a, ldy: h, bias: false)
                return tensorRows([b, t, h]) { rp in
                    attentionProjection.bias.withUnsafeBufferPointer { pb in
                        FusedKernels.biasResidual(rp, a, bias: pb.baseAddress, residual: xp, rows: rows, n: h)
                    }
                }
            }
            return r.withUnsafeBufferPointer { pr -> Tensor in
                let rp = pr.baseAddress!
                ln2.normalize(rp, rows: rows, into: a)
                fc.rows(a, rows: rows, into: f, ldy: inner, activation.epilogue)  // [B·T, I]
                projection.rows(f, rows: rows, into: a, ldy: h, bias: false)  // [B·T, H]
                return tensorRows([b, t, h]) { op in
                    projection.bias.withUnsafeBufferPointer { pb in
                        FusedKernels.biasResidual(op, a, bias: pb.baseAddress, residual: rp, rows: rows, n: h)
                    }
                }
            }
        }
        return (out, probs)
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
    public func callAsFunction(
        _ batch: TokenBatch, inputEmbeddings: Tensor? = nil, cache: inout KVCache?, options: ForwardOptions = .init(),
        dropout: Dropout? = nil, lastPositionOnly: Bool = false
    ) -> ModelOutput {
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
        let words = inputEmbeddings ?? embedding(wte, indices: batch.ids, shape: [b, t])  // [B, T, H]
        var x: Tensor
        let h = wpe.shape[1]
        if dropout == nil && !words.isRecording && !wpe.isRecording && words.shape == [b, t, h] {
            x = tensorRows([b, t, h]) { out in
                words.withUnsafeBufferPointer { w in
                    wpe.withUnsafeBufferPointer { pe in
                        FusedKernels.embeddingSum(
                            out, rows: b * t, n: h, tables: [w.baseAddress!, pe.baseAddress!],
                            tableRows: [b * t, wpe.shape[0]], indices: [nil, positions])
                    }
                }
            }
        } else {
            x = words + embedding(wpe, indices: positions, shape: [b, t])  // [B, T, H]
            if let dropout { x = dropout(x) }
        }
        let mask = causalMask(fullMask, batch: b, past: p, new: t)  // [B, 1, T, S]
        // The fast path's mask: nil when no entry is masked (one new token, no padding).
        let fastMask = t > 1 || fullMask.contains(0) ? mask.scalars : nil
        if cache != nil {
            cache!.reserve(
                s, layers: blocks.count, batch: b, heads: config.nHead, headSize: config.headDim,
                limit: config.nPositions)
        }
        var hidden = options.outputHiddenStates ? [x] : []
        var attentions: [Tensor] = []
        for (i, block) in blocks.enumerated() {
            var probs: Tensor?
            if dropout == nil && !x.isRecording && !block.isRecording {
                (x, probs) = block.inference(
                    x, cache: &cache, layer: i, past: p, mask: fastMask, probabilities: options.outputAttentions)
            } else {
                let past = p > 0 ? cache?.past(layer: i) : nil
                let (y, kv, pr) = block(x, mask: mask, past: past, dropout: dropout)
                (x, probs) = (y, pr)
                cache?.store(layer: i, keys: kv.0.detached, values: kv.1.detached, from: p)
            }
            if options.outputHiddenStates { hidden.append(i == blocks.count - 1 ? lnF(x) : x) }
            if options.outputAttentions { attentions.append(probs!) }
        }
        if cache != nil {
            cache!.length = s
            cache!.attentionMask = fullMask
        }
        x = lnF(x)  // [B, T, H]
        // transformers' last hidden state is after ln_f, and so is its last `hidden_states` entry.
        let head = lmHead ?? wte
        let last = lastPositionOnly ? x.slice(axis: 1, (t - 1)..<t) : x  // [B, T or 1, H]
        var logits: Tensor? = nil
        if task == .causalLM, let lowHead = lmHeadLowPrecision, !last.isRecording {
            let (rows, v) = (last.shape[0] * last.shape[1], head.shape[0])
            logits = last.withUnsafeBufferPointer { px in
                tensorRows([last.shape[0], last.shape[1], v]) { y in  // [B, T or 1, V]
                    lowHead.multiply(px.baseAddress!, m: rows, lda: px.count / rows, into: y, ldy: v)
                }
            }
        } else if task == .causalLM {
            logits = matmul(last, head, transposeB: true)  // [B, T or 1, V]
        }
        return ModelOutput(
            lastHiddenState: x, hiddenStates: hidden, attentions: attentions, inputEmbeddings: words, logits: logits,
            pooled: nil)
    }

    /// Additive mask [B, 1, T, S]: query i (absolute position P + i) sees keys j ≤ P + i that are
    /// not padding; blocked entries get float32's lowest, as transformers' eager attention.
    func causalMask(_ mask: [Int], batch b: Int, past p: Int, new t: Int) -> Tensor {
        let s = p + t
        var m = [Float](repeating: 0, count: b * t * s)
        for r in 0..<b {
            for i in 0..<t {
                for j in 0..<s where j > p + i || mask[r * s + j] == 0 {
                    m[(r * t + i) * s + j] = -Float.greatestFiniteMagnitude
                }
            }
        }
        return Tensor(shape: [b, 1, t, s], scalars: m)
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
