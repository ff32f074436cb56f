// What goes into and comes out of a forward pass: the token batch, the outputs, the options.
import Tensor

/// A padded batch of token ids, row-major [B, T], as a tokenizer produces it.
public struct TokenBatch: Sendable {
    public var ids: [Int]  // [B, T]
    public var typeIDs: [Int]  // [B, T]
    public var attentionMask: [Int]  // [B, T], 1 = a real token, 0 = padding
    public let batchSize: Int
    public let length: Int

    public init(ids: [Int], typeIDs: [Int]? = nil, attentionMask: [Int]? = nil, batchSize: Int, length: Int) {
        precondition(ids.count == batchSize * length, "TokenBatch: \(ids.count) ids for [\(batchSize), \(length)]")
        self.ids = ids
        self.typeIDs = typeIDs ?? [Int](repeating: 0, count: ids.count)
        self.attentionMask = attentionMask ?? [Int](repeating: 1, count: ids.count)
        self.batchSize = batchSize
        self.length = length
    }

    /// The additive [B, T] mask HF adds to attention scores: 0 where attended, float32's lowest where padded
    /// (transformers `_prepare_4d_attention_mask`: (1 − mask)·finfo.min); nil when nothing is padded.
    public var keyMask: AttentionMask? {
        guard attentionMask.contains(0) else { return nil }
        return .keys(attentionMask.map { $0 == 0 ? -Float.greatestFiniteMagnitude : 0 }, keys: length)
    }
}

/// What a forward pass returns: interpretability asks for more than the logits.
public struct ModelOutput: Sendable {
    public var lastHiddenState: Tensor  // [B, T, H]
    /// Embedding output followed by every layer's output (L + 1 tensors), when requested.
    public var hiddenStates: [Tensor]
    /// Each layer's attention probabilities [B, NH, T, T], when requested.
    public var attentions: [Tensor]
    /// The input embeddings the model consumed (word embeddings only), [B, T, H].
    public var inputEmbeddings: Tensor
    /// Task output: class logits [B, C], vocabulary logits [B, T, V], or nil for feature extraction.
    public var logits: Tensor?
    /// BERT's pooled [CLS] representation [B, H], when the model has a pooler.
    public var pooled: Tensor?
    /// With `retainAttentionGradients`: one per layer run, each holding ∂F/∂P [B, NH, T, T] of that layer's
    /// attention probabilities once a taped backward pass from F has run (PyTorch's `retain_grad()`).
    public var attentionGradients: [RetainedGradient] = []
}

/// What to compute beyond the logits.
public struct ForwardOptions: Sendable {
    public var outputHiddenStates = false
    public var outputAttentions = false
    /// Keep the gradient at every layer's attention probabilities (`ModelOutput.attentionGradients`).
    public var retainAttentionGradients = false
    public init(
        outputHiddenStates: Bool = false, outputAttentions: Bool = false, retainAttentionGradients: Bool = false
    ) {
        self.outputHiddenStates = outputHiddenStates
        self.outputAttentions = outputAttentions
        self.retainAttentionGradients = retainAttentionGradients
    }
}
