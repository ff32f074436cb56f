// `metrics`: a classifier's accuracy, per-class P/R/F1 and confusion on examples, per slice, with a PR curve for two classes.
import Training
import Transformer

public struct MetricsRequest: Codable, Sendable {
    public var model: String
    public var dataset: String
    /// Examples to score (default: the whole dataset).
    public var ids: [String]?
    /// Named subsets of ids (LIT's slices), each scored on its own.
    public var slices: [String: [String]]?
}

/// One point of the precision–recall curve: predicting the positive class when p(positive) ≥ threshold.
public struct PRPoint: Codable, Sendable, Equatable {
    public var threshold: Double
    public var precision: Double
    public var recall: Double
    public var f1: Double
}

public struct MetricsResult: Codable, Sendable {
    public var metrics: ClassificationMetrics
    /// Two classes: the curve over every distinct p(positive), and the threshold with the best F1.
    public var prCurve: [PRPoint]?
    public var bestThreshold: PRPoint?
    public var slices: [String: ClassificationMetrics]?
    /// Examples left out because they have no gold label (added by a user, or a counterfactual), as LIT does.
    public var unlabeled: Int?

    enum CodingKeys: String, CodingKey {
        case metrics, prCurve = "pr_curve", bestThreshold = "best_threshold", slices, unlabeled
    }
}

extension Workbench {
    /// Metrics of `predictions` against the examples' gold labels (class indices or names).
    public static func metrics(
        examples: [Example], predictions: [Prediction], labels: [String], slices: [String: [String]]? = nil
    ) throws(WorkbenchError) -> MetricsResult {
        var targets: [Int] = [], predicted: [Int] = [], positive: [Double] = []
        var rowOf: [String: Int] = [:]
        var unlabeled = Set<String>()
        for (e, p) in zip(examples, predictions) {
            // No gold label: nothing to score against (a label that is not a class is still an error).
            if (e.label ?? "").isEmpty {
                unlabeled.insert(e.id)
                continue
            }
            guard let raw = e.label, let t = classIndex(raw, labels) else {
                throw .unknownLabel(id: e.id, label: e.label ?? "", known: labels)
            }
            guard let name = p.label, let c = labels.firstIndex(of: name) else { continue }
            rowOf[e.id] = targets.count
            targets.append(t)
            predicted.append(c)
            if labels.count == 2 { positive.append(p.probabilities?[labels[1]] ?? 0) }
        }
        var result = MetricsResult(metrics: ClassificationMetrics(predictions: predicted, targets: targets, labels: labels))
        if !unlabeled.isEmpty { result.unlabeled = unlabeled.count }
        if labels.count == 2 && !targets.isEmpty {
            let curve = precisionRecallCurve(scores: positive, positives: targets.map { $0 == 1 })
            result.prCurve = curve
            result.bestThreshold = curve.max { ($0.f1, -$0.threshold) < ($1.f1, -$1.threshold) }
        }
        if let slices {
            var out: [String: ClassificationMetrics] = [:]
            for (name, ids) in slices {
                let rows = try ids.filter { !unlabeled.contains($0) }.map { id throws(WorkbenchError) in
                    guard let r = rowOf[id] else { throw .unknownName(kind: "example id", name: id, known: []) }
                    return r
                }
                out[name] = ClassificationMetrics(
                    predictions: rows.map { predicted[$0] }, targets: rows.map { targets[$0] }, labels: labels)
            }
            result.slices = out
        }
        return result
    }

    /// Precision, recall and F1 at every distinct score, highest threshold first (scikit-learn's
    /// `precision_recall_curve` points, without its final (1, 0) sentinel).
    public static func precisionRecallCurve(scores: [Double], positives: [Bool]) -> [PRPoint] {
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        let total = positives.filter { $0 }.count
        var tp = 0, fp = 0
        var out: [PRPoint] = []
        for (k, i) in order.enumerated() {
            if positives[i] { tp += 1 } else { fp += 1 }
            // Emit a point only after the last example of a run of equal scores.
            if k + 1 < order.count && scores[order[k + 1]] == scores[i] { continue }
            let precision = Double(tp) / Double(tp + fp)
            let recall = total > 0 ? Double(tp) / Double(total) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            out.append(PRPoint(threshold: scores[i], precision: precision, recall: recall, f1: f1))
        }
        return out
    }
}

extension Workspace {
    /// `Workbench.metrics` on the request's examples, predicted through the cache.
    public func metrics(_ request: MetricsRequest) throws(WorkbenchError) -> MetricsResult {
        let m = try model(request.model)
        let (_, labels) = try Workbench.classifier(m, operation: "metrics")
        let examples = try resolve(dataset: request.dataset, ids: request.ids, examples: nil)
        var options = PredictRequest(examples: [])
        options.batchSize = 64
        let predictions = try predict(model: request.model, examples: examples, options: options)
        return try Workbench.metrics(examples: examples, predictions: predictions, labels: labels, slices: request.slices)
    }
}
