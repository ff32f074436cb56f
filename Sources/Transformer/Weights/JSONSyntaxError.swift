// Where JSON text first breaks the grammar, for error messages: JSONDecoder says only "not valid JSON".

import Foundation

/// JSON text that could not be parsed. `description` is one line: the position of the first syntax error
/// ("line 3, column 14, byte 58: expected ',' or '}'") when the text can be scanned, else the decoder's words.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based line and column of the first error (columns count characters, not bytes), and its byte
    /// offset from the start of the text; nil when no position was found.
    public let line: Int?
    public let column: Int?
    public let offset: Int?
    public let reason: String

    public var description: String {
        guard let line, let column, let offset else { return reason }
        return "line \(line), column \(column), byte \(offset): \(reason)"
    }

    /// The first syntax error of `data`, else (text the scanner accepts but the decoder refused, or not
    /// UTF-8) `decoderError` in one line.
    init(_ data: Data, _ decoderError: any Error) {
        if let located = JSONSyntaxError(locating: data) {
            self = located
            return
        }
        (line, column, offset) = (nil, nil, nil)
        if case DecodingError.dataCorrupted(let c) = decoderError {
            reason = oneLine(c.debugDescription)
        } else {
            reason = describeDecodingError(decoderError)
        }
    }

    /// The first syntax error of `data`; nil when it is valid JSON (or not UTF-8, which is not scanned).
    init?(locating data: Data) {
        guard let (offset, reason) = JSONScanner.firstError(in: Array(data)) else { return nil }
        var line = 1
        var column = 1
        for b in data.prefix(offset) {
            if b == 0x0A {
                line += 1
                column = 1
            } else if b & 0xC0 != 0x80 {  // a UTF-8 continuation byte is not a new character
                column += 1
            }
        }
        (self.line, self.column, self.offset, self.reason) = (line, column, offset, reason)
    }
}

/// `JSONDecoder().decode`, except for the one text it traps on instead of throwing (swift-foundation in Swift
/// 6.3): a 513th nested '[' as the very last byte, whose error position it computes past the end. No JSON
/// text ends in '[', so that is refused as "not valid JSON" without asking the decoder.
public func decodeJSON<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
    if data.last == UInt8(ascii: "[") {
        throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "The given data was not valid JSON."))
    }
    return try JSONDecoder().decode(type, from: data)
}

/// A strict RFC 8259 scan that only finds the first error; it runs after JSONDecoder has refused a text.
/// Like JSONDecoder (and Foundation's older JSON parser) it allows a UTF-8 byte-order mark, a trailing comma in
/// an array or object, and nesting up to 512 levels.
private struct JSONScanner {
    let bytes: [UInt8]
    var i = 0
    static let maxDepth = 512

    struct Failure: Error {
        let offset: Int
        let reason: String
    }

    /// (byte offset, what was wrong), or nil when the text is valid JSON. Text that starts like UTF-16 or
    /// UTF-32 (a NUL in the first two bytes, or a UTF-16 byte-order mark) is not scanned.
    static func firstError(in bytes: [UInt8]) -> (Int, String)? {
        if bytes.count >= 2
            && (bytes[0] == 0 || bytes[1] == 0 || (bytes[0] == 0xFE && bytes[1] == 0xFF)
                || (bytes[0] == 0xFF && bytes[1] == 0xFE))
        {
            return nil
        }
        var s = JSONScanner(bytes: bytes)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { s.i = 3 }
        do throws(Failure) {
            s.skipSpace()
            try s.value(depth: 1)
            s.skipSpace()
            if s.i < bytes.count { throw s.fail("unexpected text after the JSON value") }
            return nil
        } catch {
            return (error.offset, error.reason)
        }
    }

    func fail(_ reason: String, at offset: Int? = nil) -> Failure { Failure(offset: offset ?? i, reason: reason) }

    var current: UInt8? { i < bytes.count ? bytes[i] : nil }

    mutating func skipSpace() {
        while let b = current, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { i += 1 }
    }

