// BERT and GPT-2 model configurations, decoded from Hugging Face config.json with transformers' defaults.

import Foundation

/// A configuration that cannot describe a working model (or one Loupe does not run).
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong, naming the config.json key(s) involved.
    public let detail: String
    public init(_ detail: String) { self.detail = detail }
    public var description: String { detail }
}

/// `transformers.BertConfig`: the keys Loupe reads. Absent keys take transformers' defaults
/// (transformers/models/bert/configuration_bert.py and PretrainedConfig); a JSON `null` stays `nil`
/// for the optional ids. Unknown keys (dropout rates, `transformers_version`, ...) are ignored.
public struct BertConfig: Codable, Sendable, Equatable {
    public var modelType: String
    /// config.json `architectures`, e.g. `["BertForSequenceClassification"]`; decides the task.
    public var architectures: [String]?
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    /// Activation of the feed-forward layer (transformers ACT2FN name): "gelu" (erf), "gelu_new", "relu", ...
    public var hiddenAct: String
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int
    public var layerNormEps: Double
    public var padTokenId: Int?
    public var positionEmbeddingType: String
    public var isDecoder: Bool
    public var addCrossAttention: Bool
    public var tieWordEmbeddings: Bool
    /// Class names by id (config.json `id2label`, string keys "0", "1", ... in JSON).
    public var id2label: [Int: String]?
    /// Number of classifier outputs: `len(id2label)` when present, else `num_labels`, else 2 (PretrainedConfig).
    public var numLabels: Int

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", architectures
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size"
        case hiddenAct = "hidden_act", maxPositionEmbeddings = "max_position_embeddings"
        case typeVocabSize = "type_vocab_size", layerNormEps = "layer_norm_eps", padTokenId = "pad_token_id"
        case positionEmbeddingType = "position_embedding_type", isDecoder = "is_decoder"
        case addCrossAttention = "add_cross_attention", tieWordEmbeddings = "tie_word_embeddings"
        case id2label, numLabels = "num_labels"
    }

    /// A configuration with transformers' defaults (bert-base-uncased sizes) for every argument left out.
    public init(
        vocabSize: Int = 30522, hiddenSize: Int = 768, numHiddenLayers: Int = 12, numAttentionHeads: Int = 12,
        intermediateSize: Int = 3072, hiddenAct: String = "gelu", maxPositionEmbeddings: Int = 512,
        typeVocabSize: Int = 2, layerNormEps: Double = 1e-12, padTokenId: Int? = 0,
        positionEmbeddingType: String = "absolute", tieWordEmbeddings: Bool = true,
        id2label: [Int: String]? = nil, numLabels: Int? = nil, architectures: [String]? = nil
    ) {
        self.modelType = "bert"
        self.architectures = architectures
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.intermediateSize = intermediateSize
        self.hiddenAct = hiddenAct
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
        self.padTokenId = padTokenId
        self.positionEmbeddingType = positionEmbeddingType
        self.isDecoder = false
        self.addCrossAttention = false
        self.tieWordEmbeddings = tieWordEmbeddings
        self.id2label = id2label
        self.numLabels = numLabels ?? id2label?.count ?? 2
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = BertConfig()
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "bert"
        architectures = try c.decodeIfPresent([String].self, forKey: .architectures)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        maxPositionEmbeddings =
            try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? d.maxPositionEmbeddings
        typeVocabSize = try c.decodeIfPresent(Int.self, forKey: .typeVocabSize) ?? d.typeVocabSize
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? d.layerNormEps
        padTokenId = try c.decodeNullable(Int.self, forKey: .padTokenId, absent: d.padTokenId)
        positionEmbeddingType =
            try c.decodeIfPresent(String.self, forKey: .positionEmbeddingType) ?? d.positionEmbeddingType
        isDecoder = try c.decodeIfPresent(Bool.self, forKey: .isDecoder) ?? false
        addCrossAttention = try c.decodeIfPresent(Bool.self, forKey: .addCrossAttention) ?? false
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? true
        id2label = try c.decodeIfPresent([Int: String].self, forKey: .id2label)
        // PretrainedConfig: id2label, when given, fixes num_labels; validate() rejects a disagreeing num_labels.
        numLabels = try c.decodeIfPresent(Int.self, forKey: .numLabels) ?? id2label?.count ?? 2
    }

    /// Writes the Hugging Face keys; a nil id is written as JSON null (absent would mean the default).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encodeIfPresent(architectures, forKey: .architectures)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(typeVocabSize, forKey: .typeVocabSize)
        try c.encode(layerNormEps, forKey: .layerNormEps)
        try c.encode(padTokenId, forKey: .padTokenId)
        try c.encode(positionEmbeddingType, forKey: .positionEmbeddingType)
        try c.encode(isDecoder, forKey: .isDecoder)
        try c.encode(addCrossAttention, forKey: .addCrossAttention)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encodeIfPresent(id2label, forKey: .id2label)
        try c.encode(numLabels, forKey: .numLabels)
    }

    /// Head dimension (hidden_size / num_attention_heads).
    public var headDim: Int { hiddenSize / max(numAttentionHeads, 1) }

    /// Class names in id order, when `id2label` is given.
    public var labels: [String]? {
        guard let id2label else { return nil }
        return (0..<id2label.count).map { id2label[$0] ?? "" }
    }

    /// Rejects configurations that cannot build a model, the checks transformers / PyTorch would fail on
    /// (BertSelfAttention: hidden_size must be a multiple of num_attention_heads; nn.Embedding: padding_idx
    /// inside the table), and the BERT variants Loupe does not run.
    public func validate() throws(ConfigError) {
        try positive([
            ("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("num_hidden_layers", numHiddenLayers),
            ("num_attention_heads", numAttentionHeads), ("intermediate_size", intermediateSize),
            ("max_position_embeddings", maxPositionEmbeddings), ("type_vocab_size", typeVocabSize),
            ("num_labels", numLabels),
        ])
        if hiddenSize % numAttentionHeads != 0 {
            throw ConfigError(
                "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(numAttentionHeads)")
        }
        if !(layerNormEps > 0 && layerNormEps.isFinite) {
            throw ConfigError("layer_norm_eps must be a positive number, not \(layerNormEps)")
        }
        if let pad = padTokenId, !(0..<vocabSize).contains(pad) {
            throw ConfigError("pad_token_id \(pad) is outside the vocabulary 0..<\(vocabSize)")
        }
        try checkedParameterCount()
        if modelType != "bert" { throw ConfigError("model_type is \"\(modelType)\", expected \"bert\"") }
        if positionEmbeddingType != "absolute" {
            throw ConfigError(
                "position_embedding_type \"\(positionEmbeddingType)\" is not supported (only \"absolute\")")
        }
        if isDecoder || addCrossAttention {
            throw ConfigError("is_decoder / add_cross_attention BERT models are not supported")
        }
        if let id2label {
            if let missing = (0..<id2label.count).first(where: { id2label[$0] == nil }) {
                throw ConfigError("id2label ids are not 0..\(id2label.count - 1) (no label has id \(missing))")
            }
            if numLabels != id2label.count {
                throw ConfigError("num_labels is \(numLabels) but id2label has \(id2label.count) labels")
            }
        }
    }
}

