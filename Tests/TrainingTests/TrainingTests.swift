// Fine-tuning behaviour: overfitting, bit-identical resume, NaN handling, initialisation, batching, metrics.
import Foundation
import Tensor
import Testing
import Training
import Transformer

@Suite struct TrainingLoopTests {
    /// bert-tiny sizes over the 1,688-token vocabulary (fast), freshly initialised from `seed`.
    func tinyModel(_ dir: URL, seed: UInt64 = 0) throws -> Checkpoint {
        try ModelSetup.fresh(
            .bertTiny, vocabulary: smallVocabulary(in: dir), labels: ["negative", "positive"], seed: seed)
    }

    @Test func tinyModelOverfits64Examples() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = randomExamples(64, seed: 7)  // random labels: only memorising fits them
        var o = TrainingOptions()
        o.epochs = 40
        o.batchSize = 16
        o.learningRate = 1e-3
        o.warmupRatio = 0.05
        o.dropout = 0
        o.evalEvery = 1_000_000
        let run = RunDirectory(dir.appendingPathComponent("run"))
        try run.prepareNew(overwrite: false)
        let trainer = try Trainer(
            model: tinyModel(dir), modelName: "bert-tiny", train: data, dev: data, options: o, run: run)
        let summary = try trainer.train()
        #expect(summary.steps == 160)
        #expect(summary.final?.accuracy == 1.0)
        // best.h5 is a working classifier with the labels and tokenizer inside.
        let best = try LoadedModel.load(run.best)
        #expect(best.labels == ["negative", "positive"])
        guard case .bert(let b) = best.network else { Issue.record("not BERT"); return }
        let m = Evaluator.evaluate(
            b, EncodedDataset(data, tokenizer: best.tokenizer, maxLength: 128), labels: best.labels, padID: best.padID)
        #expect(m.accuracy == 1.0)
    }

    /// Options for the resume tests: 2 epochs of 5 batches (the last one partial), dropout on, an evaluation
    /// mid-epoch, so the data order, dropout stream, optimiser moments and schedule all matter.
    func resumeOptions() -> TrainingOptions {
        var o = TrainingOptions()
        o.epochs = 2
        o.batchSize = 8
        o.learningRate = 2e-3
        o.evalEvery = 3
        o.seed = 11
        return o
    }

    @Test func killAndResumeGivesIdenticalWeights() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let train = randomExamples(36, seed: 1), dev = randomExamples(12, seed: 2)
        let model = try tinyModel(dir, seed: 3)

        let straightRun = RunDirectory(dir.appendingPathComponent("straight"))
        try straightRun.prepareNew(overwrite: false)
        let straight = try Trainer(
            model: model, modelName: "tiny", train: train, dev: dev, options: resumeOptions(), run: straightRun)
        let full = try straight.train()
        #expect(full.steps == 10)

        // Interrupted after step 4 (mid-epoch, between evaluations), then resumed from last.h5 in a new Trainer.
        let splitRun = RunDirectory(dir.appendingPathComponent("split"))
        try splitRun.prepareNew(overwrite: false)
        let first = try Trainer(
            model: model, modelName: "tiny", train: train, dev: dev, options: resumeOptions(), run: splitRun)
        first.interruptAfterStep = 4
        let partial = try first.train()
        #expect(partial.interrupted && partial.steps == 4)
        #expect(parameters(first.bert).contains { !sameBits($0.value, parameters(straight.bert)[$0.key]!) })
        // A temporary file of a checkpoint write cut short by the kill is cleaned up on resume.
        let stale = splitRun.url.appendingPathComponent(".last.h5.tmp-1-2")
        write("partial", to: stale)
        let second = try Trainer(resume: splitRun, train: train, dev: dev)
        #expect(!FileManager.default.fileExists(atPath: stale.path))
        let rest = try second.train()
        #expect(rest.steps == 10)

        let a = parameters(straight.bert), b = parameters(second.bert)
        #expect(a.count == b.count)
        for (name, t) in a { #expect(sameBits(t, b[name]!), "\(name) differs after resume") }
        // The files agree too: last.h5 and best.h5 weights, and every metrics.jsonl accuracy.
        for file in ["last.h5", "best.h5"] {
            let x = try Checkpoint.load(straightRun.url.appendingPathComponent(file))
            let y = try Checkpoint.load(splitRun.url.appendingPathComponent(file))
            for (k, t) in x.tensors { #expect(sameBits(t, y.tensors[k]!), "\(file) \(k)") }
        }
        func accuracies(_ r: RunDirectory) throws -> [[Double]] {
            try String(contentsOf: r.metrics, encoding: .utf8).split(separator: "\n").map { line in
                let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                return [Double(o["step"] as! Int), o["accuracy"] as! Double, o["loss"] as! Double]
            }
        }
        #expect(try accuracies(straightRun) == accuracies(splitRun))
        #expect(try accuracies(straightRun).map { Int($0[0]) } == [3, 5, 6, 9, 10])
    }

    @Test func resumeRefusesOtherDataAndFinishedRunsDoNothing() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let train = randomExamples(16, seed: 1), dev = randomExamples(8, seed: 2)
        let run = RunDirectory(dir.appendingPathComponent("run"))
        try run.prepareNew(overwrite: false)
        var o = resumeOptions()
        o.epochs = 1
        let t = try Trainer(model: tinyModel(dir), modelName: "tiny", train: train, dev: dev, options: o, run: run)
        _ = try t.train()
        #expect(throws: TrainingError.self) { try Trainer(resume: run, train: randomExamples(16, seed: 9), dev: dev) }
        let again = try Trainer(resume: run, train: train, dev: dev)
        let s = try again.train()
        #expect(s.steps == 2 && s.final == nil)
        // A new run in the same directory needs --overwrite.
        #expect(throws: TrainingError.self) { try run.prepareNew(overwrite: false) }
        try run.prepareNew(overwrite: true)
        #expect(!FileManager.default.fileExists(atPath: run.last.path))
    }

    @Test func nonFiniteLossStopsAndKeepsTheLastGoodCheckpoint() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = randomExamples(32, seed: 4)
        var o = TrainingOptions()
        o.batchSize = 8
        o.learningRate = 1e30  // the first update sends weights to ±1e30; the next forward pass overflows
        o.warmupRatio = 0
        o.saveEvery = 1
        let run = RunDirectory(dir.appendingPathComponent("run"))
        try run.prepareNew(overwrite: false)
        let t = try Trainer(model: tinyModel(dir), modelName: "tiny", train: data, dev: data, options: o, run: run)
        var stopped: TrainingError?
        do { _ = try t.train() } catch { stopped = error }
        guard case .nonFinite(let step, _, let last) = stopped else {
            Issue.record("expected a non-finite stop, got \(String(describing: stopped))")
            return
        }
        #expect(step == 2)
        #expect(last == run.last.path)
        #expect(stopped!.description.contains("not finite") && stopped!.description.contains("last.h5"))
        // last.h5 is the step-1 state: loadable, finite, and resumable.
        let kept = try Checkpoint.load(run.last)
        #expect(kept.tensors.values.allSatisfy { $0.scalars.allSatisfy(\.isFinite) })
        let r = try Trainer(resume: run, train: data, dev: data)
        #expect(throws: TrainingError.self) { try r.train() }  // the same step diverges again, deterministically
    }
}

