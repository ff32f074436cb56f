// `Workbench.finetune`'s request: checked before anything is read, errors naming fields that the CLI spells as flags.
import Foundation
import Testing
import Workbench

@Suite struct FinetuneTests {
    func flag(_ field: String) -> String { "--" + field.replacingOccurrences(of: "_", with: "-") }

    @Test func requestsThatDoNotGoTogetherAreRefusedByField() throws {
        var r = FinetuneRequest()
        let missing = try #require(workbenchError { () throws(WorkbenchError) in try r.validate() })
        #expect(missing.description == "give model (or resume RUN_DIR)" && missing.field == "model")
        r.resume = "/runs/a"
        r.model = "bert-tiny"
        let both = try #require(workbenchError { () throws(WorkbenchError) in try r.validate() })
        #expect(both.message(naming: flag) == "--resume takes the model from RUN_DIR/last.h5; drop --model")
        r.model = nil
        r.out = "/runs/a"
        #expect(workbenchError { () throws(WorkbenchError) in try r.validate() } == nil)  // the same directory
        r.out = "/runs/b"
        #expect(workbenchError { () throws(WorkbenchError) in try r.validate() }?.field == "resume")
    }

    @Test func badDataFailsBeforeTrainingWithTheField() throws {
        var r = FinetuneRequest()
        (r.model, r.out, r.data) = ("bert-tiny", "/nonexistent/run", "/nonexistent/sst2")
        let e = try #require(workbenchError { () throws(WorkbenchError) in _ = try Workbench.finetune(r) })
        #expect(e.field == "data")
        #expect(e.message(naming: flag).contains("(--data wants a directory"))
    }

    /// Training and dev examples from JSON Lines files (labels 0/1); a bad label names its file and line.
    @Test func jsonLinesTrainAndDev() throws {
        let lines = (0..<40).map { i in "{\"id\": \(i), \"text\": \"\(i % 2 == 0 ? "a fine film" : "a dull film") \(i)\", \"label\": \(i % 2)}" }
        let train = try temporaryFile("train.jsonl", lines.joined(separator: "\n") + "\n")
        let dev = try temporaryFile("dev.jsonl", lines.prefix(8).joined(separator: "\n") + "\n")
        var r = FinetuneRequest()
        r.model = "bert-tiny"
        r.train = train
        r.dev = dev
        r.out = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-ft-\(UUID().uuidString)").path
        r.maxSteps = 2
        r.batchSize = 8
        let result = try Workbench.finetune(r)
        #expect(result.summary.steps == 2)
        let bad = try temporaryFile("bad.jsonl", "{\"text\": \"a film\", \"label\": 7}\n")
        r.train = bad
        do {
            _ = try Workbench.finetune(r)
            Issue.record("a label of 7 was accepted")
        } catch {
            #expect("\(error)" == "\(bad):1: label \"7\" is not one of 0...1")
        }
    }

    @Test func requestsDecodeFromSnakeCaseJSON() throws {
        let json = #"{"model": "bert-tiny", "out": "runs/t", "overwrite": true, "max_seq_len": 64, "lr": 0.001}"#
        let r = try JSONDecoder().decode(FinetuneRequest.self, from: Data(json.utf8))
        #expect(r.maxSeqLen == 64 && r.lr == 0.001 && r.overwrite && r.epochs == nil)
        let resume = try JSONDecoder().decode(FinetuneRequest.self, from: Data(#"{"resume": "runs/t"}"#.utf8))
        #expect(resume.resume == "runs/t" && !resume.overwrite)
        #expect(try JSONDecoder().decode(FinetuneRequest.self, from: JSONEncoder().encode(r)) == r)
    }
}
