// A loaded model: checkpoint metadata, the network (BERT or GPT-2) and its tokenizer, ready to run.
import Foundation
import Tensor
import Tokenizers

/// Why a model could not be loaded or run; one line naming the file or input.
public enum ModelError: Error, CustomStringConvertible, Sendable {
    case weights(WeightError)
    case tokenizer(file: String, TokenizerError)
    case unsupported(file: String, detail: String)
    case wrongArchitecture(file: String, expected: String, found: String)
    case inputTooLong(index: Int, tokens: Int, limit: Int)
    case precision(file: String, LowPrecisionError)
    case write(CheckpointWriteError)

    public var description: String {
        switch self {
        case .weights(let e): return e.description
        case .tokenizer(let file, let e): return "\(file): tokenizer: \(e)"
        case .unsupported(let file, let detail): return "\(file): \(detail)"
        case .wrongArchitecture(let file, let expected, let found):
            return "\(file): this command needs a \(expected) model, but the file holds \(found)"
        case .inputTooLong(let index, let tokens, let limit):
            return "input \(index + 1) has \(tokens) tokens, more than the model's \(limit) positions"
        case .precision(let file, let e): return "\(file): \(e)"
        case .write(let e): return e.description
        }
    }
}

/// The network inside a checkpoint.
public enum Network: Sendable {
    case bert(Bert)
    case gpt2(GPT2)
}

/// A checkpoint made runnable: `LoadedModel.load(url)` then `encode` and run `network`.
public struct LoadedModel: Sendable {
    public let url: URL
    public let architecture: Checkpoint.Architecture
    public let task: Checkpoint.Task
    public let labels: [String]
    public let pooling: Checkpoint.Pooling?
    public let normalize: Bool
    public var network: Network
    public let tokenizer: any Tokenizer
    /// Longest input in tokens: the position table, or the checkpoint's own smaller limit.
    public let maxLength: Int
    /// The end-of-text id (GPT-2), if the vocabulary has one.
    public let eosID: Int?
    /// The id used for padding: [PAD] for BERT, end-of-text for GPT-2 (which has no pad token).
    public let padID: Int
    /// The precision of the stored weights: int8 for a file written by `loupe quantize` (format version 2), else fp32.
    public let storedPrecision: Precision

    public static func load(_ url: URL, task: Checkpoint.Task? = nil) throws(ModelError) -> LoadedModel {
        let checkpoint: Checkpoint
        do { checkpoint = try Checkpoint.load(url, task: task) } catch { throw .weights(error) }
        return try LoadedModel(checkpoint)
    }

    public init(_ checkpoint: Checkpoint) throws(ModelError) {
        url = checkpoint.url
        storedPrecision = checkpoint.storedPrecision
        architecture = checkpoint.architecture
        task = checkpoint.task
        labels = checkpoint.labels ?? []
        pooling = checkpoint.pooling
        normalize = checkpoint.normalize
        let reader = ParameterReader(tensors: checkpoint.tensors, file: url.path)
        let spec = checkpoint.tokenizer
        do throws(WeightError) {
            switch checkpoint.config {
            case .bert(let config):
                network = .bert(try Bert(config: config, task: task, labels: labels, reader: reader))
                maxLength = min(config.maxPositionEmbeddings, spec.maxSeqLength ?? spec.modelMaxLength)
            case .gpt2(let config):
                network = .gpt2(try GPT2(config: config, task: task, reader: reader))
                maxLength = config.nPositions
            }
        } catch {
            throw .weights(error)
        }
        do {
            switch spec.type {
            case .wordpiece:
                var options = BertTokenizer.Options(
                    doLowerCase: spec.doLowerCase, stripAccents: spec.stripAccents,
                    tokenizeChineseChars: spec.tokenizeChineseChars)
                options.unkToken = spec.unkToken
                if let t = spec.clsToken { options.clsToken = t }
                if let t = spec.sepToken { options.sepToken = t }
                if let t = spec.padToken { options.padToken = t }
                if let t = spec.maskToken { options.maskToken = t }
                tokenizer = try BertTokenizer(vocabulary: spec.vocab, options: options, source: url.path)
            case .bpe:
                let eos = spec.eosToken ?? "<|endoftext|>"
                tokenizer = try GPT2Tokenizer(
                    vocabulary: spec.vocab, merges: spec.merges,
                    options: GPT2Tokenizer.Options(specialTokens: [eos], padToken: spec.padToken),
                    vocabularySource: url.path, mergesSource: url.path)
            }
        } catch {
            throw .tokenizer(file: url.path, error)
        }
        let tok = tokenizer
        var eos = tok.convertTokensToIds([spec.eosToken ?? "<|endoftext|>"])[0]
        if case .gpt2(let g) = network, let id = g.config.eosTokenId { eos = id }
        eosID = eos
        padID = spec.padToken.flatMap { tok.convertTokensToIds([$0])[0] } ?? eos ?? 0
    }

