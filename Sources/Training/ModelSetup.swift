// The model to fine-tune: a BERT size preset with transformers' random initialisation, or a pretrained
// checkpoint given a sequence-classification head (pooler + classifier) when it has none.
import Foundation
import Tensor
import Tokenizers
import Transformer

/// Standard BERT sizes (Turc et al. 2019, "Well-Read Students Learn Better": google/bert_uncased_L-*_H-*).
public enum BertPreset: String, CaseIterable, Sendable {
    case bertTiny = "bert-tiny"  // L=2, H=128
    case bertMini = "bert-mini"  // L=4, H=256
    case bertSmall = "bert-small"  // L=4, H=512
    case bertBase = "bert-base"  // L=12, H=768

    /// (layers, hidden, heads, intermediate): heads = H/64, intermediate = 4H, as the google checkpoints.
    public var sizes: (layers: Int, hidden: Int, heads: Int, intermediate: Int) {
        switch self {
        case .bertTiny: (2, 128, 2, 512)
        case .bertMini: (4, 256, 4, 1024)
        case .bertSmall: (4, 512, 8, 2048)
        case .bertBase: (12, 768, 12, 3072)
        }
    }
}

/// Builds the checkpoint that training starts from.
public enum ModelSetup {
    /// Default class names: SST-2's 0 = negative, 1 = positive.
    public static let sst2Labels = ["negative", "positive"]

    /// `model` is a preset name (fresh weights from `seed`, WordPiece vocabulary from `vocabulary`) or a path to
    /// a Loupe .h5 file or Hugging Face directory holding a BERT. The result is a validated
    /// sequence-classification checkpoint with `labels`.
    public static func prepare(
        model: String, vocabulary: URL?, labels: [String] = sst2Labels, seed: UInt64
    ) throws(TrainingError) -> Checkpoint {
        if let preset = BertPreset(rawValue: model) {
            guard let vocabulary else {
                throw .model(
                    """
                    \(model) needs a WordPiece vocabulary: pass \(field: "vocab") FILE (bert-base-uncased vocab.txt) \
                    or set LOUPE_DATA_DIR to a directory with vocab/bert-base-uncased-vocab.txt
                    """)
            }
            return try fresh(preset, vocabulary: vocabulary, labels: labels, seed: seed)
        }
        guard FileManager.default.fileExists(atPath: model) else {
            throw .model(
                "\(model): no such file or directory, and not a preset (\(BertPreset.allCases.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        let loaded: Checkpoint
        do { loaded = try Checkpoint.load(URL(fileURLWithPath: model)) } catch {
            throw .model(FieldText(error.description))
        }
        return try withClassificationHead(loaded, labels: labels, seed: seed)
    }

    /// The uncased WordPiece tokenizer settings of bert-base-uncased over the vocabulary file's tokens.
    public static func wordPieceSpec(vocabulary: URL, maxLength: Int = 512) throws(TrainingError) -> TokenizerSpec {
        let vocab: [String]
        do { vocab = try TextFile.readLines(vocabulary.path) } catch {
            throw .model("vocabulary: \(error.description)")
        }
        guard !vocab.isEmpty else { throw .model("vocabulary \(vocabulary.path): the file has no tokens") }
        return TokenizerSpec(
            type: .wordpiece, vocab: vocab, doLowerCase: true, stripAccents: nil, tokenizeChineseChars: true,
            unkToken: "[UNK]", clsToken: "[CLS]", sepToken: "[SEP]", padToken: "[PAD]", maskToken: "[MASK]",
            modelMaxLength: maxLength)
    }

    static func classifierConfig(_ base: BertConfig, labels: [String]) -> BertConfig {
        var c = base
        c.architectures = ["BertForSequenceClassification"]
        c.id2label = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($0.offset, $0.element) })
        c.numLabels = labels.count
        return c
    }

