// What the salience adapter needs from BERT and GPT-2 alike: the word embeddings, the head-only forward, cuts.
import Tensor
import Transformer

/// What the adapter needs from BERT and GPT-2 alike.
extension Network {
    /// The word-embedding matrix [V, H] (BERT's word_embeddings, GPT-2's wte).
    var wordEmbeddingTable: Tensor {
        switch self {
        case .bert(let bert): return bert.embeddings.wordEmbeddings
        case .gpt2(let gpt2): return gpt2.wte
        }
    }

    var layerCount: Int {
        switch self {
        case .bert(let bert): return bert.layers.count
        case .gpt2(let gpt2): return gpt2.blocks.count
        }
    }

    /// One forward pass, without a cache, computing only the rows a head reads: a BERT classifier's last
    /// layer for [CLS] only (logits [B, C]; a masked LM's [B, T, V] are whole), GPT-2's last position
    /// (logits [B, 1, V]). Hidden states and attentions, when asked for, cover every position.
    func headForward(
        _ batch: TokenBatch, inputEmbeddings: Tensor? = nil, options: ForwardOptions = .init(),
        resume: (layer: Int, hidden: Tensor)? = nil
    ) -> ModelOutput {
        switch self {
        case .bert(let bert):
            return bert(batch, inputEmbeddings: inputEmbeddings, options: options, pooledOnly: true, resume: resume)
        case .gpt2(let gpt2):
            var cache: KVCache? = nil
            return gpt2(
                batch, inputEmbeddings: inputEmbeddings, cache: &cache, options: options, lastPositionOnly: true,
                resume: resume)
        }
    }

    /// The network cut so that hidden state `layer` is the last it computes, later layers and (BERT) the
    /// head costing nothing. GPT-2 keeps one more block, as its last hidden state is the only one after ln_f.
    func cut(toHiddenState layer: Int) -> Network {
        switch self {
        case .bert(var bert):
            bert.layers = Array(bert.layers.prefix(layer))
            bert.pooler = nil
            bert.classifier = nil
            bert.mlmHead = nil
            return .bert(bert)
        case .gpt2(var gpt2):
            if layer < gpt2.blocks.count { gpt2.blocks = Array(gpt2.blocks.prefix(layer + 1)) }
            return .gpt2(gpt2)
        }
    }
}