/// `transformers.GPT2Config`: the keys Loupe reads, with transformers' defaults (GPT-2 small) for absent keys.
public struct GPT2Config: Codable, Sendable, Equatable {
    public var modelType: String
    public var architectures: [String]?
    public var vocabSize: Int
    public var nPositions: Int
    public var nEmbd: Int
    public var nLayer: Int
    public var nHead: Int
    /// Feed-forward width; `nil` means 4 · n_embd (GPT2Block: `config.n_inner if not None else 4 * hidden_size`).
    public var nInner: Int?
    public var activationFunction: String
    public var layerNormEpsilon: Double
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    public var padTokenId: Int?
    public var scaleAttnWeights: Bool
    public var scaleAttnByInverseLayerIdx: Bool
    public var reorderAndUpcastAttn: Bool
    public var addCrossAttention: Bool
    public var tieWordEmbeddings: Bool

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", architectures
        case vocabSize = "vocab_size", nPositions = "n_positions", nEmbd = "n_embd", nLayer = "n_layer"
        case nHead = "n_head", nInner = "n_inner", activationFunction = "activation_function"
        case layerNormEpsilon = "layer_norm_epsilon", bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
        case padTokenId = "pad_token_id", scaleAttnWeights = "scale_attn_weights"
        case scaleAttnByInverseLayerIdx = "scale_attn_by_inverse_layer_idx"
        case reorderAndUpcastAttn = "reorder_and_upcast_attn", addCrossAttention = "add_cross_attention"
        case tieWordEmbeddings = "tie_word_embeddings"
    }

    /// A configuration with transformers' defaults (GPT-2 small) for every argument left out.
    public init(
        vocabSize: Int = 50257, nPositions: Int = 1024, nEmbd: Int = 768, nLayer: Int = 12, nHead: Int = 12,
        nInner: Int? = nil, activationFunction: String = "gelu_new", layerNormEpsilon: Double = 1e-5,
        bosTokenId: Int? = 50256, eosTokenId: Int? = 50256, tieWordEmbeddings: Bool = true,
        architectures: [String]? = nil
    ) {
        self.modelType = "gpt2"
        self.architectures = architectures
        self.vocabSize = vocabSize
        self.nPositions = nPositions
        self.nEmbd = nEmbd
        self.nLayer = nLayer
        self.nHead = nHead
        self.nInner = nInner
        self.activationFunction = activationFunction
        self.layerNormEpsilon = layerNormEpsilon
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.padTokenId = nil
        self.scaleAttnWeights = true
        self.scaleAttnByInverseLayerIdx = false
        self.reorderAndUpcastAttn = false
        self.addCrossAttention = false
        self.tieWordEmbeddings = tieWordEmbeddings
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = GPT2Config()
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "gpt2"
        architectures = try c.decodeIfPresent([String].self, forKey: .architectures)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        nPositions = try c.decodeIfPresent(Int.self, forKey: .nPositions) ?? d.nPositions
        nEmbd = try c.decodeIfPresent(Int.self, forKey: .nEmbd) ?? d.nEmbd
        nLayer = try c.decodeIfPresent(Int.self, forKey: .nLayer) ?? d.nLayer
        nHead = try c.decodeIfPresent(Int.self, forKey: .nHead) ?? d.nHead
        nInner = try c.decodeIfPresent(Int.self, forKey: .nInner)
        activationFunction = try c.decodeIfPresent(String.self, forKey: .activationFunction) ?? d.activationFunction
        layerNormEpsilon = try c.decodeIfPresent(Double.self, forKey: .layerNormEpsilon) ?? d.layerNormEpsilon
        bosTokenId = try c.decodeNullable(Int.self, forKey: .bosTokenId, absent: d.bosTokenId)
        eosTokenId = try c.decodeNullable(Int.self, forKey: .eosTokenId, absent: d.eosTokenId)
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId)
        scaleAttnWeights = try c.decodeIfPresent(Bool.self, forKey: .scaleAttnWeights) ?? true
        scaleAttnByInverseLayerIdx = try c.decodeIfPresent(Bool.self, forKey: .scaleAttnByInverseLayerIdx) ?? false
        reorderAndUpcastAttn = try c.decodeIfPresent(Bool.self, forKey: .reorderAndUpcastAttn) ?? false
        addCrossAttention = try c.decodeIfPresent(Bool.self, forKey: .addCrossAttention) ?? false
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? true
    }

    /// Writes the Hugging Face keys; a nil id or n_inner is written as JSON null.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encodeIfPresent(architectures, forKey: .architectures)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(nPositions, forKey: .nPositions)
        try c.encode(nEmbd, forKey: .nEmbd)
        try c.encode(nLayer, forKey: .nLayer)
        try c.encode(nHead, forKey: .nHead)
        try c.encode(nInner, forKey: .nInner)
        try c.encode(activationFunction, forKey: .activationFunction)
        try c.encode(layerNormEpsilon, forKey: .layerNormEpsilon)
        try c.encode(bosTokenId, forKey: .bosTokenId)
        try c.encode(eosTokenId, forKey: .eosTokenId)
        try c.encode(padTokenId, forKey: .padTokenId)
        try c.encode(scaleAttnWeights, forKey: .scaleAttnWeights)
        try c.encode(scaleAttnByInverseLayerIdx, forKey: .scaleAttnByInverseLayerIdx)
        try c.encode(reorderAndUpcastAttn, forKey: .reorderAndUpcastAttn)
        try c.encode(addCrossAttention, forKey: .addCrossAttention)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
    }

    /// Feed-forward width: n_inner, or 4 · n_embd when it is null.
    public var innerSize: Int { nInner ?? 4 * nEmbd }
    /// Head dimension (n_embd / n_head).
    public var headDim: Int { nEmbd / max(nHead, 1) }

    /// Rejects configurations that cannot build a model (GPT2Attention: n_embd must be a multiple of
    /// n_head) and the variants Loupe does not run.
    public func validate() throws(ConfigError) {
        try positive([
            ("vocab_size", vocabSize), ("n_positions", nPositions), ("n_embd", nEmbd), ("n_layer", nLayer),
            ("n_head", nHead),
        ])
        // innerSize is 4 · n_embd when n_inner is null: a product that must not overflow before it is checked.
        if nInner == nil, nEmbd > Int.max / 4 { throw ConfigError("n_embd \(nEmbd) is too large (4 · n_embd overflows)") }
        try positive([("n_inner", innerSize)])
        if nEmbd % nHead != 0 {
            throw ConfigError("n_embd \(nEmbd) is not a multiple of n_head \(nHead)")
        }
        if !(layerNormEpsilon > 0 && layerNormEpsilon.isFinite) {
            throw ConfigError("layer_norm_epsilon must be a positive number, not \(layerNormEpsilon)")
        }
        // transformers does not check these ids, but an id outside the embedding table would index past it (the
        // end-of-text id starts an empty prompt and stops generation).
        for (name, id) in [("bos_token_id", bosTokenId), ("eos_token_id", eosTokenId), ("pad_token_id", padTokenId)] {
            if let id, !(0..<vocabSize).contains(id) {
                throw ConfigError("\(name) \(id) is outside the vocabulary 0..<\(vocabSize)")
            }
        }
        try checkedParameterCount()
        if modelType != "gpt2" { throw ConfigError("model_type is \"\(modelType)\", expected \"gpt2\"") }
        if addCrossAttention { throw ConfigError("add_cross_attention GPT-2 models are not supported") }
    }
}