    /// A preset with transformers' `BertPreTrainedModel._init_weights`: Linear and Embedding weights
    /// N(0, 0.02) (config.initializer_range), biases 0, the padding row of the word embeddings 0, LayerNorm
    /// weight 1 and bias 0. Values come from `RandomGenerator(seed:)` in parameter-visiting order.
    public static func fresh(_ preset: BertPreset, vocabulary: URL, labels: [String], seed: UInt64)
        throws(TrainingError) -> Checkpoint
    {
        let spec = try wordPieceSpec(vocabulary: vocabulary)
        let s = preset.sizes
        let config = classifierConfig(
            BertConfig(
                vocabSize: spec.vocab.count, hiddenSize: s.hidden, numHiddenLayers: s.layers,
                numAttentionHeads: s.heads,
                intermediateSize: s.intermediate),
            labels: labels)
        var rng = RandomGenerator(seed: seed)
        var tensors: [String: Tensor] = [:]
        for p in classifierParameters(config) { tensors[p.name] = initialValue(p, rng: &rng) }
        do {
            return try Checkpoint(
                config: .bert(config), task: .sequenceClassification, labels: labels, tokenizer: spec, tensors: tensors)
        } catch { throw .model("\(preset.rawValue): \(error.description)") }
    }

    /// A pretrained BERT given the head `BertForSequenceClassification.from_pretrained` would add: the
    /// checkpoint's pooler when it has one (BertModel, sentence-transformers), else a fresh one, and a fresh
    /// classifier; other heads (`cls.*`) are dropped. A classifier checkpoint with `labels.count` classes is
    /// kept as it is (its label names too, unless they are the LABEL_n placeholders).
    public static func withClassificationHead(_ c: Checkpoint, labels: [String], seed: UInt64) throws(TrainingError)
        -> Checkpoint
    {
        guard case .bert(let base) = c.config else {
            throw .model("\(c.url.path): fine-tuning needs a BERT model, this is \(c.architecture.rawValue)")
        }
        let keepHead = c.task == .sequenceClassification && base.numLabels == labels.count
        let names = keepHead && !(c.labels ?? []).allSatisfy({ $0.hasPrefix("LABEL_") }) ? c.labels ?? labels : labels
        let config = classifierConfig(base, labels: names)
        var rng = RandomGenerator(seed: seed)
        var tensors: [String: Tensor] = [:]
        for p in classifierParameters(config) {
            if let t = c.tensors[p.name], keepHead || p.part != .classifier {
                tensors[p.name] = t
            } else {
                tensors[p.name] = initialValue(p, rng: &rng)
            }
        }
        do {
            return try Checkpoint(
                config: .bert(config), task: .sequenceClassification, labels: names, tokenizer: c.tokenizer,
                tensors: tensors, url: c.url)
        } catch { throw .model(FieldText(error.description)) }
    }

    /// Every BertForSequenceClassification parameter (keys without `bert.`), in the order of
    /// `Bert.visitParameters`: the tensors a classification checkpoint must hold.
    static func classifierParameters(_ c: BertConfig) -> [ParameterDeclaration<Bert>] {
        Bert.parameterTable(c, task: .sequenceClassification).entries.filter(\.isRequired)
    }

    /// `classifierParameters` as names and shapes.
    static func bertParameterShapes(_ c: BertConfig) -> [(String, [Int])] {
        classifierParameters(c).map { ($0.name, $0.shape) }
    }

    /// transformers `_init_weights` for one parameter, by kind.
    static func initialValue(_ p: ParameterDeclaration<Bert>, rng: inout RandomGenerator) -> Tensor {
        let shape = p.shape
        switch p.kind {
        case .normWeight: return Tensor.ones(shape)
        case .normBias, .bias: return Tensor.zeros(shape)
        case .weight, .embedding: break
        }
        var t = Tensor.randomNormal(shape, mean: 0, std: 0.02, generator: &rng)
        if let pad = p.paddingRow, pad < shape[0] {
            // nn.Embedding(padding_idx=pad_token_id): `_init_weights` zeroes the padding row.
            t.withUnsafeMutableBufferPointer { b in
                for j in 0..<shape[1] { b[pad * shape[1] + j] = 0 }
            }
        }
        return t
    }
}
