// BERT (Devlin et al. 2019) on the Tensor core: embeddings, post-LN encoder, pooler and heads.
//
// Dimension legend: B batch, T tokens, H hidden, NH heads, D = H/NH head size, I intermediate,
// V vocabulary, C classes, L layers. The module tree mirrors Hugging Face's state-dict names
// (transformers `modeling_bert.py`); `Bert.parameterTable` declares them once.
import Tensor

public struct BertEmbeddings: Sendable {
    public var wordEmbeddings: Tensor  // [V, H]
    public var positionEmbeddings: Tensor  // [P, H]
    public var tokenTypeEmbeddings: Tensor  // [2, H]
    public var layerNorm: LayerNorm

    var isRecording: Bool {
        wordEmbeddings.isRecording || positionEmbeddings.isRecording || tokenTypeEmbeddings.isRecording
            || layerNorm.isRecording
    }

    /// LayerNorm(words + positions + token types); `words` may be supplied (input embeddings).
    func callAsFunction(_ batch: TokenBatch, words: Tensor, dropout: Dropout?) -> Tensor {
        let (b, t) = (batch.batchSize, batch.length)
        let h = positionEmbeddings.shape[1]
        if dropout == nil && !words.isRecording && !isRecording && words.shape == [b, t, h] {
            // One pass per row: (word + type) + position, then the norm, as the ops below round it.
            let positions = (0..<(b * t)).map { $0 % t }
            return tensorRows([b, t, h]) { out in
                words.withUnsafeBufferPointer { w in
                    tokenTypeEmbeddings.withUnsafeBufferPointer { ty in
                        positionEmbeddings.withUnsafeBufferPointer { p in
                            layerNorm.weight.withUnsafeBufferPointer { lw in
                                layerNorm.bias.withUnsafeBufferPointer { lb in
                                    FusedKernels.embeddingSum(
                                        out, rows: b * t, n: h,
                                        tables: [w.baseAddress!, ty.baseAddress!, p.baseAddress!],
                                        tableRows: [b * t, tokenTypeEmbeddings.shape[0], positionEmbeddings.shape[0]],
                                        indices: [nil, batch.typeIDs, positions],
                                        norm: (lw.baseAddress, lb.baseAddress, layerNorm.eps))
                                }
                            }
                        }
                    }
                }
            }
        }
        let positions = positionEmbeddings.slice(axis: 0, 0..<t)  // [T, H]
        let types = embedding(tokenTypeEmbeddings, indices: batch.typeIDs, shape: [b, t])  // [B, T, H]
        let x = layerNorm(words + types + positions)  // [B, T, H]
        return dropout.map { $0(x) } ?? x
    }
}

public struct BertLayer: Sendable {
    public var query, key, value: Linear  // attention.self.{query,key,value}: [H, H]
    public var attentionOutput: Linear  // attention.output.dense: [H, H]
    public var attentionNorm: LayerNorm  // attention.output.LayerNorm
    public var intermediate: Linear  // intermediate.dense: [I, H]
    public var output: Linear  // output.dense: [H, I]
    public var outputNorm: LayerNorm  // output.LayerNorm
    public var heads: Int
    public var activation: Activation  // config.hidden_act
    /// Q, K and V as one low-precision product (`LoadedModel.withPrecision`): one quantised input, one larger GEMM.
    public var fusedQKV: FusedProjection? = nil

    var isRecording: Bool {
        query.isRecording || key.isRecording || value.isRecording || attentionOutput.isRecording
            || attentionNorm.isRecording || intermediate.isRecording || output.isRecording || outputNorm.isRecording
    }

    /// One post-LN encoder block (transformers `BertLayer`). Returns the output and the probabilities.
    /// `firstTokenOnly`: queries, residual and feed-forward for row 0 ([CLS]) alone (Tq = 1), keys and
    /// values for every row: the output [B, 1, H] is that row of the full block's output.
    func callAsFunction(_ x: Tensor, mask: Tensor, dropout: Dropout?, firstTokenOnly: Bool = false) -> (Tensor, Tensor)
    {
        let xq = firstTokenOnly ? x.slice(axis: 1, 0..<1) : x  // [B, Tq, H]
        let q = query(xq).splitHeads(heads)  // [B, NH, Tq, D]
        let k = key(x).splitHeads(heads)  // [B, NH, T, D]
        let v = value(x).splitHeads(heads)  // [B, NH, T, D]
        let (context, probs) = scaledDotProductAttention(q, k, v, additiveMask: mask, dropout: dropout)
        var a = attentionOutput(context.mergeHeads())  // [B, Tq, H]
        if let dropout { a = dropout(a) }
        let h = attentionNorm(a + xq)  // [B, Tq, H]
        var f = output(activation(intermediate(h)))  // [B, Tq, I] → [B, Tq, H]
        if let dropout { f = dropout(f) }
        return (outputNorm(f + h), probs)  // [B, Tq, H], [B, NH, Tq, T]
    }
}

