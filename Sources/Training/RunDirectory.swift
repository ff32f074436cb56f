// The run directory: checks before training, best.h5/last.h5 with optimiser state, and metrics.jsonl.
import Foundation
import Tensor
import Transformer

/// The files of one run: `best.h5`, `last.h5`, `metrics.jsonl` and TensorBoard `events.out.tfevents.*`.
public struct RunDirectory: Sendable {
    public let url: URL
    public var best: URL { url.appendingPathComponent("best.h5") }
    public var last: URL { url.appendingPathComponent("last.h5") }
    public var metrics: URL { url.appendingPathComponent("metrics.jsonl") }
    /// The TensorBoard event files, by name.
    var eventFiles: [URL] {
        ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).filter {
            $0.hasPrefix("events.out.tfevents.")
        }.sorted().map { url.appendingPathComponent($0) }
    }

    public init(_ url: URL) { self.url = url.standardizedFileURL }

    /// Creates the directory if needed, takes its lock (`RunLock`: a second trainer on the directory fails here)
    /// and proves it writable, so an unwritable or busy RUN_DIR fails before training. A directory that already
    /// holds a run (last.h5, or best.h5 / metrics.jsonl of a run killed before its first last.h5) is refused unless
    /// `overwrite`, which removes the previous run's files (and only those). The lock is held until the returned
    /// `RunLock` is released or freed; pass it to the `Trainer`.
    @discardableResult
    public func prepareNew(overwrite: Bool) throws(TrainingError) -> RunLock {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        let lock: RunLock
        if fm.fileExists(atPath: url.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw .runDirectory(path: url.path, detail: "exists and is not a directory") }
            lock = try RunLock(url)
            if let held = [last, best, metrics].first(where: { fm.fileExists(atPath: $0.path) }) {
                guard overwrite else {
                    let what: FieldText =
                        held == last
                        ? "already holds a run (last.h5); continue it with \(field: "resume") \(url.path), or pass \(field: "overwrite")"
                        : "holds \(held.lastPathComponent) of a run stopped before its first last.h5 (it cannot be resumed); pass \(field: "overwrite") to replace it"
                    throw .runDirectory(path: url.path, detail: what)
                }
                for name in (try? fm.contentsOfDirectory(atPath: url.path)) ?? []
                where ["best.h5", "last.h5", "metrics.jsonl"].contains(name) || name.hasPrefix("events.out.tfevents.") {
                    try? fm.removeItem(at: url.appendingPathComponent(name))
                }
            }
            removeStaleTemporaries()
        } else {
            try createDirectories()
            lock = try RunLock(url)
        }
        try checkWritable()
        return lock
    }

    /// `mkdir -p` with the failing component and errno in the error.
    private func createDirectories() throws(TrainingError) {
        var path = ""
        for part in url.path.split(separator: "/") {
            path += "/" + part
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
                guard isDir.boolValue else {
                    throw .runDirectory(
                        path: url.path, detail: "cannot create the run directory: \(path) is not a directory")
                }
            } else if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw .runDirectory(
                    path: url.path,
                    detail: "cannot create the run directory: \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Removes the temporary files of writes that a killed process left (`.last.h5.tmp-…`,
    /// `.metrics.jsonl.tmp-…`); the files themselves are never partial (only complete files are renamed).
    /// Called with the run's lock held, so no live writer's temporary file is taken away.
    func removeStaleTemporaries() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        where name.hasPrefix(".") && name.contains(".tmp-") {
            try? FileManager.default.removeItem(at: url.appendingPathComponent(name))
        }
    }

    /// Fails unless a file can be created in the directory.
    public func checkWritable() throws(TrainingError) {
        let probe = url.appendingPathComponent(".loupe-write-test-\(getpid())")
        let fd = open(probe.path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        if fd < 0 {
            throw .runDirectory(
                path: url.path, detail: "cannot write in the run directory: \(String(cString: strerror(errno)))")
        }
        close(fd)
        unlink(probe.path)
    }

    // MARK: metrics.jsonl

    /// Appends one record as a line of JSON (keys sorted) with one write(2), and fsyncs it: a reader never sees
    /// part of a line, except after a kill that stops the write between pages, which the next resume repairs.
    func appendMetrics(_ record: EvaluationRecord) throws(TrainingError) {
        guard let data = record.json else { throw .write("\(metrics.path): cannot encode \(record)") }
        try DurableFile.appendLine(data + Data("\n".utf8), to: metrics)
    }

    /// After a resume: drops the lines an interrupted run wrote after step `step`, and a partial last line a
    /// killed write left, so every evaluation appears once; the file is replaced atomically. Returns the number
    /// of bytes of a partial last line dropped (0 if none), for the trainer to mention.
    func truncateMetrics(after step: Int) throws(TrainingError) -> Int {
        guard let data = FileManager.default.contents(atPath: metrics.path) else { return 0 }
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let partial = lines.removeLast().count  // empty after a final "\n"
        // Only `step` is read, so lines of older runs with other keys are kept or dropped by step alike.
        struct Step: Decodable { var step: Int }
        let kept = lines.filter { line in
            guard let s = try? decodeJSON(Step.self, from: Data(line)) else { return false }  // JSONDecoder can trap
            return s.step <= step
        }
        var text = Data()
        for line in kept { text += line + [UInt8(ascii: "\n")] }
        if text != data { try DurableFile.replace(metrics, with: text) }
        return partial
    }

    /// Before a resume from step `step`: metrics.jsonl cut back to that step, and an unfinished last line or
    /// TensorBoard record the interrupted run left dropped; returns a note for each repair.
    func repairForResume(at step: Int) throws(TrainingError) -> [String] {
        var notes: [String] = []
        let torn = try truncateMetrics(after: step)
        if torn > 0 { notes.append("note: dropped an unfinished last line (\(torn) bytes) from \(metrics.path)") }
        for file in eventFiles {
            let cut = try TensorBoardWriter.dropPartialLastRecord(file)
            if cut > 0 { notes.append("note: dropped an unfinished last record (\(cut) bytes) from \(file.path)") }
        }
        return notes
    }

    // MARK: checkpoints

    /// Writes `bert` as a sequence-classification checkpoint with `template`'s config, labels and tokenizer.
    /// With `state`, the training state and the AdamW moments go in too (`/training`, `/optimizer`).
    func save(
        _ bert: Bert, template: Checkpoint, to file: URL, state: TrainingState?, optimizer: OptimizerState?,
        metrics: EvaluationRecord? = nil
    ) throws(TrainingError) {
        var tensors: [String: Tensor] = [:]
        var b = bert
        b.visitParameters { name, t in tensors[name] = t.detached }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint(
                config: template.config, task: .sequenceClassification, labels: template.labels,
                tokenizer: template.tokenizer,
                tensors: tensors, url: file)
        } catch { throw .write("\(file.path): \(error.description)") }
        var extras = LoupeFileExtras()
        if let state {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            guard let json = try? enc.encode(state) else {
                throw .write("\(file.path): cannot encode the training state")
            }
            extras.strings.append(("/training", "state", String(decoding: json, as: UTF8.self)))
        }
        if let json = metrics?.json {
            extras.strings.append(("/training", "metrics", String(decoding: json, as: UTF8.self)))
        }
        if let optimizer {
            extras.strings.append(("/optimizer", "type", "adamw"))
            extras.strings.append(("/optimizer", "step", String(optimizer.step)))
            for (name, m, v) in optimizer.moments {
                let shape = tensors[name]!.shape
                let stored = checkpoint.storedName(of: name)
                extras.tensors.append(("/optimizer/exp_avg/" + stored, Tensor(shape: shape, scalars: m)))
                extras.tensors.append(("/optimizer/exp_avg_sq/" + stored, Tensor(shape: shape, scalars: v)))
            }
        }
        do { try LoupeFileWriter.write(checkpoint, to: file, extras: extras) } catch { throw .write(error.description) }
    }

    /// Reads last.h5 for `--resume`: the model, the training state and the AdamW moments by parameter name.
    func loadForResume() throws(TrainingError) -> (Checkpoint, TrainingState, OptimizerState) {
        let file = last
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw .resume(path: url.path, detail: "no such directory")
        }
        removeStaleTemporaries()
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw .resume(path: url.path, detail: "no last.h5 (was this directory written by `loupe finetune`?)")
        }
        let checkpoint: Checkpoint
        do { checkpoint = try Checkpoint.load(file) } catch {
            throw .resume(path: file.path, detail: error.description)
        }
        do {
            let reader = try HDF5Reader(file)
            guard let json = try reader.stringAttribute("state", of: "/training"),
                let state = try? decodeJSON(TrainingState.self, from: Data(json.utf8))  // JSONDecoder can trap
            else {
                throw TrainingError.resume(
                    path: file.path, detail: "no readable /training state (a best.h5 or converted file?)")
            }
            guard let stepText = try reader.stringAttribute("step", of: "/optimizer"), let step = Int(stepText) else {
                throw TrainingError.resume(path: file.path, detail: "no /optimizer step")
            }
            guard case .bert(let config) = checkpoint.config else {
                throw TrainingError.resume(path: file.path, detail: "not a BERT checkpoint")
            }
            var moments: [(String, [Float], [Float])] = []
            for (name, _) in ModelSetup.bertParameterShapes(config) {
                let stored = checkpoint.storedName(of: name)
                let m = try reader.tensor("/optimizer/exp_avg/" + stored).scalars
                let v = try reader.tensor("/optimizer/exp_avg_sq/" + stored).scalars
                moments.append((name, m, v))
            }
            return (checkpoint, state, OptimizerState(step: step, moments: moments))
        } catch let e as TrainingError {
            throw e
        } catch {
            throw .resume(path: file.path, detail: "\(error)")
        }
    }
}

