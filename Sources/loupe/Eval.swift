// `loupe eval`: accuracy, per-class precision/recall/F1 and the confusion matrix of a classifier on a TSV file.
import ArgumentParser
import Foundation
import Training
import Transformer

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a sequence-classification model on a labelled TSV file (GLUE format: sentence<TAB>label).")

    @OptionGroup var model: ModelOption
    @Option(help: "A TSV file whose header has `sentence` and `label` columns; labels are class ids.") var data: String
    @Option(help: "Longest input in tokens (default: the model's own limit).") var maxSeqLen: Int?
    @Option(help: "Texts per forward pass.") var batchSize = 64
    @Option(help: "Output format: text or json.") var format: Format = .text

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        if let maxSeqLen, maxSeqLen < 2 { throw ValidationError("--max-seq-len must be at least 2, got \(maxSeqLen)") }
    }

    func run() throws {
        let m = try model.load()
        guard case .bert(let bert) = m.network, m.task == .sequenceClassification, let classes = bert.classifier?.weight.shape[0] else {
            throw CLIError("\(model.model): a \(m.architecture.rawValue) \(m.task.rawValue) model cannot classify; give a sequence-classification checkpoint")
        }
        let labels = m.labels.count == classes ? m.labels : (0..<classes).map { "LABEL_\($0)" }
        let examples: [LabeledExample]
        do { examples = try GLUEData.read(data, classes: classes) } catch { throw CLIError(error.description) }
        let encoded = EncodedDataset(examples, tokenizer: m.tokenizer, maxLength: min(maxSeqLen ?? m.maxLength, m.maxLength))
        let metrics = Evaluator.evaluate(bert, encoded, labels: labels, padID: m.padID, batchSize: batchSize)
        switch format {
        case .json:
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(metrics), as: UTF8.self))
        case .text:
            print("\(model.model) on \(data)\n")
            print(metrics.report)
        }
    }
}
