// Options and input handling shared by the model commands: --model, --text/--input, --format.
import ArgumentParser
import Foundation
import Tokenizers
import Transformer

/// A failure the user can fix, printed as one line and exiting non-zero.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct ModelOption: ParsableArguments {
    @Option(name: .long, help: "A Loupe .h5 weight file or a Hugging Face model directory.")
    var model: String

    func load(task: Checkpoint.Task? = nil) throws -> LoadedModel {
        do {
            return try LoadedModel.load(URL(fileURLWithPath: model), task: task)
        } catch {
            throw CLIError(error.description)
        }
    }
}

struct TextInputOptions: ParsableArguments {
    @Option(name: .long, help: "A text to run (repeat for several).")
    var text: [String] = []

    @Option(
        name: .long,
        help: "A file with one text per line, or a TSV whose header has a `sentence` column (GLUE format).")
    var input: String?

    func validate() throws {
        if text.isEmpty && input == nil { throw ValidationError("give --text or --input") }
        if !text.isEmpty && input != nil { throw ValidationError("give --text or --input, not both") }
    }

    /// The texts, from the flags or the file (strict UTF-8: a bad byte names the file and line).
    func texts() throws -> [String] {
        guard let input else { return text }
        let lines: [String]
        do { lines = try TextFile.readLines(input) } catch { throw CLIError(error.description) }
        var rows = lines
        if rows.last == "" { rows.removeLast() }
        guard let header = rows.first else { throw CLIError("\(input): the file is empty") }
        let columns = header.split(separator: "\t", omittingEmptySubsequences: false)
        if columns.count > 1 {
            guard let col = columns.firstIndex(of: "sentence") else {
                throw CLIError("\(input):1: a TSV needs a `sentence` column; the header has \(columns)")
            }
            return try rows.dropFirst().enumerated().map { i, line in
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
                guard col < fields.count else {
                    throw CLIError("\(input):\(i + 2): missing the `sentence` column (\(fields.count) fields)")
                }
                return String(fields[col])
            }
        }
        return rows
    }
}

enum Format: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Prints one JSON object per line (JSON Lines), keys sorted so output is stable.
func printJSON(_ object: Any) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}

/// A warning on stderr, so that stdout stays machine-readable.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("loupe: warning: \(message)\n".utf8))
}

extension LoadedModel {
    /// `encode` that warns on stderr about each truncated text.
    func encodeWarning(_ texts: [String], truncate: Bool) throws -> (TokenBatch, [Encoding]) {
        do {
            let (batch, encodings, truncated) = try encode(texts, truncate: truncate)
            for (i, cut) in truncated.enumerated() where cut {
                warn("input \(i + 1) is longer than \(maxLength) tokens and was truncated (--no-truncate refuses it)")
            }
            return (batch, encodings)
        } catch {
            throw CLIError(error.description)
        }
    }
}

/// Softmax of one row, in Double for printing.
func probabilities(_ logits: ArraySlice<Float>) -> [Double] {
    let m = Double(logits.max() ?? 0)
    let e = logits.map { exp(Double($0) - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
}
