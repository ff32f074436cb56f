// `loupe finetune`: fine-tune a BERT classifier on GLUE-format TSV data (SST-2 by default) into a run directory.
import ArgumentParser
import Foundation
import Training
import Workbench

struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a BERT sentence classifier (SST-2 by default) on the CPU.",
        discussion: """
            MODEL is a preset trained from a random initialisation (\(BertPreset.allCases.map(\.rawValue).joined(separator: ", "))) \
            or a pretrained BERT: a Loupe .h5 file or a Hugging Face directory (a classification head is added when \
            it has none). DIR holds GLUE train.tsv and dev.tsv (header `sentence<TAB>label`); without --data, \
            $LOUPE_DATA_DIR/sst2 then ../shared/data/sst2 are used. RUN_DIR receives best.h5 and last.h5 (Loupe weight \
            files with labels and tokenizer, for `loupe predict` / `loupe explain`), metrics.jsonl and TensorBoard \
            event files. `--resume RUN_DIR` continues an interrupted run exactly where last.h5 left it. Every file \
            is written whole (a kill or a full disk leaves the previous version), and RUN_DIR is locked while a run \
            uses it: a second `loupe finetune` on it fails at once.
            """)

    @Option(help: "A preset name, a Loupe .h5 file or a Hugging Face model directory.") var model: String?
    @Option(help: "Directory with train.tsv and dev.tsv.") var data: String?
    @Option(
        name: [.customLong("train"), .customLong("input")],
        help: "Training examples from this file instead: a GLUE TSV or JSON Lines ({\"text\", \"label\": 0|1}).")
    var train: String?
    @Option(help: "Dev examples from this file instead (same formats).") var dev: String?
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

    /// The flags as a library request.
    var request: FinetuneRequest {
        var r = FinetuneRequest()
        (r.model, r.data, r.out, r.resume, r.overwrite, r.vocab) = (model, data, out, resume, overwrite, vocab)
        (r.train, r.dev) = (train, dev)
        (r.epochs, r.batchSize, r.lr, r.maxSeqLen, r.warmup) = (epochs, batchSize, lr, maxSeqLen, warmup)
        (r.weightDecay, r.seed, r.dropout, r.evalEvery, r.saveEvery) = (
            weightDecay, seed, dropout, evalEvery, saveEvery
        )
        (r.earlyStopping, r.maxSteps, r.trainLimit, r.logEvery) = (earlyStopping, maxSteps, trainLimit, logEvery)
        return r
    }

    func validate() throws {
        do { try request.validate() } catch { throw ValidationError(error.message(naming: flag)) }
    }

    func run() throws {
        let reporter = ConsoleReporter(logEvery: logEvery ?? TrainingOptions().logEvery)
        let result = try library { () throws(WorkbenchError) in try Workbench.finetune(request, reporter: reporter) }
        let s = result.summary
        if let accuracy = s.finalAccuracy, let f1 = s.finalF1 {
            print(
                String(
                    format: "final dev accuracy: %.4f (f1 %.4f) after %d steps, %.1f epochs", accuracy, f1, s.steps,
                    Double(s.epochs)))
        }
        print(
            String(
                format: "training time %@ (%.0f examples/s); wall time %@; best dev accuracy %.4f → %@",
                formatDuration(s.trainSeconds), s.examplesPerSecond, formatDuration(s.wallSeconds),
                s.bestAccuracy ?? .nan, result.best))
        if let summaryJson {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            do { try encoder.encode(s).write(to: URL(fileURLWithPath: summaryJson), options: .atomic) } catch {
                warn("cannot write \(summaryJson): \(error.localizedDescription)")
            }
        }
    }
}
