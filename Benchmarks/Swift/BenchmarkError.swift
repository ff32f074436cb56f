// The typed errors of the benchmarks: each case carries the offending value, and its description names no
// command-line flag (the `loupe bench` commands map the cases to their flags).
import Tokenizers
import Transformer

/// Why a benchmark could not run.
public enum BenchmarkError: Error, CustomStringConvertible, Sendable {
    /// A request field that must be positive (`batch`, `seq`, `runs`, `repeatCount`) is zero or negative.
    case notPositive(Field, Int)
    /// A request field that must not be negative (`warmup`, `decodeTokens`) is negative.
    case negative(Field, Int)
    /// The sequence length exceeds the model's position table.
    case sequenceTooLong(seq: Int, positions: Int)
    /// Prompt plus decoded tokens exceed the model's position table.
    case decodeTooLong(seq: Int, decodeTokens: Int, positions: Int)
    /// The model could not be loaded.
    case model(ModelError)
    /// A vocabulary or data file could not be read or parsed.
    case tokenizer(TokenizerError)
    /// The SST-2 file does not start with a `sentence<TAB>label` header.
    case notSST2(path: String)

    /// The request fields that `notPositive` and `negative` name.
    public enum Field: String, Codable, Sendable {
        case batch, seq, runs, warmup, decodeTokens, repeatCount
    }

    public var description: String {
        switch self {
        case .notPositive(let field, let value): return "\(field.rawValue) must be positive, got \(value)"
        case .negative(let field, let value): return "\(field.rawValue) must not be negative, got \(value)"
        case .sequenceTooLong(let seq, let positions):
            return "sequence length \(seq) is longer than the model's \(positions) positions"
        case .decodeTooLong(let seq, let decodeTokens, let positions):
            return "prompt + decoded tokens (\(seq + decodeTokens)) exceed the model's \(positions) positions"
        case .model(let e): return e.description
        case .tokenizer(let e): return e.description
        case .notSST2(let path): return "\(path): expected a `sentence<TAB>label` header"
        }
    }
}

func requirePositive(_ value: Int, _ field: BenchmarkError.Field) throws(BenchmarkError) {
    guard value > 0 else { throw .notPositive(field, value) }
}

func requireNotNegative(_ value: Int, _ field: BenchmarkError.Field) throws(BenchmarkError) {
    guard value >= 0 else { throw .negative(field, value) }
}
