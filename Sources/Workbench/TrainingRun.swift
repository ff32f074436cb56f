// A fine-tuning run's evaluations as curves: metrics.jsonl read back, for the UI's training-curves module.
import Foundation
import Training

/// One run directory's evaluations, in step order.
public struct TrainingRun: Codable, Sendable, Equatable {
    public var name: String
    public var evaluations: [EvaluationRecord]
}

extension Workbench {
    /// Reads `directory/metrics.jsonl`. A last line without its newline is a write in progress (training still
    /// running) and is left for the next read; any other line that is not an evaluation is an error naming it.
    public static func trainingRun(name: String, directory: String) throws(WorkbenchError) -> TrainingRun {
        let path = URL(fileURLWithPath: directory).appendingPathComponent("metrics.jsonl").path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .training(.unreadable(path: path, detail: "no such file (is \(directory) a run directory?)"))
        }
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        lines.removeLast()  // the empty tail after the last "\n", or a line still being written
        var evaluations: [EvaluationRecord] = []
        for (i, line) in lines.enumerated() where !line.isEmpty {
            // Nesting first: JSONDecoder traps instead of throwing on some lines nested 513 deep (Fuzz/README.md).
            guard nestingDepth(Array(line)) <= 64,
                let record = try? JSONDecoder().decode(EvaluationRecord.self, from: Data(line))
            else {
                throw .training(.badRow(file: path, line: i + 1, detail: "not an evaluation record of `loupe finetune`"))
            }
            evaluations.append(record)
        }
        return TrainingRun(name: name, evaluations: evaluations.sorted { $0.step < $1.step })
    }
}