    /// Tokenizes `texts` into one padded batch (BERT pads right, GPT-2 left, as transformers does
    /// for generation). Longer inputs are cut to `maxLength` unless `truncate` is false, in which
    /// case they are refused. Returns the batch, the per-text encodings and which texts were cut.
    public func encode(_ texts: [String], truncate: Bool = true) throws(ModelError) -> (
        batch: TokenBatch, encodings: [Encoding], truncated: [Bool]
    ) {
        var encodings: [Encoding] = []
        var truncated: [Bool] = []
        for (i, text) in texts.enumerated() {
            var e = tokenizer.encode(text, addSpecialTokens: true)
            if e.count > maxLength {
                guard truncate else { throw .inputTooLong(index: i, tokens: e.count, limit: maxLength) }
                do {
                    e = try tokenizer.encode(
                        text, pair: nil, addSpecialTokens: true, truncation: Truncation(maxLength: maxLength))
                } catch {
                    throw .tokenizer(file: url.path, error)
                }
                truncated.append(true)
            } else {
                truncated.append(false)
            }
            encodings.append(e)
        }
        let length = max(1, encodings.map(\.count).max() ?? 1)
        let pad = padID
        var ids: [Int] = [], types: [Int] = [], mask: [Int] = []
        let left = architecture == .gpt2
        for e in encodings {
            let n = length - e.count
            let padIDs = [Int](repeating: pad, count: n), zeros = [Int](repeating: 0, count: n)
            ids += left ? padIDs + e.ids : e.ids + padIDs
            types += left ? zeros + e.typeIDs : e.typeIDs + zeros
            mask += left ? zeros + [Int](repeating: 1, count: e.count) : [Int](repeating: 1, count: e.count) + zeros
        }
        return (
            TokenBatch(ids: ids, typeIDs: types, attentionMask: mask, batchSize: texts.count, length: length),
            encodings, truncated
        )
    }

}

extension LoadedModel {
    /// Sentence embeddings as sentence-transformers computes them: the last hidden state pooled over
    /// real tokens (the checkpoint's pooling mode; mean by default), then L2-normalised when the
    /// checkpoint says so (or `normalize` is forced). Texts run in batches of `batchSize`. [N, H].
    public func sentenceEmbeddings(
        _ texts: [String], normalize: Bool? = nil, batchSize: Int = 32, truncate: Bool = true
    ) throws(ModelError) -> Tensor {
        guard case .bert(let bert) = network else {
            throw .wrongArchitecture(file: url.path, expected: "BERT", found: architecture.rawValue)
        }
        let mode = pooling ?? .mean
        guard mode == .mean || mode == .cls || mode == .max else {
            throw .unsupported(file: url.path, detail: "pooling mode \(mode) is not supported")
        }
        var rows: [Tensor] = []
        var start = 0
        while start < texts.count {
            let chunk = Array(texts[start..<min(start + batchSize, texts.count)])
            start += chunk.count
            let (batch, _, _) = try encode(chunk, truncate: truncate)
            let h = bert(batch).lastHiddenState  // [B, T, H]
            let mask = Tensor(shape: [batch.batchSize, batch.length, 1], scalars: batch.attentionMask.map(Float.init))
            var pooled: Tensor
            switch mode {
            case .cls: pooled = h.slice(axis: 1, 0..<1).squeezed(axis: 1)  // [B, H]
            case .max: pooled = maskedFill(h, mask: 1 - mask, value: -.infinity).max(axis: 1)  // [B, H]
            default: pooled = (h * mask).sum(axis: 1) / mask.sum(axis: 1)  // [B, H]
            }
            if normalize ?? self.normalize {
                // F.normalize: x / max(‖x‖₂, 1e-12)
                let norm = sqrt((pooled * pooled).sum(axis: 1, keepDims: true))  // [B, 1]
                pooled = pooled / norm.maxScalars(1e-12)
            }
            rows.append(pooled)
        }
        return rows.isEmpty ? Tensor.zeros([0, bert.config.hiddenSize]) : Tensor.concatenate(rows, axis: 0)
    }
}

extension Tensor {
    /// max(x, floor) element-wise, untracked (a clamp for norms).
    fileprivate func maxScalars(_ floor: Float) -> Tensor {
        Tensor(shape: shape, scalars: scalars.map { Swift.max($0, floor) })
    }
}
