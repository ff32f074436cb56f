// Inputs the libFuzzer harnesses (Fuzz/) found that once crashed a Workbench reader: each must now be refused with a
// one-line error or skipped as the reader documents. Fuzz/README.md lists every finding.
import Foundation
import Testing
import Workbench

@Suite struct FuzzRegressionTests {
    /// A directory holding `name` with `text`, removed by the caller.
    func directory(with name: String, _ text: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: dir.appendingPathComponent(name))
        return dir
    }

    /// JSONDecoder traps (instead of throwing) on a line that ends in its 513th nested '['; no Loupe line nests past 64.
    static let trap = String(repeating: "[", count: 513)

    /// A run directory's metrics.jsonl (read by /api/runs on every request): the line is refused naming it.
    @Test func deeplyNestedMetricsLine() throws {
        let dir = try directory(with: "metrics.jsonl", Self.trap + "\n")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect {
            try Workbench.trainingRun(name: "r", directory: dir.path)
        } throws: { error in
            let text = "\(error)"
            return text.contains("metrics.jsonl:1") && !text.contains("\n")
        }
    }

    /// A workspace's predictions.jsonl (the prediction cache, read at start): the line is skipped like any other
    /// line that does not decode, and the workspace opens.
    @Test func deeplyNestedPredictionCacheLine() throws {
        let dir = try directory(with: "predictions.jsonl", "{\"key\": 1}\n" + Self.trap + "\n")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ws = try Workspace(models: [:], datasets: ["d": [Example(id: "0", text: "x")]], directory: dir)
        #expect(try ws.examples("d").count == 1)
    }

    /// A workspace's added-examples.jsonl and a JSON Lines dataset go through ExampleReader, which refuses the line.
    @Test func deeplyNestedExampleLine() throws {
        let p = try temporaryFile("data.jsonl", Self.trap + "\n{\"text\": \"ok\"}\n")
        var reader = try ExampleReader(path: p)
        #expect(datasetError { () throws(DatasetError) in _ = try reader.next() } == .badJSON(path: p, line: 1, detail: "nested deeper than 64 levels"))
        #expect(try reader.next()?.text == "ok")
    }
}
