// A strict reader for GPT-2's `encoder.json` / `vocab.json`: one JSON object mapping token → integer id.
//
// Hand-written rather than Foundation's JSON parser so that errors carry file, line and column, and so that a
// 1 MB vocabulary loads in milliseconds.

enum JSONVocab {
    /// Parses `{"token": id, ...}` and returns the tokens in id order. Ids must be exactly 0..<count.
    static func read(_ path: String) throws(TokenizerError) -> [String] {
        let bytes = try TextFile.readBytes(path, maxBytes: TokenizerLimits.maxFileBytes)
        var parser = Parser(bytes: bytes, path: path)
        let pairs = try parser.parseObject()
        var tokens = [String?](repeating: nil, count: pairs.count)
        for (token, id) in pairs {
            guard id >= 0 && id < pairs.count && tokens[id] == nil else {
                throw .invalidTokenID(source: path, token: token, id: id)
            }
            tokens[id] = token
        }
        return tokens.map { $0! }
    }

    struct Parser {
        let bytes: [UInt8]
        let path: String
        var i = 0

        func fail(_ reason: String) -> TokenizerError {
            var line = 1, column = 1
            for b in bytes[..<min(i, bytes.count)] {
                if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
            }
            return .malformedJSON(path: path, line: line, column: column, reason: reason)
        }

        mutating func skipSpace() {
            while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09) {
                i += 1
            }
        }

        mutating func expect(_ c: UInt8, _ what: String) throws(TokenizerError) {
            skipSpace()
            guard i < bytes.count && bytes[i] == c else { throw fail("expected \(what)") }
            i += 1
        }

        mutating func parseObject() throws(TokenizerError) -> [(String, Int)] {
            try expect(UInt8(ascii: "{"), "'{'")
            var out: [(String, Int)] = []
            skipSpace()
            if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
                i += 1
            } else {
                while true {
                    skipSpace()
                    let key = try parseString()
                    try expect(UInt8(ascii: ":"), "':'")
                    skipSpace()
                    out.append((key, try parseInt()))
                    skipSpace()
                    guard i < bytes.count else { throw fail("unterminated object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; break }
                    throw fail("expected ',' or '}'")
                }
            }
            skipSpace()
            guard i == bytes.count else { throw fail("unexpected data after the object") }
            return out
        }

        mutating func parseInt() throws(TokenizerError) -> Int {
            var negative = false
            if i < bytes.count && bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            let start = i
            var v = 0
            while i < bytes.count && bytes[i] >= 48 && bytes[i] <= 57 {
                v = v &* 10 &+ Int(bytes[i] - 48)
                i += 1
                if i - start > 12 { throw fail("id too large") }
            }
            guard i > start else { throw fail("expected an integer id") }
            return negative ? -v : v
        }

        mutating func hex4() throws(TokenizerError) -> UInt32 {
            guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let b = bytes[i]
                let d: UInt32
                switch b {
                case 48...57: d = UInt32(b - 48)
                case 65...70: d = UInt32(b - 55)
                case 97...102: d = UInt32(b - 87)
                default: throw fail("bad hex digit in \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        mutating func parseString() throws(TokenizerError) -> String {
            guard i < bytes.count && bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string") }
            i += 1
            var out: [UInt8] = []
            while true {
                guard i < bytes.count else { throw fail("unterminated string") }
                let b = bytes[i]
                if b == UInt8(ascii: "\"") { i += 1; break }
                if b < 0x20 { throw fail("control character in string") }
                if b != UInt8(ascii: "\\") {
                    out.append(b)
                    i += 1
                    continue
                }
                i += 1
                guard i < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var c = try hex4()
                    if c >= 0xD800 && c < 0xDC00 {
                        guard
                            i + 6 <= bytes.count && bytes[i] == UInt8(ascii: "\\") && bytes[i + 1] == UInt8(ascii: "u")
                        else {
                            throw fail("lone surrogate in \\u escape")
                        }
                        i += 2
                        let low = try hex4()
                        guard low >= 0xDC00 && low < 0xE000 else { throw fail("lone surrogate in \\u escape") }
                        c = 0x10000 + (c - 0xD800) << 10 + (low - 0xDC00)
                    } else if c >= 0xDC00 && c < 0xE000 {
                        throw fail("lone surrogate in \\u escape")
                    }
                    appendUTF8(c, to: &out)
                default: throw fail("unknown escape")
                }
            }
            guard let s = out.withUnsafeBufferPointer({ TextFile.validUTF8($0) }) else {
                throw fail("invalid UTF-8 in string")
            }
            return s
        }
    }
}