extension BertConfig {
    /// The number of weights the config implies (embeddings and encoder blocks; heads are smaller than the
    /// embeddings and left out), computed without overflow: a checkpoint must hold at least this many values,
    /// which bounds what a config can make a loader expect or allocate (`Checkpoint.validate`).
    @discardableResult
    public func checkedParameterCount() throws(ConfigError) -> Int {
        let h = hiddenSize, i = intermediateSize
        // Per block: Q, K, V, output (4·H² + 4·H), two layer norms (4·H), feed-forward (2·H·I + I + H).
        let block = try sizeSum(
            "hidden_size", [try sizeProduct("hidden_size", [4, h, h]), try sizeProduct("intermediate_size", [2, h, i]),
            try sizeProduct("hidden_size", [9, h]), i])
        let embeddings = try sizeProduct(
            "vocab_size + max_position_embeddings + type_vocab_size",
            [try sizeSum("vocab_size", [vocabSize, maxPositionEmbeddings, typeVocabSize]), h])
        return try sizeSum("num_hidden_layers", [embeddings, try sizeProduct("num_hidden_layers", [numHiddenLayers, block])])
    }
}

extension GPT2Config {
    /// The number of weights the config implies (embeddings and blocks), computed without overflow; see
    /// `BertConfig.checkedParameterCount`.
    @discardableResult
    public func checkedParameterCount() throws(ConfigError) -> Int {
        let h = nEmbd, i = innerSize
        // Per block: c_attn (3·H² + 3·H), c_proj (H² + H), two layer norms (4·H), c_fc and mlp.c_proj (2·H·I + I + H).
        let block = try sizeSum(
            "n_embd", [try sizeProduct("n_embd", [4, h, h]), try sizeProduct("n_inner", [2, h, i]),
            try sizeProduct("n_embd", [9, h]), i])
        let embeddings = try sizeProduct("vocab_size + n_positions", [try sizeSum("vocab_size", [vocabSize, nPositions]), h])
        return try sizeSum("n_layer", [embeddings, try sizeProduct("n_layer", [nLayer, block])])
    }
}

