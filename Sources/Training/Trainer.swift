// The fine-tuning loop: AdamW with linear warm-up/decay, dropout, clipping, evaluation, checkpoints, resume.
//
// Behaviour follows transformers' `Trainer` where the issue is silent: weight decay on every parameter but
// biases and LayerNorm weights (`get_decay_parameter_names`), lr for optimiser step k = schedule(k)
// (`get_linear_schedule_with_warmup`, stepped after `optimizer.step()`), warm-up steps = ceil(ratio · total),
// gradient clipping by global norm before the step, evaluation at each epoch end (and every `evalEvery`
// steps), the best model by dev accuracy, early stopping after `patience` evaluations without improvement.
import Foundation
import Tensor
import Tokenizers
import Transformer

/// What a finished (or stopped) run reports.
public struct TrainingSummary: Sendable {
    public var steps: Int
    public var epochsCompleted: Int
    /// The last evaluation on dev.
    public var final: ClassificationMetrics?
    public var bestAccuracy: Double?
    public var bestStep: Int?
    public var stoppedEarly: Bool
    /// Seconds spent in training steps (evaluation and checkpointing excluded), over the whole run.
    public var trainSeconds: Double
    /// Wall time of this invocation.
    public var wallSeconds: Double
    public var examplesPerSecond: Double
    /// Stopped by `interruptAfterStep`, not finished.
    public var interrupted = false
}

/// Fine-tunes a BERT sequence classifier on labelled sentences, writing a run directory.
public final class Trainer {
    public let run: RunDirectory
    /// Config, labels and tokenizer of the model (its tensors are the starting weights).
    public let template: Checkpoint
    /// The model being trained.
    public private(set) var bert: Bert
    public var reporter: TrainingReporter?
    public var options: TrainingOptions { state.options }

    var state: TrainingState
    private let trainSet: EncodedDataset
    private let devSet: EncodedDataset
    private let padID: Int
    private let labels: [String]
    private let names: [String]
    private let decays: [Bool]
    private var decayOptimizer: AdamW
    private var plainOptimizer: AdamW
    private let dropout: Dropout?
    private let schedule: LinearWarmupSchedule
    public let totalSteps: Int
    public let batchesPerEpoch: Int
    private var tensorBoard: TensorBoardWriter?
    private let resumedFrom: Int?
    /// Stop right after this optimiser step, once last.h5 holds it, as if the process were killed there
    /// (for testing `--resume`); `train()` then returns with `interrupted` set.
    public var interruptAfterStep: Int?
    private var lastCheckpoint: String?
    private var lastCheckpointStep: Int?
    /// The run directory's lock, held until `train()` returns (or the trainer is freed).
    private let lock: RunLock

    /// A new run from `model` (see `ModelSetup.prepare`) in `run`, which must already be prepared
    /// (`RunDirectory.prepareNew`); `lock` is the lock that returned, or nil to take the directory's lock here.
    public convenience init(
        model: Checkpoint, modelName: String, train: [LabeledExample], dev: [LabeledExample], options: TrainingOptions,
        run: RunDirectory, lock: RunLock? = nil
    ) throws(TrainingError) {
        try options.validate()
        let used = Array(train.prefix(options.trainLimit ?? train.count))
        let state = TrainingState(options: options, model: modelName, dataDigest: dataDigest(used))
        let held: RunLock
        if let lock { held = lock } else { held = try RunLock(run.url) }
        try self.init(template: model, state: state, optimizer: nil, train: used, dev: dev, run: run, lock: held)
    }

    /// Continues the run in `run` from its last.h5: same options, data order, dropout stream and optimiser
    /// state, so the final weights equal those of an uninterrupted run. `train` and `dev` must be the data
    /// the run started with (checked by digest).
    public convenience init(resume run: RunDirectory, train: [LabeledExample], dev: [LabeledExample])
        throws(TrainingError)
    {
        guard FileManager.default.fileExists(atPath: run.url.path) else {
            throw .resume(path: run.url.path, detail: "no such directory")
        }
        let lock = try RunLock(run.url)  // before anything is read: another trainer may be writing last.h5
        let (checkpoint, state, optimizer) = try run.loadForResume()
        let used = Array(train.prefix(state.options.trainLimit ?? train.count))
        guard dataDigest(used) == state.dataDigest else {
            throw .resume(path: run.url.path, detail: "the training data differ from the data this run started with")
        }
        try self.init(
            template: checkpoint, state: state, optimizer: optimizer, train: used, dev: dev, run: run, lock: lock)
    }

