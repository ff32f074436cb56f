// What the model commands share: --model, the examples (--text / --input), JSON printing, and errors in flag words.
import ArgumentParser
import Foundation
import Interpret
import Tensor
import Transformer
import Workbench

/// A failure the user can fix, printed as one line and exiting non-zero.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A library option field as this tool spells it: `max_tokens` → `--max-tokens`.
func flag(_ field: String) -> String { "--" + field.replacingOccurrences(of: "_", with: "-") }

/// Runs a library call, turning its typed error into one line that names our flags.
func library<R>(_ body: () throws(WorkbenchError) -> R) throws -> R {
    do { return try body() } catch { throw CLIError(error.message(naming: flag)) }
}

struct ModelOption: ParsableArguments {
    @Option(
        name: .long, help: "A Loupe .h5 weight file, a Hugging Face model directory or a fine-tuning run directory.")
    var model: String

    /// `precision` nil: the file's own (int8 for a file written by `loupe quantize`, else fp32).
    func load(_ precision: Precision?) throws -> LoadedModel {
        try library { () throws(WorkbenchError) in try Workbench.loadModel(model, precision: precision) }
    }
}

extension Precision: ExpressibleByArgument {}

/// `--precision` of the inference commands: the arithmetic of the model's matrix products.
struct PrecisionOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Matrix products in fp32 (OpenBLAS), bf16 or int8 (oneDNN: weights per output channel, activations "
                + "per product, as ONNX Runtime's dynamic quantization); bf16 needs AVX512_BF16 or AMX. Default: the "
                + "model file's (int8 for a file written by `loupe quantize`, else fp32)."))
    var precision: Precision?
}

struct ExampleOptions: ParsableArguments {
    @Option(name: .long, help: "A text to run (repeat for several; ids 0, 1, …).")
    var text: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A file of examples: JSON Lines ({\"id\", \"text\", \"label\"}, by a .jsonl name or --input-format), a TSV "
                + "whose header has a `sentence` column (GLUE; `idx` gives ids), or one text per line; - reads stdin."))
    var input: String?

    @Option(
        help: "How to read --input: text, tsv or jsonl (default: .jsonl names are JSON Lines, else by the first line).")
    var inputFormat: DatasetFormat?

    func validate() throws {
        if text.isEmpty && input == nil { throw ValidationError("give --text or --input") }
        if !text.isEmpty && input != nil { throw ValidationError("give --text or --input, not both") }
    }

    /// Calls `body` with consecutive batches of at most `size` examples, reading the file as it goes.
    func batches(of size: Int, _ body: ([Example]) throws -> Void) throws {
        guard let input else { return try body(Example.list(text)) }
        var reader = try dataset { () throws(DatasetError) in try ExampleReader(path: input, format: inputFormat) }
        while true {
            let batch = try dataset { () throws(DatasetError) in try reader.readAll(limit: size) }
            if batch.isEmpty { return }
            try body(batch)
        }
    }

    /// Every example (for operations that need them together).
    /// Every example, or the first `limit` (a file is read no further than that).
    func all(limit: Int? = nil) throws -> [Example] {
        guard let input else { return Array(Example.list(text).prefix(limit ?? Int.max)) }
        var reader = try dataset { () throws(DatasetError) in try ExampleReader(path: input, format: inputFormat) }
        return try dataset { () throws(DatasetError) in try reader.readAll(limit: limit) }
    }
}

func dataset<R>(_ body: () throws(DatasetError) -> R) throws -> R {
    do { return try body() } catch { throw CLIError(error.description) }
}

extension DatasetFormat: ExpressibleByArgument {}
extension MethodID: ExpressibleByArgument {}
extension ScoreKind: ExpressibleByArgument {}

enum Format: String, ExpressibleByArgument, CaseIterable {
    case text, json
    /// The worker mode: one line out per line in, errors as lines, flushed per batch (see Worker.swift).
    case jsonl
}

/// Prints one JSON object per line (JSON Lines), keys sorted so output is stable.
func printJSON(_ value: some Encodable, pretty: Bool = false) throws {
    print(String(decoding: try jsonData(value, pretty: pretty), as: UTF8.self))
}

/// `value` as JSON. JSON has no NaN or infinity, and writing `null` or a string in place of a number would hand
/// the reader a wrong answer, so a non-finite number (a model with NaN weights, an overflow) is an error that
/// names the field holding it.
func jsonData(_ value: some Encodable, pretty: Bool = false) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting =
        pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    do { return try encoder.encode(value) } catch EncodingError.invalidValue(let bad, let context) {
        let field = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        throw CLIError(
            "the result has \(bad) in `\(field.isEmpty ? "(top level)" : field)`, which JSON cannot hold: the model "
                + "computed a non-finite number (are its weights finite?)")
    }
}

/// A warning on stderr, so that stdout stays machine-readable.
func warn(_ message: String) {
    FileHandle.standardError.write(Data("loupe: warning: \(message)\n".utf8))
}

func warnTruncated(_ id: String, _ model: LoadedModel) {
    warn("input \(id) is longer than \(model.maxLength) tokens and was truncated (--no-truncate refuses it)")
}

/// The method named `name` (an unknown one lists the known methods).
func methodID(_ name: String) throws -> MethodID {
    do throws(InterpretError) { return try MethodID(named: name) } catch { throw CLIError(error.message(naming: flag)) }
}
