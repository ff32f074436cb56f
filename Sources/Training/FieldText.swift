// Words that name options by their field, so that each front end can spell them its own way.
import Foundation

/// A message that names options by their field (`max_seq_len`, as `FinetuneRequest` spells them), rendered
/// by a front end through `message(naming:)`: `--max-seq-len` on the command line, the field in a request.
/// Written as a string with `\(field: "lr")` interpolations.
public struct FieldText: Equatable, Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public enum Part: Equatable, Sendable {
        case text(String)
        case field(String)
    }

    public private(set) var parts: [Part] = []

    public init(_ text: String) { append(.text(text)) }
    public init(stringLiteral value: String) { self.init(value) }
    public init(stringInterpolation: Interpolation) { stringInterpolation.parts.forEach { append($0) } }

    /// Adjacent texts are kept as one, so that equal messages are equal values however they were written.
    private mutating func append(_ part: Part) {
        if case .text(let s) = part {
            if s.isEmpty { return }
            if case .text(let before)? = parts.last {
                parts[parts.count - 1] = .text(before + s)
                return
            }
        }
        parts.append(part)
    }

    public struct Interpolation: StringInterpolationProtocol {
        var parts: [Part] = []
        public init(literalCapacity: Int, interpolationCount: Int) {}
        public mutating func appendLiteral(_ literal: String) { parts.append(.text(literal)) }
        public mutating func appendInterpolation(field: String) { parts.append(.field(field)) }
        public mutating func appendInterpolation(_ value: some Any) { parts.append(.text("\(value)")) }
    }

    /// The message with each field named by `name`.
    public func message(naming name: (String) -> String) -> String {
        parts.map {
            switch $0 {
            case .text(let s): return s
            case .field(let f): return name(f)
            }
        }.joined()
    }

    public var description: String { message { $0 } }

    /// The fields named, in order.
    public var fields: [String] {
        parts.compactMap {
            if case .field(let f) = $0 { return f }
            return nil
        }
    }
}