    private init(
        template: Checkpoint, state: TrainingState, optimizer: OptimizerState?, train: [LabeledExample],
        dev: [LabeledExample], run: RunDirectory, lock: RunLock
    ) throws(TrainingError) {
        guard template.task == .sequenceClassification, let labels = template.labels else {
            throw .model("\(template.url.path): not a sequence-classification model")
        }
        let model: LoadedModel
        do { model = try LoadedModel(template) } catch { throw .model(FieldText(error.description)) }
        guard case .bert(let bert) = model.network else { throw .model("\(template.url.path): not a BERT model") }
        for (file, data) in [("train", train), ("dev", dev)] {
            if let bad = data.first(where: { $0.label >= labels.count }) {
                throw .badOption("\(file) label \(bad.label) is outside the model's \(labels.count) classes \(labels)")
            }
        }
        let o = state.options
        self.run = run
        self.lock = lock
        self.template = template
        self.bert = bert
        self.state = state
        self.labels = labels
        padID = model.padID
        self.trainSet = EncodedDataset(
            train, tokenizer: model.tokenizer, maxLength: min(o.maxSeqLength, model.maxLength))
        self.devSet = EncodedDataset(dev, tokenizer: model.tokenizer, maxLength: min(o.maxSeqLength, model.maxLength))
        let parameters = bert.heldParameters  // in visiting order
        let names = parameters.map(\.name)
        self.names = names
        let decays = parameters.map(\.kind.takesWeightDecay)
        self.decays = decays
        decayOptimizer = AdamW(learningRate: o.learningRate, weightDecay: o.weightDecay)
        plainOptimizer = AdamW(learningRate: o.learningRate, weightDecay: 0)
        if let optimizer {
            let byName = Dictionary(uniqueKeysWithValues: optimizer.moments.map { ($0.name, ($0.m, $0.v)) })
            let decayed = names.indices.filter { decays[$0] }.map { byName[names[$0]]! }
            let plain = names.indices.filter { !decays[$0] }.map { byName[names[$0]]! }
            decayOptimizer.restore(step: optimizer.step, m: decayed.map(\.0), v: decayed.map(\.1))
            plainOptimizer.restore(step: optimizer.step, m: plain.map(\.0), v: plain.map(\.1))
        }
        if o.dropout > 0 {
            let d = Dropout(p: o.dropout, seed: 0)
            d.generator = state.dropoutGenerator
            dropout = d
        } else {
            dropout = nil
        }
        batchesPerEpoch = (self.trainSet.count + o.batchSize - 1) / o.batchSize
        totalSteps = min(o.maxSteps ?? Int.max, o.epochs * batchesPerEpoch)
        schedule = LinearWarmupSchedule(
            peak: o.learningRate, warmupSteps: Int((o.warmupRatio * Double(totalSteps)).rounded(.up)),
            totalSteps: totalSteps)
        resumedFrom = optimizer == nil ? nil : state.globalStep
        lastCheckpoint = optimizer == nil ? nil : run.last.path
    }

    private func say(_ line: String) { reporter?.message(line) }

