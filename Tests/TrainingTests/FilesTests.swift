// Run-directory files and bad input: checkpoint round trips, TensorBoard records, TSV and RUN_DIR errors.
import Foundation
import Tensor
import Testing
import Training
import Transformer

@Suite struct CheckpointFileTests {
    @Test func writtenCheckpointReloadsBitIdentically() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = try ModelSetup.fresh(
            .bertTiny, vocabulary: smallVocabulary(in: dir), labels: ["negative", "positive"], seed: 9)
        let file = dir.appendingPathComponent("model.h5")
        try LoupeFileWriter.write(original, to: file)
        let back = try Checkpoint.load(file)
        #expect(back.config == original.config)
        #expect(back.task == .sequenceClassification && back.labels == ["negative", "positive"])
        #expect(back.tokenizer == original.tokenizer)
        #expect(back.storedPrefix == "bert.")
        #expect(Set(back.tensors.keys) == Set(original.tensors.keys))
        for (k, t) in original.tensors { #expect(sameBits(t, back.tensors[k]!), "\(k)") }
        // Same contents, same bytes; no temporary file is left behind.
        let copy = dir.appendingPathComponent("copy.h5")
        try LoupeFileWriter.write(back, to: copy)
        #expect(FileManager.default.contents(atPath: file.path) == FileManager.default.contents(atPath: copy.path))
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == [
                "copy.h5", "model.h5", "vocab.txt",
            ])
    }

    @Test func fixturesSurviveAWriteReadCycle() throws {
        // Checkpoints written by convert.py (classifier, masked LM with a tied decoder, GPT-2 with merges).
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["bert_tiny_cls.h5", "bert_tiny_mlm.h5", "gpt2_tiny.h5", "bert_micro.h5"] {
            let c = try Checkpoint.load(fixturesDirectory.appendingPathComponent(name))
            let out = dir.appendingPathComponent(name)
            try LoupeFileWriter.write(c, to: out)
            let back = try Checkpoint.load(out)
            #expect(back.config == c.config && back.task == c.task && back.labels == c.labels, "\(name)")
            #expect(back.tokenizer == c.tokenizer, "\(name)")
            #expect(back.storedPrefix == c.storedPrefix, "\(name)")
            for (k, t) in c.tensors { #expect(sameBits(t, back.tensors[k]!), "\(name) \(k)") }
        }
    }

    @Test func anInvalidCheckpointIsRefusedAndTheTargetIsUntouched() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let c = try Checkpoint.load(fixturesDirectory.appendingPathComponent("bert_micro.h5"))
        var tensors = c.tensors
        tensors["classifier.weight"] = Tensor.zeros([3, 8])
        #expect(throws: WeightError.self) {
            try Checkpoint(config: c.config, task: c.task, labels: c.labels, tokenizer: c.tokenizer, tensors: tensors)
        }
        let target = dir.appendingPathComponent("m.h5")
        write("previous", to: target)
        let blocked = dir.appendingPathComponent("file")
        write("x", to: blocked)
        #expect(throws: CheckpointWriteError.self) {
            try LoupeFileWriter.write(c, to: blocked.appendingPathComponent("m.h5"))
        }
        #expect(String(decoding: FileManager.default.contents(atPath: target.path)!, as: UTF8.self) == "previous")
    }
}

