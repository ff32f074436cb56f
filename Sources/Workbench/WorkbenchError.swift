// Why an operation failed: typed cases carrying the file, line, example id or option at fault, in no front end's words.
import Interpret
import Training
import Transformer

/// Every failure of a Workbench operation. Options are named by their field (`max_tokens`); the CLI renders
/// them as flags (`--max-tokens`), the server as JSON fields, through `message(naming:)`.
public enum WorkbenchError: Error, Sendable, CustomStringConvertible {
    case dataset(DatasetError)
    case model(ModelError)
    case interpret(InterpretError)
    case invalidOption(OptionError)
    /// The operation needs another kind of model, e.g. `generate` on a BERT classifier.
    case wrongModel(file: String, operation: String, needs: String, found: String)
    /// An example longer than the model's positions while truncation is off.
    case inputTooLong(id: String, tokens: Int, limit: Int)
    /// A gold label that is neither a class index nor a class name of the model.
    case unknownLabel(id: String, label: String, known: [String])
    /// A model, dataset or example id a request names that does not exist.
    case unknownName(kind: String, name: String, known: [String])
    /// A required request field is absent.
    case missingField(String)
    /// A request asks for more work than a limit allows (examples per call, text length, steps, samples).
    case limitExceeded(field: String, value: Int, limit: Int)
    /// Fine-tuning could not start or had to stop.
    case training(TrainingError)

    /// The message with option fields named by `name`.
    public func message(naming name: (String) -> String) -> String {
        switch self {
        case .dataset(let e): return e.description
        case .model(let e): return e.description
        case .interpret(let e): return e.message(naming: name)
        case .invalidOption(let e): return e.message(naming: name)
        case .wrongModel(let file, let operation, let needs, let found):
            return "\(file): `\(operation)` needs \(needs), the file holds \(found)"
        case .inputTooLong(let id, let tokens, let limit):
            return "example \(id) has \(tokens) tokens, more than the model's \(limit) positions"
        case .unknownLabel(let id, let label, let known):
            return "example \(id): label \(String(reflecting: label)) is not one of \(known.joined(separator: ", "))"
        case .unknownName(let kind, let name, let known):
            let list = known.isEmpty ? "" : "; known: \(known.joined(separator: ", "))"
            return "unknown \(kind) \(String(reflecting: name))\(list)"
        case .missingField(let f): return "\(name(f)) is required"
        case .limitExceeded(let f, let value, let limit): return "\(name(f)) is \(value), over the limit of \(limit)"
        case .training(let e): return e.message(naming: name)
        }
    }

    public var description: String { message { $0 } }

    /// The field a front end should point at, if one option is at fault.
    public var field: String? {
        switch self {
        case .invalidOption(let e), .interpret(.invalidConfig(let e)): return e.field
        case .interpret(.unknownMethod): return "method"
        case .interpret(.unknownTarget), .unknownLabel: return "target"
        case .missingField(let f), .limitExceeded(let f, _, _): return f
        case .unknownName(let kind, _, _): return kind == "example id" ? "ids" : kind
        case .training(let e): return e.field
        default: return nil
        }
    }
}

/// Runs library code of another module, wrapping its typed error.
func interpreting<R>(_ body: () throws(InterpretError) -> R) throws(WorkbenchError) -> R {
    do { return try body() } catch { throw .interpret(error) }
}

func modelling<R>(_ body: () throws(ModelError) -> R) throws(WorkbenchError) -> R {
    do { return try body() } catch { throw .model(error) }
}

/// A request whose scalar options are declared by a spec (LIT's `config_spec`), so that their ranges are
/// checked in one place and front ends can show them.
public protocol SpecifiedOptions {
    static var spec: ConfigSpec { get }
    /// The request's options as values of `spec`'s fields (absent optionals left out).
    var optionValues: ConfigValues { get }
}

extension SpecifiedOptions {
    /// Checks every option against `spec`.
    public func validateOptions() throws(WorkbenchError) {
        do { _ = try Self.spec.validate(optionValues) } catch { throw .invalidOption(error) }
    }
}

extension LoadedModel {
    /// "a bert sequence-classification model", for messages.
    var kindDescription: String { "a \(architecture.rawValue) \(task.rawValue) model" }
}