    /// Trains to the end (or to early stopping), evaluating and checkpointing on the way.
    public func train() throws(TrainingError) -> TrainingSummary {
        let wallStart = Date()
        let o = options
        defer { lock.release() }
        if state.finished {
            say("the run in \(run.url.path) has already finished (step \(state.globalStep)); nothing to do")
            return summary(final: nil, wallStart: wallStart)
        }
        if let from = resumedFrom {
            for note in try run.repairForResume(at: from) { say(note) }
            say(
                "resuming at step \(from) (epoch \(state.epoch + 1), batch \(state.batchInEpoch + 1)) from \(run.last.path)"
            )
        }
        tensorBoard = try TensorBoardWriter(directory: run.url, purgeFrom: resumedFrom.map { $0 + 1 })
        say(
            "training \(state.model): \(trainSet.count) examples, \(batchesPerEpoch) steps per epoch, \(totalSteps) steps, "
                + "batch \(o.batchSize), lr \(o.learningRate), warm-up \(schedule.warmupSteps) steps")
        var final: ClassificationMetrics?
        var recentLoss: [Double] = []
        var lossSinceLog = 0.0, stepsSinceLog = 0
        let clock = ContinuousClock()
        runLoop: while state.epoch < o.epochs && state.globalStep < totalSteps {
            // The plan of this epoch only: when the epoch ends the outer loop draws the next epoch's, as a run
            // resumed there does (the plan once served every epoch of an uninterrupted run, so a resume in a
            // later epoch diverged from it).
            let epoch = state.epoch
            let plan = BatchPlan.batches(
                lengths: trainSet.ids.map(\.count), batchSize: o.batchSize, seed: o.seed, epoch: epoch)
            while state.epoch == epoch && state.batchInEpoch < plan.count && state.globalStep < totalSteps {
                let rows = plan[state.batchInEpoch]
                let lr = schedule.learningRate(at: state.globalStep)
                let started = clock.now
                let loss = try step(rows, learningRate: lr)
                let elapsed = clock.now - started
                state.trainSeconds +=
                    Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
                state.examplesSeen += rows.count
                state.globalStep += 1
                state.batchInEpoch += 1
                if let dropout { state.dropoutGenerator = dropout.generator }
                recentLoss.append(Double(loss))
                if recentLoss.count > o.logEvery { recentLoss.removeFirst() }
                lossSinceLog += Double(loss)
                stepsSinceLog += 1
                if state.globalStep % o.logEvery == 0 {
                    try tensorBoard?.scalars(
                        [("train/loss", Float(lossSinceLog / Double(stepsSinceLog))), ("train/learning_rate", lr)],
                        step: state.globalStep)
                    lossSinceLog = 0
                    stepsSinceLog = 0
                }
                let rate = Double(state.examplesSeen) / max(state.trainSeconds, 1e-9)
                reporter?.progress(
                    TrainingProgress(
                        epoch: state.epoch + 1, epochs: o.epochs, step: state.globalStep, totalSteps: totalSteps,
                        loss: recentLoss.reduce(0, +) / Double(recentLoss.count), learningRate: lr,
                        examplesPerSecond: rate,
                        etaSeconds: Double(totalSteps - state.globalStep) * Double(o.batchSize) / rate))
                if state.batchInEpoch == plan.count {
                    state.epoch += 1
                    state.batchInEpoch = 0
                }
                let epochEnd = state.batchInEpoch == 0
                if epochEnd || (o.evalEvery.map { state.globalStep % $0 == 0 } ?? false)
                    || state.globalStep == totalSteps
                {
                    final = try evaluateAndSave()
                    if state.stoppedEarly { break runLoop }
                } else if let every = o.saveEvery, state.globalStep % every == 0 {
                    try saveLast()
                }
                if state.globalStep == interruptAfterStep {
                    if lastCheckpointStep != state.globalStep { try saveLast() }
                    var s = summary(final: final, wallStart: wallStart)
                    s.interrupted = true
                    return s
                }
            }
        }
        if !state.finished || state.lastEvaluationStep != state.globalStep {
            state.finished = true
            if state.lastEvaluationStep != state.globalStep { final = try evaluateAndSave() } else { try saveLast() }
        }
        let s = summary(final: final, wallStart: wallStart)
        say(
            "finished: \(s.steps) steps in \(formatDuration(s.trainSeconds)) of training (\(Int(s.examplesPerSecond.rounded())) examples/s)"
                + (final.map { String(format: "; final dev accuracy %.4f", $0.accuracy) } ?? "")
                + (s.bestAccuracy.map { String(format: "; best %.4f at step %d", $0, s.bestStep ?? 0) } ?? ""))
        return s
    }