@Suite struct ModelSetupTests {
    @Test func freshInitialisationFollowsTransformers() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let c = try ModelSetup.fresh(
            .bertTiny, vocabulary: smallVocabulary(in: dir), labels: ["negative", "positive"], seed: 5)
        let bert = c.config.bert!
        #expect(
            (bert.numHiddenLayers, bert.hiddenSize, bert.numAttentionHeads, bert.intermediateSize) == (2, 128, 2, 512))
        #expect(c.task == .sequenceClassification && c.labels == ["negative", "positive"])
        let q = c.tensors["encoder.layer.0.attention.self.query.weight"]!.scalars
        let mean = q.reduce(0, +) / Float(q.count)
        let std = (q.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(q.count)).squareRoot()
        #expect(abs(mean) < 0.002 && abs(std - 0.02) < 0.001)
        #expect(c.tensors["encoder.layer.1.output.LayerNorm.weight"]!.scalars.allSatisfy { $0 == 1 })
        #expect(c.tensors["classifier.bias"]!.scalars.allSatisfy { $0 == 0 })
        #expect(c.tensors["embeddings.word_embeddings.weight"]!.slice(axis: 0, 0..<1).scalars.allSatisfy { $0 == 0 })  // [PAD]
        let again = try ModelSetup.fresh(
            .bertTiny, vocabulary: smallVocabulary(in: dir), labels: ["negative", "positive"], seed: 5)
        #expect(c.tensors.allSatisfy { sameBits($0.value, again.tensors[$0.key]!) })
    }

    @Test func pretrainedEncoderGetsAClassificationHead() throws {
        // The masked-LM fixture: its cls.* head is dropped, a pooler and classifier are added, the encoder is kept.
        let mlm = try Checkpoint.load(fixturesDirectory.appendingPathComponent("bert_tiny_mlm.h5"))
        let c = try ModelSetup.withClassificationHead(mlm, labels: ["negative", "positive"], seed: 0)
        #expect(c.task == .sequenceClassification)
        #expect(c.tensors["classifier.weight"]?.shape == [2, 128])
        #expect(c.tensors.keys.allSatisfy { !$0.hasPrefix("cls.") })
        #expect(
            sameBits(
                c.tensors["encoder.layer.1.output.dense.weight"]!, mlm.tensors["encoder.layer.1.output.dense.weight"]!))
        // A classifier with two classes is kept as it is.
        let cls = try Checkpoint.load(fixturesDirectory.appendingPathComponent("bert_tiny_cls.h5"))
        let kept = try ModelSetup.withClassificationHead(cls, labels: ["negative", "positive"], seed: 0)
        #expect(sameBits(kept.tensors["classifier.weight"]!, cls.tensors["classifier.weight"]!))
        #expect(throws: TrainingError.self) {
            try ModelSetup.withClassificationHead(
                try Checkpoint.load(fixturesDirectory.appendingPathComponent("gpt2_tiny.h5")), labels: ["a", "b"],
                seed: 0)
        }
    }
}

