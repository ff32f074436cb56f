// The documented resource limits of local runs (the README's "Limits" table), checked before any work is sized.
import Interpret
import Tokenizers

/// The most work one local request may ask for. Each limit sits far above real use and far below what would
/// exhaust memory, so a hostile or mistyped size (`--steps 1000000000`, a 100 MB line) gets a one-line error
/// naming the field and the limit before anything is allocated for it. The server has its own, smaller caps
/// (`ServerConfiguration`); the loader limits of weight and tokenizer files are `TokenizerLimits` and the
/// size checks of `Checkpoint` (a file's claimed sizes are checked against the file and the machine's memory).
public struct Limits: Codable, Sendable, Equatable {
    /// Longest input text, and longest line of an input file, in UTF-8 bytes (inputs are cut to the model's
    /// 512 or 1024 tokens anyway: 1 MiB is thousands of times that).
    public var textBytes = 1 << 20
    /// Integrated gradients: most interpolation steps (`steps`).
    public var steps = 4096
    /// LIME and KernelSHAP: most perturbed samples (`samples`).
    public var samples = 65_536
    /// Most examples per forward pass of an explanation (`batch_size`).
    public var batchSize = 4096
    /// The information method: most optimiser steps (`iterations`).
    public var iterations = 100_000
    /// Fine-tuning: most epochs (`epochs`); with the batches of an epoch it must not overflow a step counter.
    public var epochs = 10_000
    /// Most vocabulary entries of a tokenizer (vocab.txt lines, vocab.json / tokenizer.json entries).
    public var vocabularyEntries = TokenizerLimits.maxVocabulary
    /// Most merges of a GPT-2 merges file.
    public var merges = TokenizerLimits.maxMerges
    /// Largest tokenizer or JSON config file read into memory, in bytes.
    public var tokenizerFileBytes = TokenizerLimits.maxFileBytes

    public init() {}

    /// The limits every local command uses.
    public static let standard = Limits()

    /// Refuses a method config that asks for more than the limits (fields the method does not take are absent).
    public func check(_ config: ConfigValues) throws(WorkbenchError) {
        for (field, limit) in [("steps", steps), ("samples", samples), ("batch_size", batchSize), ("iterations", iterations)] {
            if case .int(let v)? = config[field], v > limit { throw .limitExceeded(field: field, value: v, limit: limit) }
        }
    }

    /// Refuses an epoch count over `epochs` (fine-tuning multiplies it by the batches of an epoch).
    public func check(epochs value: Int) throws(WorkbenchError) {
        if value > epochs { throw .limitExceeded(field: "epochs", value: value, limit: epochs) }
    }

    /// Refuses texts longer than `textBytes`.
    public func check(_ examples: [Example]) throws(WorkbenchError) {
        for e in examples where e.text.utf8.count > textBytes {
            throw .limitExceeded(field: "text", value: e.text.utf8.count, limit: textBytes)
        }
    }
}