@Suite struct TensorBoardTests {
    @Test func crc32cMatchesTheStandardCheckValues() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)  // RFC 3720 / iSCSI check value
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)  // RFC 3720 B.4
        let c = CRC32C.checksum([1, 2, 3])
        #expect(CRC32C.masked([1, 2, 3]) == ((c >> 15) | (c << 17)) &+ 0xA282_EAD8)
    }

    @Test func eventFileRecordsParseBack() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let w = try TensorBoardWriter(directory: dir, purgeFrom: 7)
        try w.scalars([("train/loss", 0.6931), ("train/learning_rate", 5e-4)], step: 50)
        try w.scalars([("eval/accuracy", 0.8125)], step: 100)
        let bytes = [UInt8](FileManager.default.contents(atPath: w.url.path)!)
        #expect(w.url.lastPathComponent.hasPrefix("events.out.tfevents."))

        // Walk the framing by hand: length, masked CRC of the length, data, masked CRC of the data.
        var offset = 0
        var payloads: [[UInt8]] = []
        while offset < bytes.count {
            let header = Array(bytes[offset..<offset + 8])
            let length = Int(header.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) })
            let u32 = { (at: Int) in (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
            #expect(u32(offset + 8) == CRC32C.masked(header))
            let data = Array(bytes[offset + 12..<offset + 12 + length])
            #expect(u32(offset + 12 + length) == CRC32C.masked(data))
            payloads.append(data)
            offset += 16 + length
        }
        #expect(offset == bytes.count && payloads.count == 4)
        #expect(payloads == (try TFRecord.records(bytes)))

        let events = try TensorBoardWriter.read(w.url)
        #expect(events[0].fileVersion == "brain.Event:2")
        #expect(events[1].sessionStart && events[1].step == 7)
        #expect(events[2].step == 50 && events[2].scalars.map(\.tag) == ["train/loss", "train/learning_rate"])
        #expect(events[2].scalars.map(\.value) == [0.6931, 5e-4])
        #expect(events[3].step == 100 && events[3].scalars[0].value == 0.8125)
        #expect(events[3].wallTime > 1.6e9)

        // A flipped byte fails a CRC; a cut file is reported as truncated.
        var bad = bytes
        bad[bytes.count - 6] ^= 0x01
        #expect(throws: TFRecord.FormatError.self) { try TFRecord.records(bad) }
        #expect(throws: TFRecord.FormatError.self) { try TFRecord.records(Array(bytes.dropLast(3))) }
    }

    @Test func trainingWritesScalarsForLossLearningRateAccuracyAndF1() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var o = TrainingOptions()
        o.epochs = 1
        o.batchSize = 4
        o.logEvery = 2
        let run = RunDirectory(dir.appendingPathComponent("run"))
        try run.prepareNew(overwrite: false)
        let model = try ModelSetup.fresh(
            .bertTiny, vocabulary: smallVocabulary(in: dir), labels: ["negative", "positive"], seed: 0)
        let t = try Trainer(
            model: model, modelName: "tiny", train: randomExamples(16, seed: 1), dev: randomExamples(8, seed: 2),
            options: o, run: run)
        let s = try t.train()
        let files = try FileManager.default.contentsOfDirectory(atPath: run.url.path)
        let eventFile = try #require(files.first { $0.hasPrefix("events.out.tfevents.") })
        let events = try TensorBoardWriter.read(run.url.appendingPathComponent(eventFile))
        let tags = events.flatMap { $0.scalars.map(\.tag) }
        #expect(tags.filter { $0 == "train/loss" }.count == 2)
        #expect(Set(tags).isSuperset(of: ["train/loss", "train/learning_rate", "eval/accuracy", "eval/f1"]))
        let acc = events.first { $0.scalars.contains { $0.tag == "eval/accuracy" } }!
        #expect(
            acc.step == 4
                && Double(acc.scalars.first { $0.tag == "eval/accuracy" }!.value) == Double(Float(s.final!.accuracy)))
        let lines = try String(contentsOf: run.metrics, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("\"accuracy\""))
        // Compact JSON with the snake_case keys scripts read, in sorted order.
        let line = String(try #require(lines.first))
        let keys = [
            "accuracy", "best", "epoch", "examples_per_second", "f1", "learning_rate", "loss", "macro_f1", "precision",
            "recall", "step", "train_seconds",
        ]
        #expect(try JSONValue(parsing: Data(line.utf8)).object.map { $0.keys.sorted() } == keys)
        let positions = keys.compactMap { line.range(of: "\"\($0)\":")?.lowerBound }
        #expect(positions.count == keys.count && positions == positions.sorted() && !line.contains(" "), "\(line)")
        #expect(try JSONValue(parsing: Data(line.utf8))["step"] == .number(4))
    }
}

@Suite struct BadInputTests {
    func tsv(_ text: String, _ dir: URL, _ name: String = "train.tsv") -> String {
        let url = dir.appendingPathComponent(name)
        write(text, to: url)
        return url.path
    }

