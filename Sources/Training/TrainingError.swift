// The typed errors of fine-tuning: bad data, bad run directories, bad models, failed writes, diverged training.
import Foundation
import Transformer

/// Why fine-tuning or evaluation could not start or had to stop: one line that names the file (and line) or
/// the option involved, and says what to do where that is not obvious. Options are named by their field
/// (`max_seq_len`, as `FinetuneRequest` spells them); front ends render them through `message(naming:)`.
public enum TrainingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// No data directory was given and none of the default places holds SST-2.
    case dataNotFound(searched: [String])
    /// A data file or directory does not exist or cannot be read.
    case unreadable(path: String, detail: FieldText)
    /// A TSV file has no header, or a header without one of the needed columns.
    case badHeader(file: String, detail: String)
    /// A TSV file has a header but no examples.
    case noExamples(file: String)
    /// A TSV row is malformed: too few fields, or a label that is not one of the class ids.
    case badRow(file: String, line: Int, detail: String)
    /// RUN_DIR cannot be created or written, or already holds a run.
    case runDirectory(path: String, detail: FieldText)
    /// The model could not be loaded, built or used for classification.
    case model(FieldText)
    /// An option value that cannot work (negative epochs, a resume that conflicts with the stored run, ...).
    case badOption(FieldText)
    /// `--resume`: the run directory has no usable last.h5 or its training state is damaged.
    case resume(path: String, detail: String)
    /// A checkpoint, metrics or event file could not be written.
    case write(String)
    /// The loss (or the gradient norm) became NaN or infinite; training stopped before applying the update.
    case nonFinite(step: Int, what: String, lastCheckpoint: String?)

    /// The message with option fields named by `name` (the CLI passes one that gives `--flag-name`).
    public func message(naming name: (String) -> String) -> String {
        switch self {
        case .dataNotFound(let searched):
            return
                "no SST-2 data found (looked in \(searched.joined(separator: ", "))); pass \(name("data")) DIR with GLUE "
                + "train.tsv and dev.tsv, set LOUPE_DATA_DIR, or download it with `python3 weights-scripts/get_sst2.py DIR`"
        case .unreadable(let path, let detail): return "\(path): \(detail.message(naming: name))"
        case .badHeader(let file, let detail): return "\(file):1: \(detail)"
        case .noExamples(let file): return "\(file): the file has no examples (an empty file, or a header only)"
        case .badRow(let file, let line, let detail): return "\(file):\(line): \(detail)"
        case .runDirectory(let path, let detail): return "\(path): \(detail.message(naming: name))"
        case .model(let detail): return detail.message(naming: name)
        case .badOption(let detail): return detail.message(naming: name)
        case .resume(let path, let detail): return "\(path): cannot resume: \(detail)"
        case .write(let detail): return detail
        case .nonFinite(let step, let what, let last):
            return "training stopped at step \(step): the \(what) is not finite (lower \(name("lr"))?); "
                + (last.map { "the last good checkpoint is \($0)" } ?? "no checkpoint had been written yet")
        }
    }
}

extension TrainingError {
    public var description: String { message { $0 } }

    /// The option a front end should point at, if the message names one (the first it names).
    public var field: String? {
        switch self {
        case .dataNotFound: return "data"
        case .nonFinite: return "lr"
        case .unreadable(_, let d), .runDirectory(_, let d), .model(let d), .badOption(let d): return d.fields.first
        default: return nil
        }
    }
}
