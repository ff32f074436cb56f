// The public entry point of weight loading: a Loupe .h5 file or a Hugging Face directory, strictly validated.

import Foundation
import Tensor
import Tokenizers

#if canImport(Glibc)
    import Glibc
#endif

/// The config of a checkpoint, by architecture.
public enum ModelConfig: Sendable, Equatable {
    case bert(BertConfig)
    case gpt2(GPT2Config)

    public var bert: BertConfig? { if case .bert(let c) = self { c } else { nil } }
    public var gpt2: GPT2Config? { if case .gpt2(let c) = self { c } else { nil } }
    public var architecture: Checkpoint.Architecture {
        switch self {
        case .bert: .bert
        case .gpt2: .gpt2
        }
    }
    /// Rows of the word-embedding table (config vocab_size).
    public var vocabSize: Int {
        switch self {
        case .bert(let c): c.vocabSize
        case .gpt2(let c): c.vocabSize
        }
    }
    /// Maximum sequence length the position embeddings allow.
    public var maxPositions: Int {
        switch self {
        case .bert(let c): c.maxPositionEmbeddings
        case .gpt2(let c): c.nPositions
        }
    }
    public var tieWordEmbeddings: Bool {
        switch self {
        case .bert(let c): c.tieWordEmbeddings
        case .gpt2(let c): c.tieWordEmbeddings
        }
    }

    /// Decodes config.json text for `architecture` and validates it; errors are `.badConfig` naming `file`.
    static func decode(_ json: Data, architecture: Checkpoint.Architecture, file: String) throws(WeightError)
        -> ModelConfig
    {
        let config: ModelConfig
        do {
            // decodeJSON, not JSONDecoder: a .h5 file's `config` attribute reaches here unparsed, and JSONDecoder
            // traps on one text (Fuzz/README.md: 513 nested '[' ending the attribute killed the loader).
            switch architecture {
            case .bert: config = .bert(try decodeJSON(BertConfig.self, from: json))
            case .gpt2: config = .gpt2(try decodeJSON(GPT2Config.self, from: json))
            }
        } catch {
            throw .badConfig(file: file, detail: describeDecodingError(error))
        }
        do {
            switch config {
            case .bert(let c): try c.validate()
            case .gpt2(let c): try c.validate()
            }
        } catch {
            throw .badConfig(file: file, detail: error.detail)
        }
        return config
    }
}

/// A loaded, validated model checkpoint: config, task, tokenizer and every weight as a Float32 tensor.
public struct Checkpoint: Sendable {
    /// The model family (config.json `model_type`).
    public enum Architecture: String, Sendable, Equatable, CaseIterable {
        case bert, gpt2
    }

    /// What the checkpoint's head computes (docs/weights-format.md, "Task").
    public enum Task: String, Sendable, Equatable, CaseIterable {
        case featureExtraction = "feature-extraction"
        case sequenceClassification = "sequence-classification"
        case maskedLM = "masked-lm"
        case causalLM = "causal-lm"
    }

    /// sentence-transformers Pooling modes (docs/weights-format.md, root attribute `pooling`).
    public enum Pooling: String, Sendable, Equatable, CaseIterable {
        case cls, mean, max
        case meanSqrtLen = "mean_sqrt_len"
        case weightedMean = "weightedmean"
        case lastToken = "lasttoken"
    }

    /// Where the weights came from.
    public enum Source: Sendable, Equatable {
        /// A Loupe weight file v1 (.h5).
        case loupeHDF5
        /// A Hugging Face model directory with safetensors weights (read directly, no conversion).
        case huggingFaceDirectory
    }

