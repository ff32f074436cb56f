// `loupe eval`: accuracy, per-class precision/recall/F1 and the confusion matrix of a classifier on labelled data.
import ArgumentParser
import Foundation
import Workbench

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a sequence-classification model on labelled data (GLUE TSV, JSON Lines with `label`).")

    @OptionGroup var model: ModelOption
    @OptionGroup var precision: PrecisionOption
    @Option(
        name: [.customLong("data"), .customLong("input")],
        help:
            "A TSV whose header has `sentence` and `label` columns, or JSON Lines with `text` and `label`; labels are class ids or names."
    )
    var data: String
    @Option(help: "How to read the file: text, tsv or jsonl (default: by its name and first line).")
    var inputFormat: DatasetFormat?
    @Option(help: ArgumentHelp(EvaluateRequest.spec["max_seq_length"]!.summary)) var maxSeqLen: Int?
    @Option(help: ArgumentHelp(EvaluateRequest.spec["batch_size"]!.summary)) var batchSize = 64
    @Option(help: "Output format: text or json.") var format: Format = .text

    func run() throws {
        var options = EvaluateRequest(examples: [])
        options.maxSeqLength = maxSeqLen
        options.batchSize = batchSize
        try library { () throws(WorkbenchError) in try options.validateOptions() }
        let m = try model.load(precision.precision)
        let metrics = try library { () throws(WorkbenchError) in
            try Workbench.evaluate(file: data, format: inputFormat, options: options, model: m)
        }
        switch format {
        case .json: try printJSON(metrics, pretty: true)
        case .jsonl: try printJSON(metrics)
        case .text:
            print("\(model.model) on \(data)\n")
            print(metrics.report)
        }
    }
}
