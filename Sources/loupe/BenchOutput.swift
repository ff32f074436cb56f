// Output helpers of the `loupe bench` commands: the --format choice, number formatting, column padding, and
// the mapping of the benchmarks' typed errors to messages that name this command's flags.
import ArgumentParser
import Foundation
import LoupeBenchmarks

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

func fmt(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }

/// Pretty-printed JSON with sorted keys, so that the output is stable.
func printPrettyJSON(_ value: some Encodable) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try enc.encode(value), as: UTF8.self))
}

/// A benchmark failure, printed as one line naming the flag at fault, exiting non-zero.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String

    init(_ error: BenchmarkError) {
        switch error {
        case .notPositive(let field, let value): description = "\(Self.flag(field)) must be positive, got \(value)"
        case .negative(let field, let value): description = "\(Self.flag(field)) must not be negative, got \(value)"
        case .sequenceTooLong(let seq, let positions):
            description = "--seq \(seq) is longer than the model's \(positions) positions"
        case .decodeTooLong(let seq, let decodeTokens, let positions):
            description = "--seq + --decode-tokens (\(seq + decodeTokens)) exceed \(positions) positions"
        case .model, .tokenizer, .notSST2: description = error.description
        }
    }

    static func flag(_ field: BenchmarkError.Field) -> String {
        switch field {
        case .batch: "--batch"
        case .seq: "--seq"
        case .runs: "--runs"
        case .warmup: "--warmup"
        case .decodeTokens: "--decode-tokens"
        case .repeatCount: "--repeat"
        }
    }
}

/// Runs one benchmark, turning its typed error into a `BenchFailure`.
func runBenchmark<R>(_ body: () throws(BenchmarkError) -> R) throws -> R {
    do { return try body() } catch { throw BenchFailure(error) }
}