extension BertLayer {
    /// The block without a tape, on raw rows (same arithmetic as `callAsFunction`): Q, K and V projected into
    /// one [B·T, 3H] buffer, attention read from it in place, bias + residual + norm fused after each product.
    /// `keyMask`: additive [B, T] (nil: no padding). Returns the output [B, T, H] and, when asked, the
    /// probabilities [B, NH, T, T]. `firstTokenOnly`: only row 0 ([CLS]) of each sequence is computed past the
    /// key/value projections, output [B, 1, H] (see `Bert.callAsFunction`'s `pooledOnly`).
    func inference(
        _ x: Tensor, keyMask: [Float]?, probabilities wanted: Bool, firstTokenOnly: Bool = false
    ) -> (Tensor, Tensor?) {
        let (b, t, h) = (x.shape[0], x.shape[1], x.shape[2])
        let (d, inner) = (h / heads, intermediate.weight.shape[0])
        let tq = firstTokenOnly ? 1 : t  // query rows per sequence
        let (rows, qRows) = (b * t, b * tq)
        precondition(!(wanted && firstTokenOnly), "BertLayer: probabilities of a first-token-only block")
        var probs: Tensor? = wanted ? Tensor(shape: [b, heads, t, t]) { _ in } : nil  // every entry written below
        let projections = rows * 3 * h + b * h
        let out = Scratch.with(projections + qRows * (h + Swift.max(inner, h))) { ws -> Tensor in
            // qkv: [B·T, 3H] (Q, K, V side by side), or [B·T, 2H] (K, V) then [B, H] (Q) and [B, H] (the [CLS] rows)
            let qkv = ws, context = ws + projections, f = context + qRows * h  // …, [B·Tq, H], [B·Tq, I]
            let hidden = x.withUnsafeBufferPointer { px -> Tensor in
                let xp = px.baseAddress!
                let (q, k, v): (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
                let (ql, kvl): (AttentionKernel.Layout, AttentionKernel.Layout)
                let residual: UnsafePointer<Float>
                if firstTokenOnly {
                    let cls = qkv + rows * 2 * h + b * h  // [B, H]
                    for r in 0..<b { (cls + r * h).update(from: xp + r * t * h, count: h) }
                    (q, k, v, residual) = (qkv + rows * 2 * h, qkv, qkv + h, UnsafePointer(cls))
                    ql = AttentionKernel.Layout(batch: h, head: d, row: h)  // [B, 1, NH·D]
                    kvl = AttentionKernel.Layout(batch: t * 2 * h, head: d, row: 2 * h)  // [B, T, 2·NH·D]
                    query.rows(cls, rows: b, into: q, ldy: h)
                    key.rows(xp, rows: rows, into: k, ldy: 2 * h)
                    value.rows(xp, rows: rows, into: v, ldy: 2 * h)
                } else {
                    (q, k, v, residual) = (qkv, qkv + h, qkv + 2 * h, xp)
                    ql = AttentionKernel.Layout(batch: t * 3 * h, head: d, row: 3 * h)  // [B, T, 3·NH·D]
                    kvl = ql
                    if let fusedQKV {
                        fusedQKV.rows(xp, rows: rows, into: qkv, ldy: 3 * h)
                    } else {
                        for (i, lin) in [query, key, value].enumerated() {
                            lin.rows(xp, rows: rows, into: qkv + i * h, ldy: 3 * h)
                        }
                    }
                }
                withOptionalBuffer(keyMask) { mask in
                    withOptionalMutablePointer(&probs) { pp in
                        AttentionKernel.forward(
                            batch: b, heads: heads, queries: tq, keys: t, headSize: d,
                            scale: 1 / Float(d).squareRoot(), q: q, ql, k: k, kvl, v: v, kvl, mask: mask,
                            maskBatchStride: t, maskRowStride: 0, context: context,
                            AttentionKernel.Layout(batch: tq * h, head: d, row: h), probabilities: pp)
                    }
                }
                attentionOutput.rows(context, rows: qRows, into: f, ldy: h, bias: false)  // [B·Tq, H]
                return tensorRows([b, tq, h]) { hp in
                    attentionNorm.rows(f, addBias: attentionOutput.bias, residual: residual, rows: qRows, into: hp)
                }
            }
            return hidden.withUnsafeBufferPointer { ph in
                let hp = ph.baseAddress!
                intermediate.rows(hp, rows: qRows, into: f, ldy: inner, activation.epilogue)  // [B·Tq, I]
                output.rows(f, rows: qRows, into: context, ldy: h, bias: false)  // [B·Tq, H]
                return tensorRows([b, tq, h]) { op in
                    outputNorm.rows(context, addBias: output.bias, residual: hp, rows: qRows, into: op)
                }
            }
        }
        return (out, probs)
    }
}

/// `BertOnlyMLMHead`: transform (dense, GELU, LayerNorm), then the tied decoder plus a bias.
public struct BertMLMHead: Sendable {
    public var transform: Linear  // cls.predictions.transform.dense: [H, H]
    public var norm: LayerNorm  // cls.predictions.transform.LayerNorm
    public var bias: Tensor  // cls.predictions.bias: [V]
    public var activation: Activation  // config.hidden_act

