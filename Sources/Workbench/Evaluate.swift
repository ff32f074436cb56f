// `evaluate` (accuracy, per-class P/R/F1, confusion matrix of a classifier) and `evalSaliency` (ERASER faithfulness).
import Foundation
import Interpret
import Training
import Transformer

public struct EvaluateRequest: Codable, Sendable, SpecifiedOptions {
    /// Labelled examples: labels are class indices ("0", "1") or class names.
    public var examples: [Example]
    /// Longest input in tokens (default: the model's own limit).
    public var maxSeqLength: Int?
    public var batchSize = 64

    public init(examples: [Example]) { self.examples = examples }

    public static let spec = ConfigSpec([
        ConfigField(
            "max_seq_length", .int, defaultNote: "the model's own limit", minimum: 2, help: "Longest input in tokens."),
        ConfigField("batch_size", .int, default: .int(64), minimum: 1, help: "Texts per forward pass."),
    ])
    public var optionValues: ConfigValues {
        var v: ConfigValues = ["batch_size": .int(batchSize)]
        if let maxSeqLength { v["max_seq_length"] = .int(maxSeqLength) }
        return v
    }
}

extension Workbench {
    /// Scores a sequence classifier on labelled examples (scikit-learn's definitions; see `ClassificationMetrics`).
    public static func evaluate(
        _ request: EvaluateRequest, model: LoadedModel
    ) throws(WorkbenchError) -> ClassificationMetrics {
        let (_, labels) = try classifier(model, operation: "evaluate")
        var labelled: [LabeledExample] = []
        for e in request.examples {
            guard let raw = e.label, let c = classIndex(raw, labels) else {
                throw .unknownLabel(id: e.id, label: e.label ?? "", known: labels)
            }
            labelled.append(LabeledExample(text: e.text, label: c))
        }
        return try evaluate(labelled, request, model: model)
    }

    /// `evaluate` on a file read as it goes, label errors naming the file and line.
    public static func evaluate(
        file path: String, format: DatasetFormat? = nil, options: EvaluateRequest, model: LoadedModel
    ) throws(WorkbenchError) -> ClassificationMetrics {
        let (_, labels) = try classifier(model, operation: "evaluate")
        var labelled: [LabeledExample] = []
        do throws(DatasetError) {
            var reader = try ExampleReader(path: path, format: format)
            while let e = try reader.next() {
                guard let raw = e.label, let c = classIndex(raw, labels) else {
                    throw .badLabel(
                        path: path, line: reader.line, label: e.label ?? "", known: "0...\(labels.count - 1)")
                }
                labelled.append(LabeledExample(text: e.text, label: c))
            }
            if labelled.isEmpty { throw .empty(path: path) }
        } catch {
            throw .dataset(error)
        }
        return try evaluate(labelled, options, model: model)
    }

    private static func evaluate(
        _ labelled: [LabeledExample], _ request: EvaluateRequest, model: LoadedModel
    ) throws(WorkbenchError) -> ClassificationMetrics {
        try request.validateOptions()
        let (bert, labels) = try classifier(model, operation: "evaluate")
        let maxLength = min(request.maxSeqLength ?? model.maxLength, model.maxLength)
        let encoded = EncodedDataset(labelled, tokenizer: model.tokenizer, maxLength: maxLength)
        return Evaluator.evaluate(bert, encoded, labels: labels, padID: model.padID, batchSize: request.batchSize)
    }

    /// The BERT classifier inside `model` and its class names, or `.wrongModel`.
    static func classifier(_ model: LoadedModel, operation: String) throws(WorkbenchError) -> (Bert, [String]) {
        guard case .bert(let bert) = model.network, model.task == .sequenceClassification,
            let classes = bert.classifier?.weight.shape[0]
        else {
            throw .wrongModel(
                file: model.url.relativePath, operation: operation, needs: "a sequence-classification model",
                found: model.kindDescription)
        }
        return (bert, labels(model, count: classes))
    }

    /// A gold label as a class index: "0"…"C−1", or a class name.
    static func classIndex(_ raw: String, _ labels: [String]) -> Int? {
        if let i = Int(raw.trimmingCharacters(in: .whitespaces)), labels.indices.contains(i) { return i }
        return labels.firstIndex(of: raw)
    }
}

public struct EvalSaliencyRequest: Codable, Sendable, SpecifiedOptions {
    public var examples: [Example]
    public var methods: [MethodID]
    /// Options for the methods: each method takes the fields its spec declares (e.g. `steps` goes to ig only).
    public var config: ConfigValues = [:]
    /// The explained score (the erasure always measures the probability): prob or logit.
    public var score = ScoreKind.prob
    /// Seed of the random-attribution row.
    public var seed: UInt64 = 0

    public init(examples: [Example], methods: [MethodID]) {
        self.examples = examples
        self.methods = methods
    }

    public static let spec = ConfigSpec([
        ConfigField(
            "score", .choice, default: .string(ScoreKind.prob.rawValue),
            choices: [ScoreKind.prob.rawValue, ScoreKind.logit.rawValue],
            help: "The explained score: prob (default) or logit; the erasure always measures the probability."),
        ConfigField("seed", .int, default: .int(0), minimum: 0, help: "Seed of the random row."),
    ])
    public var optionValues: ConfigValues {
        ["score": .string(score.rawValue), "seed": .int(Int(truncatingIfNeeded: seed) & Int.max)]
    }
}

public struct SaliencyEvaluation: Codable, Sendable {
    public var examples: Int
    /// ERASER's bins (fractions of the tokens).
    public var bins: [Double]
    /// One row per method, then the random row.
    public var methods: [FaithfulnessRow]
}

extension Workbench {
    /// ERASER comprehensiveness and sufficiency of each method on a classifier's predicted class, against random.
    public static func evalSaliency(
        _ request: EvalSaliencyRequest, model: LoadedModel, progress: (Int) -> Void = { _ in }
    ) throws(WorkbenchError) -> SaliencyEvaluation {
        try request.validateOptions()
        try Limits.standard.check(request.config)
        _ = try classifier(model, operation: "eval-saliency")
        guard !request.methods.isEmpty else {
            throw .invalidOption(OptionError(field: "methods", value: "", problem: .invalid("at least one method")))
        }
        // A shared option no method declares is a mistake (e.g. a misspelling), not something to ignore.
        let declared = Set(request.methods.flatMap { $0.spec.fields.map(\.name) })
        if let unknown = request.config.keys.sorted().first(where: { !declared.contains($0) }) {
            throw .invalidOption(
                OptionError(field: unknown, value: nil, problem: .unknownField(known: declared.sorted())))
        }
        let methods = request.methods.map { id in
            ExplainOptions(method: id, config: request.config.filter { id.spec[$0.key] != nil })
        }
        let rows = try interpreting { () throws(InterpretError) in
            try Faithfulness.evaluate(
                model: model, texts: request.examples.map(\.text), methods: methods, score: request.score,
                seed: request.seed, progress: progress)
        }
        return SaliencyEvaluation(examples: request.examples.count, bins: Faithfulness.bins, methods: rows)
    }
}
