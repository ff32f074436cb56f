// `loupe finetune`: fine-tune a BERT classifier on GLUE-format TSV data (SST-2 by default) into a run directory.
import ArgumentParser
import Foundation
import Training
import Transformer

struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a BERT sentence classifier (SST-2 by default) on the CPU.",
        discussion: """
            MODEL is a preset trained from a random initialisation (\(BertPreset.allCases.map(\.rawValue).joined(separator: ", "))) \
            or a pretrained BERT: a Loupe .h5 file or a Hugging Face directory (a classification head is added when \
            it has none). DIR holds GLUE train.tsv and dev.tsv (header `sentence<TAB>label`); without --data, \
            $LOUPE_DATA_DIR/sst2 then ../shared/data/sst2 are used. RUN_DIR receives best.h5 and last.h5 (Loupe weight \
            files with labels and tokenizer, for `loupe predict` / `loupe explain`), metrics.jsonl and TensorBoard \
            event files. `--resume RUN_DIR` continues an interrupted run exactly where last.h5 left it.
            """)

    @Option(help: "A preset name, a Loupe .h5 file or a Hugging Face model directory.") var model: String?
    @Option(help: "Directory with train.tsv and dev.tsv.") var data: String?
    @Option(help: "Run directory for checkpoints, metrics.jsonl and TensorBoard logs.") var out: String?
    @Option(help: "Continue the run in this directory from its last.h5 (same options and data).") var resume: String?
    @Flag(help: "Replace a previous run in --out.") var overwrite = false

    @Option(help: "Training epochs (default 3).") var epochs: Int?
    @Option(help: "Examples per optimiser step (default 32).") var batchSize: Int?
    @Option(help: "Peak learning rate (default 5e-4 for a preset, 5e-5 for a pretrained model).") var lr: Float?
    @Option(help: "Longest input in tokens, [CLS] and [SEP] included (default 128).") var maxSeqLen: Int?
    @Option(help: "Warm-up fraction of all steps (default 0.1).") var warmup: Double?
    @Option(help: "AdamW weight decay, not applied to biases and LayerNorm (default 0.01).") var weightDecay: Float?
    @Option(help: "Seed for initialisation, data order and dropout (default 0).") var seed: UInt64?
    @Option(help: "Dropout probability (default 0.1).") var dropout: Float?
    @Option(help: "Also evaluate on dev every N steps (default: after each epoch).") var evalEvery: Int?
    @Option(help: "Also write last.h5 every N steps.") var saveEvery: Int?
    @Option(help: "Stop after N evaluations without a better dev accuracy.") var earlyStopping: Int?
    @Option(help: "Stop after N optimiser steps.") var maxSteps: Int?
    @Option(help: "Use only the first N training examples.") var trainLimit: Int?
    @Option(help: "Log the training loss every N steps (default 50).") var logEvery: Int?
    @Option(help: "WordPiece vocabulary for a preset (default: bert-base-uncased from the shared data).") var vocab:
        String?
    @Option(help: "Write a JSON summary of the run to this file.") var summaryJson: String?

    func validate() throws {
        if resume == nil {
            guard model != nil else { throw ValidationError("give --model (or --resume RUN_DIR)") }
            guard out != nil else { throw ValidationError("give --out RUN_DIR (or --resume RUN_DIR)") }
        } else {
            if model != nil { throw ValidationError("--resume takes the model from RUN_DIR/last.h5; drop --model") }
            if let out,
                URL(fileURLWithPath: out).standardizedFileURL != URL(fileURLWithPath: resume!).standardizedFileURL
            {
                throw ValidationError("--resume continues in its own directory; drop --out")
            }
        }
    }

    /// The options as given on top of the defaults (`base`).
    func options(base: TrainingOptions) -> TrainingOptions {
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

    func run() throws {
        do {
            try runTraining()
        } catch {
            throw CLIError(error.description)  // typed throws: `error` is a TrainingError
        }
    }

    private func runTraining() throws(TrainingError) {
        // Everything that can be wrong with the input is checked before the first step: data, model, RUN_DIR.
        let dir = try GLUEData.locate(explicit: data)
        let train = try GLUEData.read(dir.appendingPathComponent("train.tsv").path)
        let dev = try GLUEData.read(dir.appendingPathComponent("dev.tsv").path)
        let reporter = ConsoleReporter(logEvery: logEvery ?? 50)
        let trainer: Trainer
        if let resume {
            let run = RunDirectory(URL(fileURLWithPath: resume))
            trainer = try Trainer(resume: run, train: train, dev: dev)
            try run.checkWritable()
            let given = options(base: trainer.options)
            if given != trainer.options {
                throw .badOption(
                    "--resume continues with the options the run started with; drop the options that differ from them")
            }
        } else {
            let model = model!
            let isPreset = BertPreset(rawValue: model) != nil
            var defaults = TrainingOptions()
            defaults.learningRate = isPreset ? 5e-4 : 5e-5
            let o = options(base: defaults)
            try o.validate()
            let run = RunDirectory(URL(fileURLWithPath: out!))
            try run.prepareNew(overwrite: overwrite)
            let vocabulary = vocab.map { URL(fileURLWithPath: $0) } ?? GLUEData.defaultVocabulary()
            let checkpoint = try ModelSetup.prepare(model: model, vocabulary: vocabulary, seed: o.seed)
            trainer = try Trainer(model: checkpoint, modelName: model, train: train, dev: dev, options: o, run: run)
        }
        trainer.reporter = reporter
        let s = try trainer.train()
        if let f = s.final {
            print(
                String(
                    format: "final dev accuracy: %.4f (f1 %.4f) after %d steps, %.1f epochs", f.accuracy, f.f1, s.steps,
                    Double(s.epochsCompleted)))
        }
        print(
            String(
                format: "training time %@ (%.0f examples/s); wall time %@; best dev accuracy %.4f → %@",
                formatDuration(s.trainSeconds), s.examplesPerSecond, formatDuration(s.wallSeconds),
                s.bestAccuracy ?? .nan,
                trainer.run.best.path))
        if let summaryJson {
            var summary = RunSummary(
                steps: s.steps, epochs: s.epochsCompleted, trainSeconds: s.trainSeconds, wallSeconds: s.wallSeconds,
                examplesPerSecond: s.examplesPerSecond, stoppedEarly: s.stoppedEarly)
            if let f = s.final { (summary.finalAccuracy, summary.finalF1) = (f.accuracy, f.f1) }
            if let b = s.bestAccuracy { (summary.bestAccuracy, summary.bestStep) = (b, s.bestStep ?? 0) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            do { try encoder.encode(summary).write(to: URL(fileURLWithPath: summaryJson), options: .atomic) } catch {
                warn("cannot write \(summaryJson): \(error.localizedDescription)")
            }
        }
    }
}

/// The --summary-json file: the run's headline figures.
struct RunSummary: Encodable {
    var steps, epochs: Int
    var trainSeconds, wallSeconds, examplesPerSecond: Double
    var stoppedEarly: Bool
    var finalAccuracy, finalF1, bestAccuracy: Double?
    var bestStep: Int?

    enum CodingKeys: String, CodingKey {
        case steps, epochs, trainSeconds = "train_seconds", wallSeconds = "wall_seconds"
        case examplesPerSecond = "examples_per_second", stoppedEarly = "stopped_early", finalAccuracy = "final_accuracy"
        case finalF1 = "final_f1", bestAccuracy = "best_accuracy", bestStep = "best_step"
    }
}
