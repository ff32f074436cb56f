// The run directory's crash-safety pieces in process: the lock, and the repair of torn tails on resume.
import Foundation
import Testing
import Training

/// Keeps the trainer's messages.
final class CollectingReporter: TrainingReporter {
    var messages: [String] = []
    func progress(_ p: TrainingProgress) {}
    func message(_ line: String) { messages.append(line) }
}

@Suite struct RunDirectorySafetyTests {
    @Test func aHeldLockRefusesASecondTrainerBeforeItTouchesAnything() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = RunDirectory(dir.appendingPathComponent("run"))
        let lock = try run.prepareNew(overwrite: false)
        write("a previous run", to: run.last)
        do {
            try run.prepareNew(overwrite: true)
            Issue.record("a second trainer took a held lock")
        } catch {
            #expect(
                error.description
                    == "\(run.url.path): another training process (pid \(getpid())) is using this run directory; "
                    + "wait for it to finish or choose another directory")
        }
        #expect(FileManager.default.fileExists(atPath: run.last.path), "--overwrite removed a locked run's file")
        do {
            _ = try Trainer(resume: run, train: [], dev: [])
            Issue.record("a resume took a held lock")
        } catch {
            guard case .runDirectory = error else { Issue.record("not refused by the lock: \(error)"); return }
        }
        lock.release()
        try run.prepareNew(overwrite: true)  // free again
    }

    /// A directory with best.h5 or metrics.jsonl but no last.h5 (a run killed before its first checkpoint) is not
    /// appended to by a new run: it needs --overwrite, as a directory holding a run does.
    @Test func leftoversOfARunWithoutLastH5NeedOverwrite() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = RunDirectory(dir.appendingPathComponent("run"))
        try run.prepareNew(overwrite: false).release()
        write("{\"step\": 4}\n", to: run.metrics)
        #expect(throws: TrainingError.self) { try run.prepareNew(overwrite: false) }
        try run.prepareNew(overwrite: true).release()
        #expect(!FileManager.default.fileExists(atPath: run.metrics.path))
    }

    /// A kill can stop a write between pages: a resume drops the unfinished metrics line and TensorBoard record
    /// with a note, and the files read back whole.
    @Test func resumeDropsAnUnfinishedMetricsLineAndEventRecord() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let train = randomExamples(24, seed: 1), dev = randomExamples(8, seed: 2)
        var o = TrainingOptions()
        (o.epochs, o.batchSize, o.evalEvery, o.logEvery) = (1, 8, 2, 1)
        let run = RunDirectory(dir.appendingPathComponent("run"))
        let model = try ModelSetup.fresh(
            .bertTiny, vocabulary: smallVocabulary(in: dir), labels: ["negative", "positive"], seed: 3)
        let first = try Trainer(
            model: model, modelName: "tiny", train: train, dev: dev, options: o, run: run,
            lock: run.prepareNew(overwrite: false))
        first.interruptAfterStep = 2
        _ = try first.train()
        let events = try #require(
            FileManager.default.contentsOfDirectory(atPath: run.url.path).first { $0.hasPrefix("events.out") })
        let eventFile = run.url.appendingPathComponent(events)
        let append = { (text: [UInt8], url: URL) in
            let h = try FileHandle(forWritingTo: url)
            try h.seekToEnd()
            try h.write(contentsOf: text)
            try h.close()
        }
        try append(Array("{\"accuracy\":0.5,\"be".utf8), run.metrics)
        try append(Array(TFRecord.frame(Array(repeating: 7, count: 40)).prefix(30)), eventFile)

        let reporter = CollectingReporter()
        let second = try Trainer(resume: run, train: train, dev: dev)
        second.reporter = reporter
        #expect(try second.train().steps == 3)
        #expect(reporter.messages.contains { $0.hasPrefix("note: dropped an unfinished last line (19 bytes) from") })
        #expect(reporter.messages.contains { $0.hasPrefix("note: dropped an unfinished last record (30 bytes) from") })
        let lines = try String(contentsOf: run.metrics, encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty, "two whole records: \(lines)")
        #expect(lines.dropLast().allSatisfy { $0.hasPrefix("{") && $0.hasSuffix("}") })
        #expect(try TensorBoardWriter.read(eventFile).count > 2)
    }
}