    /// The path that was loaded.
    public let url: URL
    public let source: Source
    public let architecture: Architecture
    public let task: Task
    public let config: ModelConfig
    /// Class names in id order (sequence classification with config `id2label`).
    public let labels: [String]?
    /// sentence-transformers pooling (nil for other checkpoints).
    public let pooling: Pooling?
    /// sentence-transformers: L2-normalise the pooled embedding (a `Normalize` module).
    public let normalize: Bool
    public let tokenizer: TokenizerSpec
    /// Every tensor, as Float32, keyed by its name after `CheckpointNames` with the base prefix removed:
    /// "embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight", "pooler.dense.bias",
    /// "classifier.weight", "cls.predictions.bias", "wte.weight", "h.0.attn.c_attn.weight", "ln_f.bias", ...
    /// Tied output projections are not stored: use `tensor(_:)`.
    public internal(set) var tensors: [String: Tensor]
    /// Tensors stored as int8 (a v2 file, `loupe quantize`): key → per-output-channel scales [out]. Their entries in
    /// `tensors` hold the dequantised values q·scale. Empty for float checkpoints.
    public internal(set) var int8Scales: [String: Tensor] = [:]
    /// int8 when block weights are stored as int8 (the precision their products run at by default), else fp32.
    public var storedPrecision: Precision { int8Scales.isEmpty ? .fp32 : .int8 }
    /// The base prefix the checkpoint's names carried ("bert.", "transformer." or ""): stored name = prefix + key
    /// for base-model tensors.
    public let storedPrefix: String
    /// One line per rename or drop applied to the checkpoint's names (Hugging Face directories).
    public let notes: [String]

    /// A tensor by key; a tied output projection ("lm_head.weight", "cls.predictions.decoder.weight") that is
    /// not stored resolves to the word embeddings it shares (CheckpointNames.tiedSource).
    public func tensor(_ key: String) -> Tensor? {
        if let t = tensors[key] { return t }
        guard config.tieWordEmbeddings, let source = CheckpointNames.tiedSource(of: key, architecture: architecture)
        else { return nil }
        return tensors[source]
    }

