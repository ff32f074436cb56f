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

    /// LayerNorm((words + token types) + positions), one pass per row; `words` may be supplied (input embeddings).
    func callAsFunction(_ batch: TokenBatch, words: Tensor, dropout: Dropout?) -> Tensor {
        let (b, t) = (batch.batchSize, batch.length)
        let x = embeddingSum(
            [words, tokenTypeEmbeddings, positionEmbeddings], indices: [nil, batch.typeIDs, (0..<(b * t)).map { $0 % t }],
            shape: [b, t], norm: (layerNorm.weight, layerNorm.bias, layerNorm.eps))  // [B, T, H]
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
    public var fusedQKV: LowPrecisionDense? = nil

    /// One post-LN encoder block (transformers `BertLayer`): the output and, when asked, the probabilities.
    /// `mask`: additive [B, T] (nil: no padding). `firstTokenOnly`: queries, residual and feed-forward for row 0
    /// ([CLS]) alone (Tq = 1), keys and values for every row: the output [B, 1, H] is that row of the full block's.
    /// `retain`: where a taped backward pass leaves ∂F/∂P of the probabilities.
    public func callAsFunction(
        _ x: Tensor, mask: AttentionMask?, dropout: Dropout? = nil, probabilities: Bool = false,
        firstTokenOnly: Bool = false, retain: RetainedGradient? = nil
    ) -> (Tensor, Tensor?) {
        let (b, t) = (x.shape[0], x.shape[1])
        let xq = firstTokenOnly ? x.slice(axis: 1, 0..<1) : x  // [B, Tq, H]
        let drop = dropout?.mask([b, heads, xq.shape[1], t])  // [B, NH, Tq, T]
        let (context, probs) =
            firstTokenOnly
            ? multiHeadAttention(  // [B, 1, H]: queries [B, 1, H], keys [B, T, H]
                query(xq), keys: .separate(keys: key(x), values: value(x)), heads: heads, mask: mask,
                probabilities: probabilities, dropoutMask: drop, retainProbabilityGradient: retain)
            : multiHeadAttention(  // [B, T, H] from Q|K|V [B, T, 3H]
                dense(x, [query, key, value].map(\.denseWeight), lowPrecision: fusedQKV), heads: heads, mask: mask,
                probabilities: probabilities, dropoutMask: drop, retainProbabilityGradient: retain)
        // Without dropout, a product's bias is added in its norm's pass: one pass fewer (and, for small products,
        // no epilogue inside the product's thread blocks: RESULTS.md, "One model, fused ops").
        let late = dropout == nil
        var a = attentionOutput(context, addBias: !late)  // [B, Tq, H]
        if let dropout { a = dropout(a) }
        let h = attentionNorm(a, shift: late ? attentionOutput.bias : nil, residual: xq)  // [B, Tq, H]
        var f = output(intermediate(h, activation.epilogue), addBias: !late)  // [B, Tq, I] → [B, Tq, H]
        if let dropout { f = dropout(f) }
        return (outputNorm(f, shift: late ? output.bias : nil, residual: h), probs)  // [B, Tq, H], [B, NH, Tq, T]
    }
}

/// `BertOnlyMLMHead`: transform (dense, GELU, LayerNorm), then the tied decoder plus a bias.
public struct BertMLMHead: Sendable {
    public var transform: Linear  // cls.predictions.transform.dense: [H, H]
    public var norm: LayerNorm  // cls.predictions.transform.LayerNorm
    public var bias: Tensor  // cls.predictions.bias: [V]
    public var activation: Activation  // config.hidden_act

    func callAsFunction(_ x: Tensor, decoder: Tensor) -> Tensor {
        let h = norm(transform(x, activation.epilogue))  // [B, T, H]
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
    ///
    /// `resume`: start from hidden state `layer` (0 = the embedding output … L), given, instead of the embeddings:
    /// the rest of the network as a function of that layer's activations (Captum's layer attributions). The
    /// output's `inputEmbeddings` is then empty and its hidden states start at that layer.
    ///
    /// `poolerReference`: the pooler's pre-activation [B, H] on a baseline input; the pooler's tanh then passes
    /// DeepLIFT's rescale multiplier back instead of its derivative (`tanh(_:rescaledAgainst:)`).
    public func callAsFunction(
        _ batch: TokenBatch, inputEmbeddings: Tensor? = nil, options: ForwardOptions = .init(),
        dropout: Dropout? = nil, pooledOnly: Bool = false, resume: (layer: Int, hidden: Tensor)? = nil,
        poolerReference: Tensor? = nil
    ) -> ModelOutput {
        let prune =
            pooledOnly && pooler != nil && mlmHead == nil && !options.outputHiddenStates && !options.outputAttentions
            && !options.retainAttentionGradients
        let start = resume?.layer ?? 0
        precondition((0...layers.count).contains(start), "Bert: resume at hidden state \(start) of 0…\(layers.count)")
        let words = resume == nil ? inputEmbeddings ?? wordEmbeddings(batch) : Tensor.zeros([0])  // [B, T, H]
        var x = resume?.hidden ?? embeddings(batch, words: words, dropout: dropout)  // [B, T, H]
        let mask = batch.keyMask  // [B, T]; nil: nothing to mask
        var hidden = options.outputHiddenStates ? [x] : []
        var attentions: [Tensor] = []
        let retained = options.retainAttentionGradients ? layers.dropFirst(start).map { _ in RetainedGradient() } : []
        for (i, layer) in layers.enumerated() where i >= start {
            let probs: Tensor?
            (x, probs) = layer(
                x, mask: mask, dropout: dropout, probabilities: options.outputAttentions,
                firstTokenOnly: prune && i == layers.count - 1, retain: retained.isEmpty ? nil : retained[i - start])
            if options.outputHiddenStates { hidden.append(x) }
            if options.outputAttentions { attentions.append(probs!) }
        }
        var out = ModelOutput(
            lastHiddenState: x, hiddenStates: hidden, attentions: attentions, inputEmbeddings: words, logits: nil,
            pooled: nil, attentionGradients: retained)
        if let pooler {
            let cls = x.slice(axis: 1, 0..<1).squeezed(axis: 1)  // [B, H]
            let z = pooler(cls)  // [B, H]
            out.pooled = poolerReference.map { tanh(z, rescaledAgainst: $0) } ?? tanh(z)  // [B, H]
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