    private func summary(final: ClassificationMetrics?, wallStart: Date) -> TrainingSummary {
        TrainingSummary(
            steps: state.globalStep, epochsCompleted: state.epoch, final: final, bestAccuracy: state.bestAccuracy,
            bestStep: state.bestStep, stoppedEarly: state.stoppedEarly, trainSeconds: state.trainSeconds,
            wallSeconds: Date().timeIntervalSince(wallStart),
            examplesPerSecond: Double(state.examplesSeen) / max(state.trainSeconds, 1e-9))
    }

    /// One optimiser step on the batch `rows`; returns the batch's mean loss. A non-finite loss or gradient
    /// norm stops training before the weights change.
    func step(_ rows: [Int], learningRate: Float) throws(TrainingError) -> Float {
        let b = trainSet.batch(rows, padID: padID)
        let batch = TokenBatch(ids: b.ids, attentionMask: b.mask, batchSize: rows.count, length: b.length)
        // Forward and backward in their own scope, so the tape (and the tensors its pullbacks hold) is freed
        // before the update and AdamW updates the parameters' storage in place.
        let (loss, gradientsOrNil) = lossAndGradients(batch, labels: b.labels)
        guard var gradients = gradientsOrNil, loss.isFinite else {
            throw .nonFinite(step: state.globalStep + 1, what: "loss (\(loss))", lastCheckpoint: lastCheckpoint)
        }
        // Clipping (torch's clip_grad_norm_) without a scaling pass: AdamW reads each gradient as g·coef + 0,
        // the value the scaled copy would have held.
        let norm = gradientNorm(gradients)
        guard norm.isFinite else {
            throw .nonFinite(
                step: state.globalStep + 1, what: "gradient norm (\(norm))", lastCheckpoint: lastCheckpoint)
        }
        let coef = clipCoefficient(norm: norm, maxNorm: options.maxGradNorm)
        let gradientScale: Float? = coef < 1 ? coef : nil
        var decayed: [Tensor] = [], plain: [Tensor] = []
        var decayedGrads: [Tensor] = [], plainGrads: [Tensor] = []
        var i = 0
        bert.visitParameters { _, t in
            if decays[i] {
                decayed.append(t)
                decayedGrads.append(gradients[i])
            } else {
                plain.append(t)
                plainGrads.append(gradients[i])
            }
            t = Tensor.zeros([0])  // drop the model's reference: the optimiser then owns the storage
            i += 1
        }
        gradients = []
        decayOptimizer.learningRate = learningRate
        plainOptimizer.learningRate = learningRate
        decayOptimizer.update(&decayed, gradients: decayedGrads, gradientScale: gradientScale)
        plainOptimizer.update(&plain, gradients: plainGrads, gradientScale: gradientScale)
        // The word-embedding gradient's 15.6 MB buffer serves the next step's backward pass (`recycle` keeps only
        // buffers of at least `GradientBuffers.minimumCount` and empties the rest, which are dropped here anyway).
        for k in decayedGrads.indices { GradientBuffers.recycle(&decayedGrads[k]) }
        for k in plainGrads.indices { GradientBuffers.recycle(&plainGrads[k]) }
        var (di, pi) = (0, 0)
        i = 0
        bert.visitParameters { _, t in
            if decays[i] {
                t = decayed[di]
                di += 1
            } else {
                t = plain[pi]
                pi += 1
            }
            i += 1
        }
        return loss
    }

    private func lossAndGradients(_ batch: TokenBatch, labels: [Int]) -> (Float, [Tensor]?) {
        let tape = GradientTape()
        var network = Network.bert(bert)
        let watched = network.watchParameters(on: tape)
        guard case .bert(let tracked) = network else { return (.nan, nil) }
        let loss = tape.record {
            crossEntropy(tracked(batch, dropout: dropout, pooledOnly: true).logits!, labels: labels)
        }
        let value = loss.item
        guard value.isFinite else { return (value, nil) }
        return (value, tape.gradients(of: loss, wrt: names.map { watched[$0]! }).map(\.detached))
    }