/// The product of non-negative sizes, or an error naming `field` when it does not fit in an Int.
private func sizeProduct(_ field: String, _ factors: [Int]) throws(ConfigError) -> Int {
    var p = 1
    for f in factors {
        let (r, o) = p.multipliedReportingOverflow(by: f)
        if o { throw ConfigError("\(field) is too large: the model's size overflows a 64-bit integer") }
        p = r
    }
    return p
}

/// The sum of non-negative sizes, or an error naming `field` when it does not fit in an Int.
private func sizeSum(_ field: String, _ terms: [Int]) throws(ConfigError) -> Int {
    var s = 0
    for t in terms {
        let (r, o) = s.addingReportingOverflow(t)
        if o { throw ConfigError("\(field) is too large: the model's size overflows a 64-bit integer") }
        s = r
    }
    return s
}

/// Throws naming the first non-positive size.
private func positive(_ sizes: [(String, Int)]) throws(ConfigError) {
    for (name, value) in sizes where value <= 0 {
        throw ConfigError("\(name) must be positive, not \(value)")
    }
}

extension KeyedDecodingContainer {
    /// transformers keeps an explicit JSON `null` as None but uses the default when the key is absent.
    fileprivate func decodeNullable<T: Decodable>(_ type: T.Type, forKey key: Key, absent: T?) throws -> T? {
        guard contains(key) else { return absent }
        if try decodeNil(forKey: key) { return nil }
        return try decode(type, forKey: key)
    }
}

/// One line describing a `DecodingError`: the key path and what was wrong.
func describeDecodingError(_ error: any Error) -> String {
    func path(_ p: [any CodingKey]) -> String {
        p.isEmpty ? "top level" : p.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }
    guard let e = error as? DecodingError else { return oneLine("\(error)") }
    switch e {
    case .typeMismatch(let t, let c): return "\(path(c.codingPath)): expected \(t)"
    case .valueNotFound(let t, let c): return "\(path(c.codingPath)): expected \(t), found null"
    case .keyNotFound(let k, let c): return "\(path(c.codingPath + [k])): missing"
    case .dataCorrupted(let c): return "\(path(c.codingPath)): \(oneLine(c.debugDescription))"
    @unknown default: return oneLine("\(e)")
    }
}

/// Collapses whitespace runs (newlines included) so an error message stays on one line.
func oneLine(_ s: String) -> String {
    s.split(whereSeparator: { $0.isWhitespace || $0.isNewline }).joined(separator: " ")
}