@Suite struct BatchingAndMetricsTests {
    @Test func lengthGroupedBatchesCoverEveryExampleOnceInASeededOrder() {
        var rng = RandomGenerator(seed: 3)
        let lengths = (0..<3000).map { _ in 3 + Int(rng.next() % 60) }
        let plan = BatchPlan.batches(lengths: lengths, batchSize: 32, seed: 1, epoch: 0)
        #expect(plan.count == 94)
        #expect(plan.flatMap { $0 }.sorted() == Array(0..<3000))
        #expect(plan.dropLast().allSatisfy { $0.count == 32 })
        #expect(plan == BatchPlan.batches(lengths: lengths, batchSize: 32, seed: 1, epoch: 0))
        #expect(plan != BatchPlan.batches(lengths: lengths, batchSize: 32, seed: 1, epoch: 1))
        #expect(plan != BatchPlan.batches(lengths: lengths, batchSize: 32, seed: 2, epoch: 0))
        // Inside a batch lengths are close: padding waste is far below a random batch's.
        let waste = plan.map { b in
            let longest = b.map { lengths[$0] }.max()!
            return b.map { longest - lengths[$0] }.reduce(0, +)
        }.reduce(0, +)
        #expect(Double(waste) / 3000 < 2)
        #expect(lengths[plan[0][0]] == lengths.max()!)  // the longest batch comes first
    }

    @Test func metricsMatchHandComputedValues() {
        // true:      0 0 0 0 1 1 1 1 1 1
        // predicted: 0 0 0 1 1 1 1 1 0 0
        let m = ClassificationMetrics(
            predictions: [0, 0, 0, 1, 1, 1, 1, 1, 0, 0], targets: [0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
            labels: ["neg", "pos"])
        #expect(m.accuracy == 0.7)
        #expect(m.confusion == [[3, 1], [2, 4]])
        #expect(abs(m.perClass[0].precision - 0.6) < 1e-12 && abs(m.perClass[0].recall - 0.75) < 1e-12)
        #expect(abs(m.perClass[1].precision - 0.8) < 1e-12 && abs(m.perClass[1].recall - 4.0 / 6) < 1e-12)
        let f1pos = 2 * 0.8 * (4.0 / 6) / (0.8 + 4.0 / 6)
        #expect(abs(m.f1 - f1pos) < 1e-12)
        #expect(abs(m.macroF1 - (f1pos + 2 * 0.6 * 0.75 / 1.35) / 2) < 1e-12)
        #expect(m.report.contains("confusion matrix"))
    }
}