    @Test func malformedTSVFilesAreRefusedWithFileAndLine() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func failure(_ text: String) -> TrainingError? {
            do { _ = try GLUEData.read(tsv(text, dir)); return nil } catch { return error }
        }
        guard case .badHeader(_, let d)? = failure("sentence\nfine film\n") else {
            Issue.record("no label column"); return
        }
        #expect(d.contains("`label`"))
        guard case .badRow(_, 3, let d2)? = failure("sentence\tlabel\ngood\t1\nbad\n") else {
            Issue.record("missing field"); return
        }
        #expect(d2.contains("label column"))
        // The header's names are the file's bytes: quoted, so a vertical tab or form feed in one (line breaks to
        // Swift, not to the line splitter) cannot split the one-line message (found by Fuzz/ `examples`).
        guard case .badRow(_, 3, let d4)? = failure("id\u{0B}x\tsentence\tlabel\n0\tgood\t1\nbad\n") else {
            Issue.record("missing field after a header with a vertical tab"); return
        }
        #expect(d4 == #"1 field, expected 3 ["id\u{0B}x", "sentence", "label"]; is the label column missing?"#)
        guard case .badRow(_, 2, let d3)? = failure("sentence\tlabel\nmeh\t2\n") else {
            Issue.record("label 2"); return
        }
        #expect(d3.contains("\"2\""))
        guard case .badRow(_, 3, _)? = failure("sentence\tlabel\nok\t0\nmeh\tpositive\n") else {
            Issue.record("label text"); return
        }
        guard case .noExamples? = failure("") else { Issue.record("empty file"); return }
        guard case .noExamples? = failure("sentence\tlabel\n") else { Issue.record("header only"); return }
        #expect(failure("sentence\tlabel\ngood film \t1\nbad film \t0\n") == nil)
        #expect(try GLUEData.read(tsv("label\tsentence\n1\tgood\n", dir)) == [LabeledExample(text: "good", label: 1)])
        let message = TrainingError.badRow(file: "/d/train.tsv", line: 3, detail: "label \"2\" is not one of 0...1")
            .description
        #expect(message == "/d/train.tsv:3: label \"2\" is not one of 0...1")
    }

    @Test func missingDataDirectoriesSayWhereToGetSST2() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(
            throws: TrainingError.unreadable(
                path: "/nonexistent/sst2",
                detail: "no such directory (\(field: "data") wants a directory with train.tsv and dev.tsv)")
        ) {
            try GLUEData.locate(explicit: "/nonexistent/sst2")
        }
        do {
            // ../shared/data/sst2 from <dir>/a/b is <dir>/a/shared/data/sst2, which does not exist.
            _ = try GLUEData.locate(
                explicit: nil, environment: [:], workingDirectory: dir.appendingPathComponent("a/b").path)
            Issue.record("found data in an empty directory")
        } catch {
            #expect(error.description.contains("get_sst2.py"))
        }
        let shared = dir.appendingPathComponent("env/sst2")
        try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: true)
        write("sentence\tlabel\n", to: shared.appendingPathComponent("train.tsv"))
        #expect(
            try GLUEData.locate(explicit: nil, environment: ["LOUPE_DATA_DIR": dir.appendingPathComponent("env").path])
                .path == shared.path)
        #expect(throws: TrainingError.self) { try GLUEData.read(dir.appendingPathComponent("none.tsv").path) }
    }

    @Test func unwritableRunDirectoriesFailBeforeTraining() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("a-file")
        write("x", to: file)
        // A run directory below a regular file cannot be created (root too).
        do {
            try RunDirectory(file.appendingPathComponent("run")).prepareNew(overwrite: false)
            Issue.record("created a run directory below a file")
        } catch {
            guard case .runDirectory = error else { Issue.record("\(error)"); return }
            #expect(error.description.hasSuffix("cannot create the run directory: \(file.path) is not a directory"))
        }
        #expect(throws: TrainingError.self) { try RunDirectory(file).prepareNew(overwrite: false) }
        if getuid() != 0 {  // permissions do not stop root
            let ro = dir.appendingPathComponent("ro")
            try FileManager.default.createDirectory(
                at: ro, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o500])
            #expect(throws: TrainingError.self) { try RunDirectory(ro).prepareNew(overwrite: false) }
        }
    }

    @Test func badOptionsAreRefused() {
        var o = TrainingOptions()
        o.batchSize = 0
        // Options are named by field; the CLI spells them as flags.
        let positive = TrainingError.badOption("\(field: "batch_size") must be positive, got 0")
        #expect(throws: positive) { try o.validate() }
        #expect(positive.description == "batch_size must be positive, got 0" && positive.field == "batch_size")
        #expect(
            positive.message { "--" + $0.replacingOccurrences(of: "_", with: "-") }
                == "--batch-size must be positive, got 0")
        o = TrainingOptions()
        o.learningRate = .nan
        #expect(throws: TrainingError.self) { try o.validate() }
        o = TrainingOptions()
        o.maxSeqLength = 1
        #expect(throws: TrainingError.self) { try o.validate() }
    }
}