    /// Evaluates on dev, logs, writes best.h5 when accuracy improved and always last.h5.
    private func evaluateAndSave() throws(TrainingError) -> ClassificationMetrics {
        let o = options
        let m = Evaluator.evaluate(bert, devSet, labels: labels, padID: padID, batchSize: o.evalBatchSize)
        let step = state.globalStep
        state.lastEvaluationStep = step
        let improved = state.bestAccuracy.map { m.accuracy > $0 } ?? true
        if improved {
            state.bestAccuracy = m.accuracy
            state.bestStep = step
            state.evaluationsWithoutImprovement = 0
        } else {
            state.evaluationsWithoutImprovement += 1
            if let patience = o.earlyStoppingPatience, state.evaluationsWithoutImprovement >= patience {
                state.stoppedEarly = true
            }
        }
        // The last evaluation of the run marks it finished in the last.h5 it writes (no second write).
        if step == totalSteps || state.epoch == o.epochs || state.stoppedEarly { state.finished = true }
        let epoch = Double(state.epoch) + Double(state.batchInEpoch) / Double(max(batchesPerEpoch, 1))
        let lr = schedule.learningRate(at: max(step - 1, 0))
        let record = EvaluationRecord(
            step: step, epoch: (epoch * 1000).rounded() / 1000, accuracy: m.accuracy, f1: m.f1, macroF1: m.macroF1,
            precision: m.perClass.map(\.precision), recall: m.perClass.map(\.recall), learningRate: Double(lr),
            trainSeconds: (state.trainSeconds * 1000).rounded() / 1000,
            examplesPerSecond: (Double(state.examplesSeen) / max(state.trainSeconds, 1e-9)).rounded(),
            best: improved, loss: m.loss.flatMap { $0.isFinite ? $0 : nil })
        // best.h5 is durable before anything says it was saved (the metrics row's `best`, the log line), and the
        // row before last.h5: a run killed in between resumes from an earlier last.h5, drops the row and redoes
        // this evaluation (identically), rewriting best.h5.
        if improved {
            try run.save(bert, template: template, to: run.best, state: nil, optimizer: nil, metrics: record)
        }
        try run.appendMetrics(record)
        try tensorBoard?.scalars(
            [("eval/accuracy", Float(m.accuracy)), ("eval/f1", Float(m.f1)), ("eval/loss", Float(m.loss ?? .nan))],
            step: step)
        say(
            String(
                format: "eval step %d (epoch %.2f): dev accuracy %.4f  f1 %.4f  loss %.4f", step, epoch, m.accuracy,
                m.f1, m.loss ?? .nan)
                + (improved ? "  (best so far, saved best.h5)" : "")
                + (state.stoppedEarly
                    ? "  — no improvement in \(state.evaluationsWithoutImprovement) evaluations, stopping early" : ""))
        try saveLast()
        return m
    }

    /// Writes last.h5 with the training state and optimiser moments.
    private func saveLast() throws(TrainingError) {
        var moments: [(name: String, m: [Float], v: [Float])] = []
        var (di, pi) = (0, 0)
        for (i, name) in names.enumerated() {
            let opt = decays[i] ? decayOptimizer : plainOptimizer
            let j = decays[i] ? di : pi
            if decays[i] { di += 1 } else { pi += 1 }
            if opt.m.isEmpty {
                let n = bert.parameterCount(name)
                moments.append((name, [Float](repeating: 0, count: n), [Float](repeating: 0, count: n)))
            } else {
                moments.append((name, opt.m[j], opt.v[j]))
            }
        }
        try run.save(
            bert, template: template, to: run.last, state: state,
            optimizer: OptimizerState(step: decayOptimizer.step, moments: moments))
        lastCheckpoint = run.last.path
        lastCheckpointStep = state.globalStep
    }
}

extension Bert {
    /// The number of scalars in the parameter `name`.
    fileprivate func parameterCount(_ name: String) -> Int {
        var copy = self
        var n = 0
        copy.visitParameters { key, t in if key == name { n = t.count } }
        return n
    }
}
