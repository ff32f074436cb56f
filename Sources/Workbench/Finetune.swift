// `finetune`: a BERT sentence classifier trained on GLUE TSV data into a run directory, new or resumed.
import Foundation
import Training
import Transformer

/// A fine-tuning run: a new one (`model` into `out`) or the continuation of an interrupted one (`resume`).
/// Training options left nil take `TrainingOptions`' defaults, except the learning rate: 5e-4 for a preset
/// trained from a random initialisation, 5e-5 for a pretrained model. A resumed run keeps the options it
/// started with and refuses others.
public struct FinetuneRequest: Codable, Sendable, Equatable {
    /// A preset (`BertPreset`: bert-tiny …), a Loupe .h5 file or a Hugging Face directory holding a BERT.
    public var model: String?
    /// A directory with GLUE train.tsv and dev.tsv; nil: $LOUPE_DATA_DIR/sst2, then ../shared/data/sst2.
    public var data: String?
    /// Training / dev examples from these files instead (GLUE TSV or JSON Lines with class-index labels).
    public var train: String?
    public var dev: String?
    /// The run directory: best.h5, last.h5, metrics.jsonl and TensorBoard event files.
    public var out: String?
    /// A run directory whose last.h5 the run continues from (in place).
    public var resume: String?
    /// Replace a previous run in `out`.
    public var overwrite = false
    /// A preset's WordPiece vocabulary (default: bert-base-uncased from the shared data).
    public var vocab: String?

    public var epochs: Int?
    public var batchSize: Int?
    public var lr: Float?
    /// Longest input in tokens, [CLS] and [SEP] included.
    public var maxSeqLen: Int?
    /// Warm-up fraction of all steps.
    public var warmup: Double?
    public var weightDecay: Float?
    public var seed: UInt64?
    public var dropout: Float?
    public var evalEvery: Int?
    public var saveEvery: Int?
    public var earlyStopping: Int?
    public var maxSteps: Int?
    public var trainLimit: Int?
    public var logEvery: Int?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case model, data, train, dev, out, resume, overwrite, vocab, epochs, batchSize = "batch_size", lr
        case maxSeqLen = "max_seq_len", warmup, weightDecay = "weight_decay", seed, dropout, evalEvery = "eval_every"
        case saveEvery = "save_every", earlyStopping = "early_stopping", maxSteps = "max_steps"
        case trainLimit = "train_limit", logEvery = "log_every"
    }

    /// Every field may be left out (`overwrite` is then false).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func get<T: Decodable>(_ key: CodingKeys) throws -> T? { try c.decodeIfPresent(T.self, forKey: key) }
        (model, data, out, resume, vocab) = (
            try get(.model), try get(.data), try get(.out), try get(.resume), try get(.vocab)
        )
        (train, dev) = (try get(.train), try get(.dev))
        overwrite = try get(.overwrite) ?? false
        (epochs, batchSize, lr, maxSeqLen) = (try get(.epochs), try get(.batchSize), try get(.lr), try get(.maxSeqLen))
        (warmup, weightDecay, seed, dropout) = (
            try get(.warmup), try get(.weightDecay), try get(.seed), try get(.dropout)
        )
        (evalEvery, saveEvery, earlyStopping) = (try get(.evalEvery), try get(.saveEvery), try get(.earlyStopping))
        (maxSteps, trainLimit, logEvery) = (try get(.maxSteps), try get(.trainLimit), try get(.logEvery))
    }

    /// Refuses requests whose model, out and resume do not go together (before anything is read).
    public func validate() throws(WorkbenchError) {
        func refuse(_ message: FieldText) -> WorkbenchError { .training(.badOption(message)) }
        if let epochs { try Limits.standard.check(epochs: epochs) }  // epochs × batches counts steps in an Int
        guard let resume else {
            guard model != nil else { throw refuse("give \(field: "model") (or \(field: "resume") RUN_DIR)") }
            guard out != nil else { throw refuse("give \(field: "out") RUN_DIR (or \(field: "resume") RUN_DIR)") }
            return
        }
        if model != nil {
            throw refuse("\(field: "resume") takes the model from RUN_DIR/last.h5; drop \(field: "model")")
        }
        if let out, URL(fileURLWithPath: out).standardizedFileURL != URL(fileURLWithPath: resume).standardizedFileURL {
            throw refuse("\(field: "resume") continues in its own directory; drop \(field: "out")")
        }
    }

    /// The options given, on top of `base`.
    public func options(over base: TrainingOptions) -> TrainingOptions {
        var o = base
        if let epochs { o.epochs = epochs }
        if let batchSize { o.batchSize = batchSize }
        if let lr { o.learningRate = lr }
        if let maxSeqLen { o.maxSeqLength = maxSeqLen }
        if let warmup { o.warmupRatio = warmup }
        if let weightDecay { o.weightDecay = weightDecay }
        if let seed { o.seed = seed }
        if let dropout { o.dropout = dropout }
        if let evalEvery { o.evalEvery = evalEvery }
        if let saveEvery { o.saveEvery = saveEvery }
        if let earlyStopping { o.earlyStoppingPatience = earlyStopping }
        if let maxSteps { o.maxSteps = maxSteps }
        if let trainLimit { o.trainLimit = trainLimit }
        if let logEvery { o.logEvery = logEvery }
        return o
    }
}

