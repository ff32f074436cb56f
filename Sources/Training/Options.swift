// Fine-tuning hyper-parameters and the resumable training state stored in last.h5.
import Foundation
import Tensor

/// The recipe. Defaults follow transformers' `TrainingArguments` (AdamW β=(0.9, 0.999), ε=1e-8, weight decay
/// 0.01 here as in the GLUE examples, linear schedule, `max_grad_norm` 1.0, BERT's dropout 0.1) except the
/// learning rate, which `loupe finetune` picks per model: 5e-4 for a randomly initialised preset, 5e-5
/// (transformers' default) for a pretrained checkpoint.
public struct TrainingOptions: Codable, Sendable, Equatable {
    public var epochs = 3
    public var batchSize = 32
    public var learningRate: Float = 5e-4
    /// Longest input in tokens, [CLS] and [SEP] included (longer sentences are cut).
    public var maxSeqLength = 128
    /// Fraction of the optimiser steps spent warming up (transformers `warmup_ratio`, rounded up).
    public var warmupRatio: Double = 0.1
    public var weightDecay: Float = 0.01
    public var seed: UInt64 = 0
    /// Dropout probability on embeddings, attention probabilities, block outputs and the pooled output.
    public var dropout: Float = 0.1
    public var maxGradNorm: Float = 1.0
    /// Also evaluate (and checkpoint) every this many steps; nil = at the end of each epoch only.
    public var evalEvery: Int?
    /// Also write last.h5 every this many steps (evaluations always write it).
    public var saveEvery: Int?
    /// Stop after this many evaluations without a better dev accuracy (transformers `EarlyStoppingCallback`).
    public var earlyStoppingPatience: Int?
    /// Stop after this many optimiser steps (transformers `max_steps`); the schedule spans them.
    public var maxSteps: Int?
    /// Train on the first this-many training examples only.
    public var trainLimit: Int?
    /// Log the mean training loss and the learning rate every this many steps.
    public var logEvery = 50
    public var evalBatchSize = 64

    public init() {}

    /// Rejects values that cannot train.
    public func validate() throws(TrainingError) {
        func positive(_ name: String, _ v: Int?) throws(TrainingError) {
            if let v, v <= 0 { throw .badOption("\(field: name) must be positive, got \(v)") }
        }
        try positive("epochs", epochs)
        try positive("batch_size", batchSize)
        try positive("eval_every", evalEvery)
        try positive("save_every", saveEvery)
        try positive("early_stopping", earlyStoppingPatience)
        try positive("max_steps", maxSteps)
        try positive("train_limit", trainLimit)
        try positive("log_every", logEvery)
        try positive("eval_batch_size", evalBatchSize)
        if maxSeqLength < 2 {
            throw .badOption("\(field: "max_seq_len") must be at least 2 ([CLS] and [SEP]), got \(maxSeqLength)")
        }
        if !(learningRate > 0 && learningRate.isFinite) {
            throw .badOption("\(field: "lr") must be a positive number, got \(learningRate)")
        }
        if !(0...1).contains(warmupRatio) {
            throw .badOption("\(field: "warmup") must be in 0...1, got \(warmupRatio)")
        }
        if !(weightDecay >= 0 && weightDecay.isFinite) {
            throw .badOption("\(field: "weight_decay") must be ≥ 0, got \(weightDecay)")
        }
        if !(0..<1).contains(dropout) { throw .badOption("\(field: "dropout") must be in [0, 1), got \(dropout)") }
        if !(maxGradNorm > 0) { throw .badOption("the gradient clipping norm must be positive, got \(maxGradNorm)") }
    }
}

/// Where a run is, saved in last.h5 (`/training` attribute `state`, JSON) with the optimiser moments, so that
/// `--resume` continues with the same data order, dropout masks and updates as an uninterrupted run.
struct TrainingState: Codable, Sendable, Equatable {
    var options: TrainingOptions
    /// What `--model` was (for messages).
    var model: String
    /// Optimiser steps taken.
    var globalStep = 0
    /// The epoch in progress (0-based) and the index of its next batch.
    var epoch = 0
    var batchInEpoch = 0
    /// The dropout generator after the last step.
    var dropoutGenerator: RandomGenerator
    var bestAccuracy: Double?
    var bestStep: Int?
    var evaluationsWithoutImprovement = 0
    var lastEvaluationStep: Int?
    var finished = false
    var stoppedEarly = false
    /// Training time so far (seconds, evaluation excluded) and examples seen, for examples/s.
    var trainSeconds = 0.0
    var examplesSeen = 0
    /// FNV-1a 64 of the training texts and labels: a resume on other data is refused.
    var dataDigest: UInt64

    init(options: TrainingOptions, model: String, dataDigest: UInt64) {
        self.options = options
        self.model = model
        self.dataDigest = dataDigest
        dropoutGenerator = RandomGenerator(seed: options.seed ^ 0xD1B5_4A32_D192_ED03)
    }
}

/// FNV-1a 64 over the examples' UTF-8 text and labels (docs/weights-format.md's digest function).
func dataDigest(_ examples: [LabeledExample]) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    func eat(_ b: UInt8) { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    for e in examples {
        for b in e.text.utf8 { eat(b) }
        eat(0x09)
        eat(UInt8(truncatingIfNeeded: e.label))
        eat(0x0A)
    }
    return h
}
