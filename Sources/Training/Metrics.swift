// Classification metrics (accuracy, per-class precision/recall/F1, confusion matrix) and batched evaluation.
import Foundation
import Tensor
import Transformer

/// Scores of one evaluation, with scikit-learn's definitions (`precision_recall_fscore_support`, zero where a
/// denominator is zero, as `zero_division=0`).
public struct ClassificationMetrics: Codable, Sendable, Equatable {
    public struct PerClass: Codable, Sendable, Equatable {
        public var label: String
        public var precision: Double
        public var recall: Double
        public var f1: Double
        /// Examples whose true class this is.
        public var support: Int
    }

    public var examples: Int
    public var accuracy: Double
    public var perClass: [PerClass]
    /// Unweighted mean of the per-class F1 scores.
    public var macroF1: Double
    /// The headline F1: of the positive class (index 1) for two classes, as GLUE and scikit-learn's
    /// `average="binary"` report it; the macro F1 otherwise.
    public var f1: Double
    /// `confusion[true][predicted]` counts.
    public var confusion: [[Int]]
    /// Mean cross-entropy over the examples, when logits were available.
    public var loss: Double?

    enum CodingKeys: String, CodingKey {
        case examples, accuracy, perClass = "per_class", macroF1 = "macro_f1", f1, confusion, loss
    }

    public init(predictions: [Int], targets: [Int], labels: [String], loss: Double? = nil) {
        precondition(
            predictions.count == targets.count, "metrics: \(predictions.count) predictions for \(targets.count) targets"
        )
        let k = labels.count
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for (p, t) in zip(predictions, targets) { confusion[t][p] += 1 }
        let correct = (0..<k).reduce(0) { $0 + confusion[$1][$1] }
        examples = targets.count
        accuracy = targets.isEmpty ? 0 : Double(correct) / Double(targets.count)
        perClass = (0..<k).map { c in
            let tp = Double(confusion[c][c])
            let predicted = Double((0..<k).reduce(0) { $0 + confusion[$1][c] })
            let actual = Double(confusion[c].reduce(0, +))
            let precision = predicted > 0 ? tp / predicted : 0
            let recall = actual > 0 ? tp / actual : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            return PerClass(label: labels[c], precision: precision, recall: recall, f1: f1, support: Int(actual))
        }
        macroF1 = k == 0 ? 0 : perClass.map(\.f1).reduce(0, +) / Double(k)
        f1 = k == 2 ? perClass[1].f1 : macroF1
        self.confusion = confusion
        self.loss = loss
    }

    /// A human-readable report: accuracy, the per-class table and the confusion matrix.
    public var report: String {
        var lines: [String] = []
        lines.append("examples  \(examples)")
        lines.append("accuracy  \(fmt(accuracy))")
        if let loss { lines.append("loss      \(fmt(loss))") }
        lines.append("f1        \(fmt(f1))\(perClass.count == 2 ? " (class \(perClass[1].label))" : " (macro)")")
        lines.append("macro f1  \(fmt(macroF1))")
        lines.append("")
        let width = max(9, (perClass.map(\.label.count).max() ?? 0) + 2)
        lines.append(
            "class".padding(toLength: width, withPad: " ", startingAt: 0) + "precision  recall  f1      support")
        for c in perClass {
            lines.append(
                c.label.padding(toLength: width, withPad: " ", startingAt: 0)
                    + fmt(c.precision).padding(toLength: 11, withPad: " ", startingAt: 0)
                    + fmt(c.recall).padding(toLength: 8, withPad: " ", startingAt: 0)
                    + fmt(c.f1).padding(toLength: 8, withPad: " ", startingAt: 0) + "\(c.support)")
        }
        lines.append("")
        lines.append("confusion matrix (rows: true class, columns: predicted)")
        let cell = max(
            (perClass.map(\.label.count).max() ?? 0) + 2,
            (confusion.flatMap { $0 }.map { String($0).count }.max() ?? 0) + 2)
        lines.append(
            String(repeating: " ", count: width)
                + perClass.map { $0.label.padding(toLength: cell, withPad: " ", startingAt: 0) }.joined())
        for (c, row) in confusion.enumerated() {
            lines.append(
                perClass[c].label.padding(toLength: width, withPad: " ", startingAt: 0)
                    + row.map { String($0).padding(toLength: cell, withPad: " ", startingAt: 0) }.joined())
        }
        return lines.joined(separator: "\n")
    }

    private func fmt(_ x: Double) -> String { String(format: "%.4f", x) }
}

/// Runs a BERT classifier over a dataset without dropout or a tape (PyTorch `model.eval()` + `no_grad`).
public enum Evaluator {
    /// Predictions (argmax) and the mean cross-entropy, in dataset order. Batches are formed from
    /// length-sorted examples so padding stays small; the result does not depend on the batch size
    /// beyond float rounding.
    public static func predict(
        _ bert: Bert, _ data: EncodedDataset, padID: Int, batchSize: Int = 64
    ) -> (predictions: [Int], loss: Double) {
        let order = data.ids.indices.sorted { (data.ids[$0].count, $0) < (data.ids[$1].count, $1) }
        var predictions = [Int](repeating: 0, count: data.count)
        var lossSum = 0.0
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let rows = Array(order[start..<min(start + batchSize, order.count)])
            let b = data.batch(rows, padID: padID)
            let batch = TokenBatch(ids: b.ids, attentionMask: b.mask, batchSize: rows.count, length: b.length)
            let logits = bert(batch, pooledOnly: true).logits!  // [B, C]
            lossSum += Double(crossEntropy(logits, labels: b.labels).item) * Double(rows.count)
            let c = logits.shape[1]
            logits.withUnsafeBufferPointer { l in
                for (r, i) in rows.enumerated() {
                    var best = 0
                    for k in 1..<c where l[r * c + k] > l[r * c + best] { best = k }
                    predictions[i] = best
                }
            }
        }
        return (predictions, data.count > 0 ? lossSum / Double(data.count) : .nan)
    }

    /// `predict` followed by the metrics against the dataset's labels.
    public static func evaluate(
        _ bert: Bert, _ data: EncodedDataset, labels: [String], padID: Int, batchSize: Int = 64
    ) -> ClassificationMetrics {
        let (p, loss) = predict(bert, data, padID: padID, batchSize: batchSize)
        return ClassificationMetrics(predictions: p, targets: data.labels, labels: labels, loss: loss)
    }
}