    mutating func value(depth: Int) throws(Failure) {
        guard let b = current else { throw fail("unexpected end of the text, expected a value") }
        switch b {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth <= Self.maxDepth else { throw fail("nested more than \(Self.maxDepth) levels deep") }
            try container(close: b == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]"), depth: depth)
        case UInt8(ascii: "\""): try string()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: throw fail("expected a value")
        }
    }

    /// An object (`close` is '}': "key": value members) or an array (']'), `i` at the opening bracket.
    mutating func container(close: UInt8, depth: Int) throws(Failure) {
        let isObject = close == UInt8(ascii: "}")
        let expected = isObject ? "expected ',' or '}'" : "expected ',' or ']'"
        i += 1
        skipSpace()
        while current != close {
            if isObject {
                guard current == UInt8(ascii: "\"") else {
                    throw fail((current == nil ? "unexpected end of the text, " : "") + "expected a string key or '}'")
                }
                try string()
                skipSpace()
                guard current == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipSpace()
            }
            try value(depth: depth + 1)
            skipSpace()
            if current == UInt8(ascii: ",") {
                i += 1
                skipSpace()
            } else if current != close {
                throw fail(current == nil ? "unexpected end of the text, \(expected)" : expected)
            }
        }
        i += 1
    }

    mutating func literal(_ word: String) throws(Failure) {
        let start = i
        for c in word.utf8 {
            guard current == c else { throw fail("expected \(word)", at: start) }
            i += 1
        }
    }

    mutating func number() throws(Failure) {
        let start = i
        func digits(_ what: String) throws(Failure) -> Int {
            let from = i
            while let b = current, b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") { i += 1 }
            guard i > from else { throw fail("expected a digit \(what)") }
            return i - from
        }
        if current == UInt8(ascii: "-") { i += 1 }
        let first = i
        if try digits("in the number") > 1 && bytes[first] == UInt8(ascii: "0") {
            throw fail("number with a leading zero", at: first)
        }
        if current == UInt8(ascii: ".") {
            i += 1
            _ = try digits("after the decimal point")
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            i += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { i += 1 }
            _ = try digits("in the exponent")
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        guard let d = Double(text), d.isFinite else { throw fail("number \(text) is out of range", at: start) }
    }

    mutating func string() throws(Failure) {
        i += 1  // the opening quote
        while true {
            guard let b = current else { throw fail("unterminated string") }
            switch b {
            case UInt8(ascii: "\""):
                i += 1
                return
            case UInt8(ascii: "\\"):
                i += 1
                guard let e = current else { throw fail("unterminated string") }
                if "\"\\/bfnrt".utf8.contains(e) {
                    i += 1
                } else if e == UInt8(ascii: "u") {
                    let at = i - 1
                    let unit = try hex4()
                    if (0xD800..<0xDC00).contains(unit) {
                        guard current == UInt8(ascii: "\\"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u")
                        else {
                            throw fail("\\u escape of a lone surrogate", at: at)
                        }
                        i += 1
                        guard (0xDC00..<0xE000).contains(try hex4()) else {
                            throw fail("\\u escape of a lone surrogate", at: at)
                        }
                    } else if (0xDC00..<0xE000).contains(unit) {
                        throw fail("\\u escape of a lone surrogate", at: at)
                    }
                } else {
                    throw fail("invalid escape sequence", at: i - 1)
                }
            case 0..<0x20: throw fail("unescaped control character in a string")
            case 0x80...:
                // One UTF-8 sequence; String validates it exactly (overlongs, surrogates, range).
                let length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
                guard i + length <= bytes.count, String(validating: bytes[i..<i + length], as: UTF8.self) != nil else {
                    throw fail("invalid UTF-8 in a string")
                }
                i += length
            default: i += 1
            }
        }
    }

    /// The four hex digits after "\u" (`i` at the 'u'), as a UTF-16 code unit.
    mutating func hex4() throws(Failure) -> UInt32 {
        i += 1
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let b = current, let d = UInt32(String(UnicodeScalar(b)), radix: 16) else {
                throw fail("expected four hex digits after \\u")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}