    func callAsFunction(_ x: Tensor, decoder: Tensor) -> Tensor {
        let h = norm(activation(transform(x)))  // [B, T, H]
        return matmul(h, decoder, transposeB: true) + bias  // [B, T, V]
    }
}

/// BERT with the head its checkpoint's task calls for.
public struct Bert: Sendable {
    public let config: BertConfig
    public let task: Checkpoint.Task
    public var embeddings: BertEmbeddings
    public var layers: [BertLayer]  // encoder.layer.N
    public var pooler: Linear?  // pooler.dense
    public var classifier: Linear?  // classifier
    public var mlmHead: BertMLMHead?  // cls.predictions
    public var labels: [String]

    /// The whole forward pass. `inputEmbeddings` replaces the word-embedding lookup (positions and
    /// token types are still added), as `inputs_embeds` in transformers.
    ///
    /// `pooledOnly`: the caller reads only `pooled` and `logits` (a classifier's prediction, loss or
    /// gradients). The pooler reads the [CLS] row alone, so the last layer computes its queries, attention
    /// output and feed-forward for that row only (keys and values still for every token) and
    /// `lastHiddenState` is [B, 1, H]: the same logits for less work (the idea of transformers' `logits_to_keep`
    /// for causal LMs, applied to the pooler). Ignored when hidden states or attentions are requested or the
    /// model has no pooler or has an MLM head.
    public func callAsFunction(
        _ batch: TokenBatch, inputEmbeddings: Tensor? = nil, options: ForwardOptions = .init(),
        dropout: Dropout? = nil, pooledOnly: Bool = false
    ) -> ModelOutput {
        let prune =
            pooledOnly && pooler != nil && mlmHead == nil && !options.outputHiddenStates && !options.outputAttentions
        let words = inputEmbeddings ?? wordEmbeddings(batch)  // [B, T, H]
        var x = embeddings(batch, words: words, dropout: dropout)  // [B, T, H]
        let mask = batch.additiveKeyMask  // [B, 1, 1, T]
        let keyMask = batch.attentionMask.contains(0) ? mask.scalars : nil  // [B, T]; nil: nothing to mask
        var hidden = options.outputHiddenStates ? [x] : []
        var attentions: [Tensor] = []
        for (i, layer) in layers.enumerated() {
            var probs: Tensor?
            let first = prune && i == layers.count - 1
            if dropout == nil && !x.isRecording && !layer.isRecording {
                (x, probs) = layer.inference(
                    x, keyMask: keyMask, probabilities: options.outputAttentions, firstTokenOnly: first)
            } else {
                (x, probs) = layer(x, mask: mask, dropout: dropout, firstTokenOnly: first)
            }
            if options.outputHiddenStates { hidden.append(x) }
            if options.outputAttentions { attentions.append(probs!) }
        }
        var out = ModelOutput(
            lastHiddenState: x, hiddenStates: hidden, attentions: attentions, inputEmbeddings: words, logits: nil,
            pooled: nil)
        if let pooler {
            let cls = x.slice(axis: 1, 0..<1).squeezed(axis: 1)  // [B, H]
            out.pooled = tanh(pooler(cls))  // [B, H]
        }
        if let classifier, var pooled = out.pooled {
            if let dropout { pooled = dropout(pooled) }
            out.logits = classifier(pooled)  // [B, C]
        }
        if let mlmHead {
            out.logits = mlmHead(x, decoder: embeddings.wordEmbeddings)  // [B, T, V]
        }
        return out
    }