/// A run's headline figures (what `loupe finetune --summary-json` writes).
public struct FinetuneSummary: Codable, Sendable, Equatable {
    public var steps, epochs: Int
    public var trainSeconds, wallSeconds, examplesPerSecond: Double
    public var stoppedEarly: Bool
    public var finalAccuracy, finalF1, bestAccuracy: Double?
    public var bestStep: Int?

    enum CodingKeys: String, CodingKey {
        case steps, epochs, trainSeconds = "train_seconds", wallSeconds = "wall_seconds"
        case examplesPerSecond = "examples_per_second", stoppedEarly = "stopped_early", finalAccuracy = "final_accuracy"
        case finalF1 = "final_f1", bestAccuracy = "best_accuracy", bestStep = "best_step"
    }

    init(_ s: TrainingSummary) {
        (steps, epochs, trainSeconds, wallSeconds) = (s.steps, s.epochsCompleted, s.trainSeconds, s.wallSeconds)
        (examplesPerSecond, stoppedEarly) = (s.examplesPerSecond, s.stoppedEarly)
        if let f = s.final { (finalAccuracy, finalF1) = (f.accuracy, f.f1) }
        if let b = s.bestAccuracy { (bestAccuracy, bestStep) = (b, s.bestStep ?? 0) }
    }
}

/// What a fine-tuning run leaves: its figures and where its best checkpoint is.
public struct FinetuneResult: Codable, Sendable {
    public var summary: FinetuneSummary
    /// The run directory's best.h5 (the best dev accuracy's weights, once an evaluation has run).
    public var best: String
}

extension Workbench {
    /// Fine-tunes as `request` says, telling `reporter` the progress. Everything that can be wrong with the input
    /// (request, data, model, run directory, options) is checked before the first step.
    public static func finetune(
        _ request: FinetuneRequest, reporter: (any TrainingReporter)? = nil
    ) throws(WorkbenchError) -> FinetuneResult {
        try request.validate()
        let files = try (request.train.map(labelled), request.dev.map(labelled))
        do throws(TrainingError) {
            let dir = files.0 != nil && files.1 != nil ? nil : try GLUEData.locate(explicit: request.data)
            var train: [LabeledExample], dev: [LabeledExample]
            if let t = files.0 { train = t } else { train = try GLUEData.read(dir!.appendingPathComponent("train.tsv").path) }
            if let d = files.1 { dev = d } else { dev = try GLUEData.read(dir!.appendingPathComponent("dev.tsv").path) }
            let trainer = try request.resume == nil ? newRun(request, train, dev) : resumedRun(request, train, dev)
            trainer.reporter = reporter
            let s = try trainer.train()
            return FinetuneResult(summary: FinetuneSummary(s), best: trainer.run.best.path)
        } catch {
            throw .training(error)
        }
    }

    /// Labelled examples of a file: a GLUE TSV as `GLUEData.read` takes it, or JSON Lines (or a text format the
    /// reader detects) whose labels are the class indices 0 and 1, errors naming the file and line.
    static func labelled(_ path: String) throws(WorkbenchError) -> [LabeledExample] {
        var out: [LabeledExample] = []
        var reader: ExampleReader
        do { reader = try ExampleReader(path: path) } catch { throw .dataset(error) }
        if reader.format == .tsv {
            do { return try GLUEData.read(path) } catch { throw .training(error) }
        }
        do throws(DatasetError) {
            while let e = try reader.next() {
                guard let raw = e.label, let c = Int(raw.trimmingCharacters(in: .whitespaces)), (0...1).contains(c) else {
                    throw .badLabel(path: path, line: reader.line, label: e.label ?? "", known: "0...1")
                }
                out.append(LabeledExample(text: e.text, label: c))
            }
            if out.isEmpty { throw .empty(path: path) }
        } catch {
            throw .dataset(error)
        }
        return out
    }

    /// A trainer for a new run: options over the model's defaults, a fresh run directory, the start checkpoint.
    private static func newRun(
        _ request: FinetuneRequest, _ train: [LabeledExample], _ dev: [LabeledExample]
    ) throws(TrainingError) -> Trainer {
        let model = request.model!
        var defaults = TrainingOptions()
        defaults.learningRate = BertPreset(rawValue: model) != nil ? 5e-4 : 5e-5
        let o = request.options(over: defaults)
        try o.validate()
        let run = RunDirectory(URL(fileURLWithPath: request.out!))
        let lock = try run.prepareNew(overwrite: request.overwrite)
        let vocabulary = request.vocab.map { URL(fileURLWithPath: $0) } ?? GLUEData.defaultVocabulary()
        let checkpoint = try ModelSetup.prepare(model: model, vocabulary: vocabulary, seed: o.seed)
        return try Trainer(model: checkpoint, modelName: model, train: train, dev: dev, options: o, run: run, lock: lock)
    }

    /// A trainer continuing the run in `request.resume`, which must be given no options other than its own.
    private static func resumedRun(
        _ request: FinetuneRequest, _ train: [LabeledExample], _ dev: [LabeledExample]
    ) throws(TrainingError) -> Trainer {
        let run = RunDirectory(URL(fileURLWithPath: request.resume!))
        let trainer = try Trainer(resume: run, train: train, dev: dev)
        try run.checkWritable()
        if request.options(over: trainer.options) != trainer.options {
            throw .badOption(
                "\(field: "resume") continues with the options the run started with; drop the options that differ from them"
            )
        }
        return trainer
    }
}
