// Config specs (LIT's `config_spec`): each option's name, type, default, range or choices and help, and its validation.
//
// A method's (or a generator's) options are declared once as a `ConfigSpec`; the CLI's help, the server's
// /api/info and the UI's forms are generated from it, and `ConfigSpec.validate` is the one place where a value
// is checked against its range. Errors name the field, never a command-line flag: the CLI prints `--field-name`,
// the server a JSON field.

/// One option value as a request carries it.
public enum ConfigValue: Codable, Sendable, Hashable, CustomStringConvertible {
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else {
            self = .string(try c.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        }
    }

    public var description: String {
        switch self {
        case .bool(let b): return String(b)
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s): return s
        }
    }
}

/// Option values by field name, as a request or the command line gives them; absent fields take their default.
public typealias ConfigValues = [String: ConfigValue]

/// The declaration of one option.
public struct ConfigField: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case bool, int, double
        /// One of `choices`.
        case choice
        /// Free text (e.g. a substitution list).
        case text
    }

    /// snake_case, as a JSON request names it (the CLI's flag is `--` + the name with `-` for `_`).
    public var name: String
    public var kind: Kind
    /// The value used when the field is absent; nil when absence means something (e.g. "not set").
    public var defaultValue: ConfigValue?
    /// What absence means when there is no default value (e.g. "32; 4 with tolerance").
    public var defaultNote: String?
    public var choices: [String]?
    /// Inclusive lower bound (int and double); `exclusiveMinimum` makes it strict.
    public var minimum: Double?
    public var exclusiveMinimum: Bool
    public var maximum: Double?
    public var help: String

    public init(
        _ name: String, _ kind: Kind, default defaultValue: ConfigValue? = nil, defaultNote: String? = nil,
        choices: [String]? = nil, minimum: Double? = nil, exclusiveMinimum: Bool = false, maximum: Double? = nil,
        help: String
    ) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.defaultNote = defaultNote
        self.choices = choices
        self.minimum = minimum
        self.exclusiveMinimum = exclusiveMinimum
        self.maximum = maximum
        self.help = help
    }

    /// `help` with the default and the range, for command-line help and form hints.
    public var summary: String {
        var parts = [help]
        if let c = choices { parts.append("One of: \(c.joined(separator: ", ")).") }
        if let d = defaultValue {
            parts.append("Default: \(d).")
        } else if let n = defaultNote {
            parts.append("Default: \(n).")
        }
        return parts.joined(separator: " ")
    }

    /// The value checked against this declaration (ints are accepted for doubles, integral doubles for ints).
    func check(_ value: ConfigValue) throws(OptionError) -> ConfigValue {
        let v: ConfigValue
        switch (kind, value) {
        case (.bool, .bool), (.int, .int), (.double, .double), (.text, .string): v = value
        case (.double, .int(let i)): v = .double(Double(i))
        case (.int, .double(let d)) where d.rounded() == d && abs(d) < 9e15: v = .int(Int(d))
        case (.choice, .string(let s)):
            guard choices?.contains(s) ?? true else {
                throw OptionError(field: name, value: s, problem: .notAChoice(choices ?? []))
            }
            v = value
        default: throw OptionError(field: name, value: value.description, problem: .wrongType(expected: kind.rawValue))
        }
        let number: Double?
        switch v {
        case .int(let i): number = Double(i)
        case .double(let d):
            guard d.isFinite else {
                throw OptionError(field: name, value: value.description, problem: .invalid("a finite number"))
            }
            number = d
        default: number = nil
        }
        if let x = number {
            if let lo = minimum, exclusiveMinimum ? !(x > lo) : !(x >= lo) {
                let requirement =
                    exclusiveMinimum
                    ? (lo == 0 ? (kind == .int ? "positive" : "a positive number") : "greater than \(format(lo))")
                    : "at least \(format(lo))"
                throw OptionError(field: name, value: value.description, problem: .invalid(requirement))
            }
            if let hi = maximum, x > hi {
                throw OptionError(field: name, value: value.description, problem: .invalid("at most \(format(hi))"))
            }
        }
        return v
    }

    private func format(_ x: Double) -> String { kind == .int || x.rounded() == x ? String(Int(x)) : String(x) }
}

/// The options of one component, in display order.
public struct ConfigSpec: Codable, Sendable, Equatable {
    public var fields: [ConfigField]
    public init(_ fields: [ConfigField]) { self.fields = fields }

    public subscript(name: String) -> ConfigField? { fields.first { $0.name == name } }

    /// Every given value checked, every absent one defaulted (fields without a default stay absent). An unknown
    /// field is an error: a request that misspells an option should not silently get the default.
    public func validate(_ values: ConfigValues) throws(OptionError) -> ValidatedConfig {
        for name in values.keys.sorted() where self[name] == nil {
            throw OptionError(field: name, value: nil, problem: .unknownField(known: fields.map(\.name)))
        }
        var out: ConfigValues = [:]
        for f in fields {
            if let v = values[f.name] {
                out[f.name] = try f.check(v)
            } else if let d = f.defaultValue {
                out[f.name] = d
            }
        }
        return ValidatedConfig(values: out)
    }
}

/// Values that passed `ConfigSpec.validate`: typed reads cannot fail for declared fields.
public struct ValidatedConfig: Sendable {
    public let values: ConfigValues

    public func int(_ name: String) -> Int? { if case .int(let i)? = values[name] { return i } else { return nil } }
    public func double(_ name: String) -> Double? {
        if case .double(let d)? = values[name] { return d } else { return nil }
    }
    public func bool(_ name: String) -> Bool? { if case .bool(let b)? = values[name] { return b } else { return nil } }
    public func string(_ name: String) -> String? {
        if case .string(let s)? = values[name] { return s } else { return nil }
    }
    public func choice<T: RawRepresentable>(_ name: String, as: T.Type = T.self) -> T? where T.RawValue == String {
        string(name).flatMap(T.init(rawValue:))
    }
}

/// A value that does not fit its declaration; it names the field (and the value), never a command-line flag.
public struct OptionError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Problem: Equatable, Sendable {
        case unknownField(known: [String])
        case wrongType(expected: String)
        case notAChoice([String])
        /// "must be <requirement>", e.g. "at least 1", "a positive number", "≥ 2 for rule riemann-trapezoid".
        case invalid(String)
    }

    public var field: String
    public var value: String?
    public var problem: Problem

    public init(field: String, value: String?, problem: Problem) {
        self.field = field
        self.value = value
        self.problem = problem
    }

    /// The message with fields named by `name` (the CLI passes a function giving `--flag-name`).
    public func message(naming name: (String) -> String) -> String {
        let got = value.map { ", got \($0)" } ?? ""
        switch problem {
        case .unknownField(let known):
            return "unknown option \(name(field)); the options are: \(known.map(name).joined(separator: ", "))"
        case .wrongType(let expected): return "\(name(field)) must be of type \(expected)\(got)"
        case .notAChoice(let choices):
            let list =
                choices.count > 1
                ? choices.dropLast().joined(separator: ", ") + " or " + choices.last! : choices.joined()
            return "unknown \(name(field)) \"\(value ?? "")\"; use \(list)"
        case .invalid(let requirement): return "\(name(field)) must be \(requirement)\(got)"
        }
    }

    public var description: String { message { $0 } }
}