    /// Loads `url`: a Loupe weight file (HDF5, format v1) or a Hugging Face model directory (config.json,
    /// model.safetensors or a sharded index, and a tokenizer; sentence-transformers directories too).
    /// `task` overrides the stored / inferred task, as convert.py `--task` does; the tensors must then fit it.
    ///
    /// Strict: the first problem is a `WeightError` naming the file, and the tensor where one is involved:
    /// a missing, unexpected or wrongly shaped tensor, a non-HDF5, truncated or non-Loupe file, an unsupported
    /// version, a malformed safetensors file, a bad config, or a tokenizer larger than the embedding table.
    public static func load(_ url: URL, task: Task? = nil) throws(WeightError) -> Checkpoint {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .fileNotFound(file: path)
        }
        if isDirectory.boolValue { return try loadHuggingFace(url, task: task) }
        switch url.pathExtension.lowercased() {
        case "bin", "pt", "pth", "ckpt":
            throw .unsupportedFile(
                file: path,
                detail: "PyTorch pickle checkpoints are not read directly; convert the model directory with "
                    + "`python weights-scripts/convert.py DIR OUT.h5` and load OUT.h5")
        case "safetensors":
            throw .unsupportedFile(
                file: path,
                detail: "load the model directory that holds this file (it needs config.json and the tokenizer)")
        default:
            return try loadLoupeHDF5(url, task: task)
        }
    }

    /// The parts both loaders produce before tensor data is read.
    struct Parts {
        var url: URL
        var source: Source
        var config: ModelConfig
        var task: Task
        var labels: [String]?
        var pooling: Pooling?
        var normalize: Bool
        var tokenizer: TokenizerSpec
        /// Stored names (after KEY_RULES) with shapes.
        var found: [(name: String, shape: [Int])]
        var notes: [String]
    }

    /// The checks common to both loaders, on names and shapes only, before any tensor data is read:
    /// task vs architecture, the expected tensor set, labels vs num_labels, tokenizer vs embedding rows.
    /// `file` is the weight file named in tensor errors, `configFile` the one named in config errors.
    static func validate(_ p: Parts, file: String, configFile: String) throws(WeightError) -> String {
        let arch = p.config.architecture
        switch (p.task, arch) {
        case (.sequenceClassification, .gpt2), (.maskedLM, .gpt2), (.causalLM, .bert):
            throw .badConfig(
                file: configFile,
                detail: "task \(p.task.rawValue) needs a \(arch == .bert ? "gpt2" : "bert") model, not \(arch.rawValue)"
            )
        default: break
        }
        try checkSizes(p, file: file, configFile: configFile)
        let prefix = CheckpointNames.prefixInUse(p.found.map(\.name), architecture: arch)
        try ExpectedTensors(config: p.config, task: p.task, prefix: prefix).check(p.found, file: file)
        if let labels = p.labels, let bert = p.config.bert, labels.count != bert.numLabels {
            throw .badConfig(
                file: configFile, detail: "\(labels.count) labels but num_labels is \(bert.numLabels)")
        }
        // docs/weights-format.md: len(vocab) may be smaller than vocab_size (padded rows), never larger.
        let embeddings = prefix + (arch == .bert ? "embeddings.word_embeddings.weight" : "wte.weight")
        if p.tokenizer.vocab.count > p.config.vocabSize {
            throw .vocabMismatch(
                file: file, key: embeddings, tokens: p.tokenizer.vocab.count, embeddingRows: p.config.vocabSize)
        }
        return prefix
    }

    /// Bounds what the untrusted sizes of a file can make a load do, before the expected tensor set is built or
    /// any tensor allocated: the config's weights must fit in the values the file holds (a config with 10⁷ layers
    /// next to a small file is refused here, not after listing 10⁸ expected names), the tokenizer's vocabulary
    /// within `TokenizerLimits.maxVocabulary`, and the Float32 copies of all tensors within this machine's memory.
    static func checkSizes(_ p: Parts, file: String, configFile: String) throws(WeightError) {
        let needed: Int
        do {
            switch p.config {
            case .bert(let c): needed = try c.checkedParameterCount()
            case .gpt2(let c): needed = try c.checkedParameterCount()
            }
        } catch {
            throw .badConfig(file: configFile, detail: error.detail)
        }
        var stored = 0
        for (name, shape) in p.found {
            let (n, o1) = shape.reduce((1, false)) { acc, d in
                let (r, o) = acc.0.multipliedReportingOverflow(by: d)
                return (r, acc.1 || o)
            }
            let (sum, o2) = stored.addingReportingOverflow(n)
            if o1 || o2 { throw .unsupportedFile(file: file, detail: "tensor \(name): sizes overflow a 64-bit integer") }
            stored = sum
        }
        if needed > stored {
            throw .badConfig(
                file: configFile,
                detail: "the config implies at least \(needed) weights but the checkpoint holds \(stored) values")
        }
        if p.tokenizer.vocab.count > TokenizerLimits.maxVocabulary {
            throw .badTokenizer(
                file: file,
                detail: "\(p.tokenizer.vocab.count) vocabulary entries, over the limit of \(TokenizerLimits.maxVocabulary)")
        }
        // BERT inputs are [CLS] text [SEP]: a length limit below 3 leaves no room for a single token of text, and
        // every input would be cut to nothing and scored as if empty.
        if p.config.architecture == .bert {
            let (name, limit) =
                p.tokenizer.maxSeqLength.map { ("max_seq_length", $0) } ?? ("model_max_length", p.tokenizer.modelMaxLength)
            if limit < 3 {
                let source =
                    p.source == .loupeHDF5
                    ? file
                    : p.url.appendingPathComponent(
                        p.tokenizer.maxSeqLength == nil ? "tokenizer_config.json" : "sentence_bert_config.json").path
                throw .badTokenizer(
                    file: source,
                    detail: "\(name) \(limit) leaves no room for text ([CLS] and [SEP] take 2 of the tokens; at least 3 needed)")
            }
        }
        let memory = physicalMemoryBytes()
        if stored > memory / 4 {
            throw .unsupportedFile(
                file: file,
                detail: "its \(stored) values need \(stored / (1 << 20) * 4) MiB as float32, more than this machine's "
                    + "\(memory >> 20) MiB of memory")
        }
    }

    init(_ p: Parts, prefix: String, tensors: [String: Tensor], int8Scales: [String: Tensor] = [:]) {
        url = p.url
        source = p.source
        architecture = p.config.architecture
        task = p.task
        config = p.config
        labels = p.labels
        pooling = p.pooling
        normalize = p.normalize
        tokenizer = p.tokenizer
        self.tensors = tensors
        self.int8Scales = int8Scales
        storedPrefix = prefix
        notes = p.notes
    }
}

/// Installed memory in bytes (sysconf), the ceiling for what one load may allocate.
func physicalMemoryBytes() -> Int {
    let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
    guard pages > 0, size > 0 else { return .max }
    let (bytes, o) = pages.multipliedReportingOverflow(by: size)
    return o ? .max : bytes
}