    /// The word-embedding vectors of the batch's ids, [B, T, H]: the input that saliency methods
    /// differentiate with respect to.
    public func wordEmbeddings(_ batch: TokenBatch) -> Tensor {
        embedding(embeddings.wordEmbeddings, indices: batch.ids, shape: [batch.batchSize, batch.length])
    }
}

extension Bert {
    /// BERT's module tree, declared once: every tensor a checkpoint for `c` and `task` may hold, with
    /// transformers' `modeling_bert.py` names, in checkpoint order.
    public static func parameterTable(_ c: BertConfig, task: Checkpoint.Task) -> ParameterTable<Bert> {
        let (h, i, v) = (c.hiddenSize, c.intermediateSize, c.vocabSize)
        let (classify, mlm) = (task == .sequenceClassification, task == .maskedLM)
        return ParameterTable { root in
            let e = root("embeddings", \.embeddings)
            e.tensor("word_embeddings.weight", \.wordEmbeddings, [v, h], .embedding, paddingRow: c.padTokenId)
            e.tensor("position_embeddings.weight", \.positionEmbeddings, [c.maxPositionEmbeddings, h], .embedding)
            e.tensor("token_type_embeddings.weight", \.tokenTypeEmbeddings, [c.typeVocabSize, h], .embedding)
            e.layerNorm("LayerNorm", \.layerNorm, h)
            for n in 0..<c.numHiddenLayers {
                let l = root("encoder.layer.\(n)", \.layers[n])
                l.linear("attention.self.query", \.query, out: h, in: h)
                l.linear("attention.self.key", \.key, out: h, in: h)
                l.linear("attention.self.value", \.value, out: h, in: h)
                l.linear("attention.output.dense", \.attentionOutput, out: h, in: h)
                l.layerNorm("attention.output.LayerNorm", \.attentionNorm, h)
                l.linear("intermediate.dense", \.intermediate, out: i, in: h)
                l.linear("output.dense", \.output, out: h, in: i)
                l.layerNorm("output.LayerNorm", \.outputNorm, h)
            }
            // The task's own head is required; another task's head is allowed (loupe_h5.expected_tensors).
            let pooler = root.part(.pooler, required: classify, heldWhenStored: true)
            pooler.linear("pooler.dense", \.pooler!, out: h, in: h)
            root.part(.classifier, required: classify).linear("classifier", \.classifier!, out: c.numLabels, in: h)
            let cls = root.part(.maskedLMHead, required: mlm)("cls.predictions", \.mlmHead!)
            cls.linear("transform.dense", \.transform, out: h, in: h)
            cls.layerNorm("transform.LayerNorm", \.norm, h)
            cls.tensor("bias", \.bias, [v], .bias)
            // The decoder is stored only when untied (CheckpointNames: "drop if tied"); the head reads the
            // word embeddings in its place.
            cls.required(mlm && !c.tieWordEmbeddings).tensor("decoder.weight", nil, [v, h], .weight)
            let nsp = root.part(.nextSentenceHead, required: false)
            nsp.tensor("cls.seq_relationship.weight", nil, [2, h], .weight)
            nsp.tensor("cls.seq_relationship.bias", nil, [2], .bias)
        }
    }

    /// Whether this model has `part`.
    func holds(_ part: ModelPart) -> Bool {
        switch part {
        case .body: true
        case .pooler: pooler != nil
        case .classifier: classifier != nil
        case .maskedLMHead: mlmHead != nil
        case .nextSentenceHead, .lmHead: false
        }
    }

    /// Builds the model from validated checkpoint tensors (names without the `bert.` prefix): the parts its
    /// task needs, plus the pooler when the checkpoint has one.
    init(config: BertConfig, task: Checkpoint.Task, labels: [String], reader p: ParameterReader) throws(WeightError) {
        guard let activation = Activation(huggingFace: config.hiddenAct) else {
            throw WeightError.badConfig(file: p.file, detail: "hidden_act \"\(config.hiddenAct)\" is not supported")
        }
        let table = Bert.parameterTable(config, task: task)
        let parts = table.partsToLoad(stored: p.tensors)
        let eps = Float(config.layerNormEps)
        self.config = config
        self.task = task
        self.labels = labels
        embeddings = BertEmbeddings(
            wordEmbeddings: .unloaded, positionEmbeddings: .unloaded, tokenTypeEmbeddings: .unloaded,
            layerNorm: .unloaded(eps: eps))
        let layer = BertLayer(
            query: .unloaded, key: .unloaded, value: .unloaded, attentionOutput: .unloaded,
            attentionNorm: .unloaded(eps: eps), intermediate: .unloaded, output: .unloaded,
            outputNorm: .unloaded(eps: eps), heads: config.numAttentionHeads, activation: activation)
        layers = Array(repeating: layer, count: config.numHiddenLayers)
        pooler = parts.contains(.pooler) ? .unloaded : nil
        classifier = parts.contains(.classifier) ? .unloaded : nil
        let head = BertMLMHead(transform: .unloaded, norm: .unloaded(eps: eps), bias: .unloaded, activation: activation)
        mlmHead = parts.contains(.maskedLMHead) ? head : nil
        try table.load(into: &self, parts: parts, from: p)
    }
}
