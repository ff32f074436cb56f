// A typed JSON value for a checkpoint's open-ended JSON files, and byte scans that bound a JSON text before parsing.

import Foundation

/// Any JSON value, for files whose shape is open-ended (Hugging Face `tokenizer.json`, tokenizer_config.json,
/// config.json keys read the way convert.py reads them with `dict.get`). `true` / `false` stay `.bool` and are
/// never numbers, so a boolean where an id or a length belongs is refused rather than read as 1 / 0.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// JSONDecoder cannot say what kind of value comes next, so each kind is tried in turn; a type mismatch
    /// means "another kind", anything else (a malformed string or number) is passed on. Strings and numbers
    /// are tried first: they are the bulk of a vocabulary or a merges list, and a failed try costs a thrown error.
    public init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
            return
        }
        do { self = .string(try single.decode(String.self)); return } catch  where Self.isMismatch(error) {}
        do { self = .number(try single.decode(Double.self)); return } catch  where Self.isMismatch(error) {}
        do { self = .bool(try single.decode(Bool.self)); return } catch  where Self.isMismatch(error) {}
        do {
            let keyed = try decoder.container(keyedBy: AnyKey.self)
            var object: [String: JSONValue] = [:]
            object.reserveCapacity(keyed.allKeys.count)
            for key in keyed.allKeys { object[key.stringValue] = try keyed.decode(JSONValue.self, forKey: key) }
            self = .object(object)
            return
        } catch  where Self.isMismatch(error) {}
        var unkeyed = try decoder.unkeyedContainer()
        var array: [JSONValue] = []
        if let n = unkeyed.count { array.reserveCapacity(n) }
        while !unkeyed.isAtEnd { array.append(try unkeyed.decode(JSONValue.self)) }
        self = .array(array)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    private static func isMismatch(_ error: any Error) -> Bool {
        if case DecodingError.typeMismatch = error { return true }
        return false
    }

    /// Any string as a coding key (an object's member names).
    struct AnyKey: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
}

// MARK: - Reading

extension JSONValue {
    /// An object's member (nil when absent, or when this is not an object).
    public subscript(key: String) -> JSONValue? { object?[key] }

    public var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var number: Double? { if case .number(let n) = self { n } else { nil } }
    public var isNull: Bool { self == .null }

    /// A number with no fractional part that fits an Int (`1.0` counts, as it does in Python's `int(x) == x`).
    public var int: Int? {
        guard case .number(let n) = self, n == n.rounded() else { return nil }
        return Int(exactly: n)
    }

    /// An array whose elements are all strings (nil otherwise, as a Python `isinstance` check of each).
    public var strings: [String]? {
        guard let a = array else { return nil }
        var out: [String] = []
        out.reserveCapacity(a.count)
        for v in a {
            guard let s = v.string else { return nil }
            out.append(s)
        }
        return out
    }

    /// Python's truthiness (`bool(x)`): false, 0, "", [] and {} are false; nil for `null` when `nilIfNull`
    /// (transformers keeps an explicit None), else false.
    public func truthy(nilIfNull: Bool = false) -> Bool? {
        switch self {
        case .null: return nilIfNull ? nil : false
        case .bool(let b): return b
        case .number(let n): return n != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        }
    }

    /// Compact JSON text of the value, for error messages ("true", "\"5\"", "[1, 2]").
    public var jsonText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n):
            if let i = int { return String(i) }
            return String(n)
        case .string(let s):
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            return (try? encoder.encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\(s)\""
        case .array(let a): return "[" + a.map(\.jsonText).joined(separator: ", ") + "]"
        case .object(let o):
            return "{"
                + o.sorted { $0.key < $1.key }.map { "\(JSONValue.string($0.key).jsonText): \($0.value.jsonText)" }
                .joined(separator: ", ") + "}"
        }
    }

    /// Parses JSON text (JSONDecoder). On a syntax error the thrown `JSONSyntaxError` says where
    /// ("line 3, column 14, byte 58: expected ',' or '}'"), which JSONDecoder itself does not.
    public init(parsing data: Data) throws(JSONSyntaxError) {
        do {
            self = try decodeJSON(JSONValue.self, from: data)
        } catch {
            throw JSONSyntaxError(data, error)
        }
    }
}

/// The most entries any one object or array of a JSON text holds, found by a byte scan (strings skipped, commas
/// counted per nesting level). JSONDecoder's time on an object grows faster than its size and a parsed
/// `JSONValue` costs ~100 bytes an entry, so a file whose largest container is over a limit is refused from
/// this count, before it is parsed. Malformed JSON gives some count; the parser that runs next reports it.
func largestJSONContainer(_ data: Data) -> Int {
    var counts: [Int] = []  // entries so far in each open container, innermost last
    var largest = 0, inString = false, escaped = false
    data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
        for b in bytes {
            if inString {
                if escaped { escaped = false } else if b == 0x5C { escaped = true } else if b == 0x22 { inString = false }
                continue
            }
            switch b {
            case 0x22:
                inString = true
                if let last = counts.last, last == 0 { counts[counts.count - 1] = 1 }
            case 0x5B, 0x7B:
                if let last = counts.last, last == 0 { counts[counts.count - 1] = 1 }
                counts.append(0)
            case 0x5D, 0x7D:
                if let n = counts.popLast() { largest = max(largest, n) }
            case 0x2C:
                if !counts.isEmpty { counts[counts.count - 1] += 1 }
            case 0x20, 0x0A, 0x0D, 0x09, 0x3A: break
            default:  // a number or literal starts (or goes on): the container has at least one entry
                if let last = counts.last, last == 0 { counts[counts.count - 1] = 1 }
            }
        }
    }
    return max(largest, counts.max() ?? 0)
}

/// The first key that appears twice in the top-level object of a JSON text (escapes decoded, so "a" and "\u0061"
/// are the same key), or nil. A scan of the bytes: values are skipped by tracking strings and nesting depth.
/// Malformed JSON yields nil or a best guess; the decoder that runs next reports it.
func firstRepeatedTopLevelKey(_ json: Data) -> String? {
    var seen = Set<String>()
    var depth = 0, inString = false, escaped = false, expectKey = false, keyStart = 0, hasEscape = false
    for (i, b) in json.enumerated() {
        if inString {
            if escaped {
                escaped = false
            } else if b == 0x5C {
                escaped = true
                hasEscape = true
            } else if b == 0x22 {
                inString = false
                if depth == 1 && expectKey {
                    expectKey = false
                    let raw = json[(json.startIndex + keyStart)..<(json.startIndex + i)]
                    let key =
                        hasEscape
                        ? (try? JSONDecoder().decode(String.self, from: Data([0x22]) + raw + Data([0x22])))
                        : String(decoding: raw, as: UTF8.self)
                    guard let key else { return nil }
                    if !seen.insert(key).inserted { return key }
                }
            }
            continue
        }
        switch b {
        case 0x22:
            inString = true
            keyStart = i + 1
            hasEscape = false
        case 0x7B, 0x5B:
            depth += 1
            if depth == 1 && b == 0x7B { expectKey = true }
        case 0x7D, 0x5D: depth -= 1
        case 0x2C where depth == 1: expectKey = true
        default: break
        }
    }
    return nil
}