/// One evaluation: a line of metrics.jsonl, and `/training` `metrics` of best.h5. The JSON keys are the
/// snake_case names runs have always written, which scripts and earlier runs' readers expect.
public struct EvaluationRecord: Codable, Sendable, Equatable {
    public var step: Int
    /// Epochs done, fractional within the epoch (rounded to 3 decimals).
    public var epoch: Double
    public var accuracy: Double
    public var f1: Double
    public var macroF1: Double
    /// By class index.
    public var precision: [Double]
    public var recall: [Double]
    public var learningRate: Double
    public var trainSeconds: Double
    public var examplesPerSecond: Double
    /// Whether this evaluation improved on the best accuracy (and wrote best.h5).
    public var best: Bool
    /// Mean dev loss; nil (the key left out) when unknown or not finite, as JSON has no NaN.
    public var loss: Double?

    enum CodingKeys: String, CodingKey {
        case step, epoch, accuracy, f1, macroF1 = "macro_f1", precision, recall, learningRate = "learning_rate"
        case trainSeconds = "train_seconds", examplesPerSecond = "examples_per_second", best, loss
    }

    /// One line of compact JSON, keys sorted; nil if a value cannot be written (a NaN accuracy).
    var json: Data? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try? encoder.encode(self)
    }
}

/// AdamW's step count and moments by parameter name (exp_avg, exp_avg_sq as in PyTorch's state dict).
struct OptimizerState {
    var step: Int
    var moments: [(name: String, m: [Float], v: [Float])]
}

/// The BERT network of a sequence-classification checkpoint.
func bertOf(_ checkpoint: Checkpoint) throws(TrainingError) -> Bert {
    let model: LoadedModel
    do { model = try LoadedModel(checkpoint) } catch { throw .model(FieldText(error.description)) }
    guard case .bert(let bert) = model.network else { throw .model("\(checkpoint.url.path): not a BERT model") }
    return bert
}
